// Package render writes the configuration files of containerd, the CNI
// network, the kubelet and kube-proxy from the cluster's layout. Each comment
// marks a setting this machine kind needs; see test/cluster/README.md.
package render

import (
	"os"
	"strings"
	"text/template"
)

// write renders tmpl with data into path.
func write(path, tmpl string, data any) error {
	t, err := template.New(path).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
