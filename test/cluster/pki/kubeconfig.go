package pki

import (
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig at path that reaches server with the
// client certificate <pkiDir>/<leaf>.crt, trusting <pkiDir>/ca.crt. Files are
// referenced, not embedded, so the work dir stays the single source.
func WriteKubeconfig(path, server, pkiDir, leaf string) error {
	const name = "meshkeeper"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{
		Server:               server,
		CertificateAuthority: filepath.Join(pkiDir, "ca.crt"),
	}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificate: filepath.Join(pkiDir, leaf+".crt"),
		ClientKey:         filepath.Join(pkiDir, leaf+".key"),
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return clientcmd.WriteToFile(*cfg, path)
}
