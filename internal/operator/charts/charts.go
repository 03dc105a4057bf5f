// Package charts embeds the control-plane chart of every mesh version the
// operator ships; internal/operator/versions maps a version to its directory
// here.
package charts

import "embed"

// FS holds one chart directory per mesh version.
//
//go:embed all:0.1.0 all:0.2.0
var FS embed.FS
