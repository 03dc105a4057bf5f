package cniinstall

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// tempPattern names our temporary files: a leading dot and no configuration
// extension, so the runtime never loads a half-written one.
const tempPattern = ".meshkeeper-cni-*.tmp"

// writeAtomic replaces dir/name with data: a synced temporary file in the
// same directory renamed over it, so the runtime reads the old file or the
// new one, never a torn one.
func writeAtomic(dir, name string, data io.Reader, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}

// configCandidates lists the names of the entries of dir the runtime may
// load: everything but directories, as libcni does, so a symlinked conflist
// is seen (and refused by readConf) rather than silently passed over.
func configCandidates(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// maxConflist bounds what is read of a conflist: real ones are a few KiB.
const maxConflist = 1 << 20

// readConf reads a conflist the agent may rewrite: a regular file (renaming
// over a symlink would replace the link, not what it points to), of a sane
// size. It returns the file's permissions, kept on rewrite.
func readConf(path string) ([]byte, fs.FileMode, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file (%s): meshkeeper-cni only edits plain files", path, st.Mode().Type())
	}
	if st.Size() > maxConflist {
		return nil, 0, fmt.Errorf("%s is %d bytes, more than a conflist's %d", path, st.Size(), maxConflist)
	}
	raw, err := os.ReadFile(path)
	return raw, st.Mode().Perm(), err
}

// sameFile reports whether path holds exactly want's bytes.
func sameFile(path string, want []byte) bool {
	got, err := os.ReadFile(path)
	return err == nil && bytes.Equal(got, want)
}

// executable checks that path is a regular file the runtime can run.
func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
