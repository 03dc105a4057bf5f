package hostfx

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

const ipTimeout = 10 * time.Second

// uplinks returns the interfaces that carry an IPv4 default route.
func uplinks() ([]string, error) {
	out, err := run(ipTimeout, "ip", "-j", "-4", "route", "show", "default")
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Dev string `json:"dev"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return nil, fmt.Errorf("parse default routes: %w", err)
	}
	var devs []string
	for _, r := range routes {
		if r.Dev != "" {
			devs = append(devs, r.Dev)
		}
	}
	return devs, nil
}

// LinkExists reports whether a network interface exists.
func LinkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// CreateNodeBridge puts the node IP (a /32) on an empty bridge of its own, the
// kubelet refusing a loopback node IP, and routes the service range onto it so
// service traffic that kube-proxy did not translate dies on this machine.
func CreateNodeBridge(bridge, nodeIP, serviceCIDR string) error {
	if LinkExists(bridge) {
		return fmt.Errorf("interface %s already exists: another cluster is running or a previous run was not cleaned (run down)", bridge)
	}
	steps := [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", nodeIP + "/32", "dev", bridge},
		{"link", "set", bridge, "up"},
		{"route", "add", serviceCIDR, "dev", bridge, "src", nodeIP},
	}
	for _, s := range steps {
		if _, err := run(ipTimeout, "ip", s...); err != nil {
			return err
		}
	}
	return nil
}

// DeleteBridge removes a bridge and every veth still enslaved to it (the host
// ends of pod interfaces whose sandboxes were not torn down).
func DeleteBridge(bridge string) error {
	if !LinkExists(bridge) {
		return nil
	}
	var errs []error
	ports, _ := os.ReadDir("/sys/class/net/" + bridge + "/brif")
	for _, p := range ports {
		if _, err := run(ipTimeout, "ip", "link", "del", p.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := run(ipTimeout, "ip", "link", "del", bridge); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
