package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/client-go/rest"
)

// The cluster is populated by a process of its own: creating 5,000 pods
// leaves tens of MiB of freed heap that the Go runtime returns to the OS only
// slowly, and in the operator's process it would be counted as the
// operator's resident memory (measured: 135–172 MiB with it in-process). A
// real operator never holds that garbage; the measured process holds the
// manager, its cache, and a thin uncached client that plays the kubelet.

// apiCreds is how the populating process reaches envtest's API server.
type apiCreds struct {
	Host          string
	CA, Cert, Key []byte
}

func credsOf(cfg *rest.Config) apiCreds {
	return apiCreds{Host: cfg.Host, CA: cfg.CAData, Cert: cfg.CertData, Key: cfg.KeyData}
}

func (c apiCreds) config() *rest.Config {
	return &rest.Config{Host: c.Host, TLSClientConfig: rest.TLSClientConfig{CAData: c.CA, CertData: c.Cert, KeyData: c.Key}}
}

// populateApart runs populate for sz in a child process.
func populateApart(ctx context.Context, cfg *rest.Config, sz Size) error {
	dir, err := os.MkdirTemp("", "bench-operator-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "creds.json")
	raw, err := json.Marshal(credsOf(cfg))
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-populate", sz.Name, "-creds", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("populating process: %w", err)
	}
	return nil
}

// populateChild is the populating process: -populate <size> -creds <file>.
func populateChild(ctx context.Context, name, credsPath string) error {
	sz, ok := sizes[name]
	if !ok {
		return fmt.Errorf("unknown size %q (small, large)", name)
	}
	raw, err := os.ReadFile(credsPath)
	if err != nil {
		return err
	}
	var c apiCreds
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("read %s: %w", credsPath, err)
	}
	admin, err := harnessClient(c.config())
	if err != nil {
		return err
	}
	return populate(ctx, admin, sz)
}
