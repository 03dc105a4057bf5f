package helm

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterClients holds what every call shares: the REST config and a lazily
// built memory-cached discovery client with a deferred REST mapper on top.
type clusterClients struct {
	cfg *rest.Config

	mu        sync.Mutex
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
}

func (c *clusterClients) discoveryClient() (discovery.CachedDiscoveryInterface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discovery == nil {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(c.cfg))
		if err != nil {
			return nil, err
		}
		c.discovery = memory.NewMemCacheClient(dc)
	}
	return c.discovery, nil
}

func (c *clusterClients) restMapper() (meta.RESTMapper, error) {
	dc, err := c.discoveryClient()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mapper == nil {
		m := restmapper.NewDeferredDiscoveryRESTMapper(dc)
		c.mapper = restmapper.NewShortcutExpander(m, dc, nil)
	}
	return c.mapper, nil
}

// restClientGetter is an in-memory genericclioptions.RESTClientGetter bound to
// one namespace. No kubeconfig file is read: the raw config loader is an empty
// config whose only use is to carry the namespace override (Helm's kube client
// and the kubectl factory ask it for the default namespace).
type restClientGetter struct {
	shared    *clusterClients
	namespace string
}

func (g *restClientGetter) ToRESTConfig() (*rest.Config, error) {
	return rest.CopyConfig(g.shared.cfg), nil
}

func (g *restClientGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.shared.discoveryClient()
}

func (g *restClientGetter) ToRESTMapper() (meta.RESTMapper, error) {
	return g.shared.restMapper()
}

func (g *restClientGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	overrides := &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}}
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), overrides)
}
