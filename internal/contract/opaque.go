package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// OpaquePortsAnnotation lists ports whose traffic the proxies relay as bytes
// without protocol detection (server-speaks-first protocols, databases):
// "3306,5000-5010". On a pod or its namespace (the pod's wins) it covers the
// pod's own ports; on a Service, the Service's ports. A value that does not
// parse is ignored (the injector warns) and the next level applies.
const OpaquePortsAnnotation = "meshkeeper.io/opaque-ports"

// EnvOpaquePorts carries a pod's resolved opaque ports to its proxy:
// unset means DefaultOpaquePorts, NoOpaquePorts an empty list.
const EnvOpaquePorts = "MESHKEEPER_OPAQUE_PORTS"

// NoOpaquePorts is EnvOpaquePorts' value for an empty list (an environment
// variable set to "" reads as unset).
const NoOpaquePorts = "none"

// ParseOpaquePortsEnv reads EnvOpaquePorts.
func ParseOpaquePortsEnv(v string) (PortRanges, error) {
	switch v {
	case "":
		return ResolveOpaquePorts(), nil
	case NoOpaquePorts:
		return PortRanges{}, nil
	}
	return ParsePortRanges(v)
}

// OpaquePortsEnv is the EnvOpaquePorts value for r.
func OpaquePortsEnv(r PortRanges) string {
	if len(r) == 0 {
		return NoOpaquePorts
	}
	return r.String()
}

// DefaultOpaquePorts apply where no annotation says otherwise, as in
// Linkerd: SMTP (25, 587), MySQL (3306), Galera (4444), PostgreSQL (5432),
// Redis (6379), Elasticsearch transport (9300), memcached (11211).
const DefaultOpaquePorts = "25,587,3306,4444,5432,6379,9300,11211"

// maxPortRanges bounds a list, so an annotation cannot make every connection
// scan a huge list.
const maxPortRanges = 64

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// PortRanges is a parsed opaque-ports list.
type PortRanges []PortRange

// ParsePortRanges reads "p,lo-hi,...": ports 1-65535, lo <= hi, at most 64
// entries; blanks are ignored.
func ParsePortRanges(s string) (PortRanges, error) {
	var out PortRanges
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			hi = lo
		}
		l, errL := parsePort(lo)
		h, errH := parsePort(hi)
		if errL != nil || errH != nil || l > h {
			return nil, fmt.Errorf("invalid port or range %q", f)
		}
		if len(out) == maxPortRanges {
			return nil, fmt.Errorf("more than %d ports or ranges", maxPortRanges)
		}
		out = append(out, PortRange{l, h})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// Contains reports whether port is in one of the ranges.
func (r PortRanges) Contains(port uint16) bool {
	for _, pr := range r {
		if port >= pr.Lo && port <= pr.Hi {
			return true
		}
	}
	return false
}

// String is the canonical annotation form.
func (r PortRanges) String() string {
	parts := make([]string, len(r))
	for i, pr := range r {
		parts[i] = strconv.Itoa(int(pr.Lo))
		if pr.Hi != pr.Lo {
			parts[i] += "-" + strconv.Itoa(int(pr.Hi))
		}
	}
	return strings.Join(parts, ",")
}

// ResolveOpaquePorts applies the precedence shared by the injector and the
// discovery service: the first annotation set (levels in order, e.g. pod
// then namespace, or Service then namespace) that parses, else
// DefaultOpaquePorts. An annotation replaces the default list; an empty one
// makes no port opaque.
func ResolveOpaquePorts(levels ...map[string]string) PortRanges {
	for _, annotations := range levels {
		if v, ok := annotations[OpaquePortsAnnotation]; ok {
			if r, err := ParsePortRanges(v); err == nil {
				return r
			}
		}
	}
	r, _ := ParsePortRanges(DefaultOpaquePorts)
	return r
}
