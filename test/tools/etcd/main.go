// Command etcd builds the etcd server from its Go module, because the module's
// replace directives refuse `go install` and Debian's etcd is too old for
// Kubernetes 1.36.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
