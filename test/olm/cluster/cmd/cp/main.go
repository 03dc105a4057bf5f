// Command cp is the /bin/cp of the OLM util image built for the local cluster:
// OLM's bundle-unpack Job runs `/bin/cp -Rv /bin/cpb /util/cpb` in that image,
// and this copies one file the same way (flags are accepted and ignored).
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	var args []string
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			args = append(args, a)
		}
	}
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cp [-Rv] SRC DST")
		os.Exit(2)
	}
	if err := copyFile(args[0], args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "cp:", err)
		os.Exit(1)
	}
	fmt.Printf("'%s' -> '%s'\n", args[0], args[1])
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
