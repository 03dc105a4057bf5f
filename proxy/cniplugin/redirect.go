package cniplugin

import (
	"fmt"
	"io"
	"strings"

	"github.com/meshkeeper/meshkeeper/internal/contract"
	"github.com/meshkeeper/meshkeeper/proxy/netinit"
)

// maxRedirectLen bounds the annotation the plugin parses: the injector's
// value is under 200 bytes, and a pod's owner controls it.
const maxRedirectLen = 4096

// RedirectFor decides, from the pod's annotations, whether the pod carries
// the proxy and which redirect it needs. A pod without
// contract.CNIRedirectAnnotation is not meshed (ok false, no error): the
// plugin must leave it alone. A present but invalid value is an error, never
// a silent skip: that pod expects its proxy to see its traffic.
func RedirectFor(annotations map[string]string) (cfg netinit.Config, ok bool, err error) {
	v, found := annotations[contract.CNIRedirectAnnotation]
	if !found {
		return netinit.Config{}, false, nil
	}
	if len(v) > maxRedirectLen {
		return netinit.Config{}, true, fmt.Errorf("annotation %s is %d bytes, more than %d", contract.CNIRedirectAnnotation, len(v), maxRedirectLen)
	}
	args := strings.Fields(v)
	if len(args) == 0 {
		return netinit.Config{}, true, fmt.Errorf("annotation %s is empty", contract.CNIRedirectAnnotation)
	}
	// proxy-init's own parser: one definition of the redirect's inputs.
	cfg, err = netinit.ParseFlags(args, io.Discard)
	if err != nil {
		return netinit.Config{}, true, fmt.Errorf("annotation %s=%q: %w", contract.CNIRedirectAnnotation, v, err)
	}
	return cfg, true, nil
}
