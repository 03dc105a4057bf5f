// Command pause is the pod sandbox's placeholder process: it holds the pod's
// namespaces open and exits on SIGTERM/SIGINT. It replaces the upstream pause
// image, which cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
