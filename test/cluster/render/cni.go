package render

// CNI is the input of the pod network configuration.
type CNI struct {
	Bridge, Subnet, Gateway, IPAMDir string
}

// WriteCNI writes a bridge network without masquerade: pod traffic is only
// ever delivered on this machine. IPAM state lives under the work dir.
func WriteCNI(path string, c CNI) error { return write(path, cniTmpl, c) }

const cniTmpl = `{
  "cniVersion": "1.0.0",
  "name": "meshkeeper",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{{.Bridge}}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "{{.IPAMDir}}",
        "ranges": [[{"subnet": "{{.Subnet}}", "gateway": "{{.Gateway}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`
