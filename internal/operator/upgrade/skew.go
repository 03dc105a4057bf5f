package upgrade

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Reasons a version change is refused; each is a condition-style reason.
const (
	SkewUnsupported  = "UnsupportedVersion"
	SkewInvalid      = "InvalidVersion"
	SkewDowngrade    = "Downgrade"
	SkewSkippedMinor = "SkippedMinorVersion"
	SkewMajorChange  = "MajorVersionChange"
)

// SkewError explains why a version change breaks the skew policy.
type SkewError struct {
	From, To string
	// Reason is one of the Skew* constants.
	Reason  string
	Message string
}

func (e *SkewError) Error() string { return e.Message }

// Semver is a parsed MAJOR.MINOR.PATCH version.
type Semver struct{ Major, Minor, Patch int }

// ParseSemver parses MAJOR.MINOR.PATCH (no pre-release or build suffix).
func ParseSemver(v string) (Semver, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return Semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", v)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || p == "" || (len(p) > 1 && p[0] == '0') {
			return Semver{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", v)
		}
		n[i] = x
	}
	return Semver{n[0], n[1], n[2]}, nil
}

// Compare returns -1, 0 or 1 as s is older than, equal to or newer than o.
func (s Semver) Compare(o Semver) int {
	for _, d := range []int{s.Major - o.Major, s.Minor - o.Minor, s.Patch - o.Patch} {
		if d != 0 {
			if d < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}

// CheckSkew applies the version skew policy to a move of the mesh from one
// version to another: the target must be shipped (in supported), and the move
// may change the patch version or go up exactly one minor version. Downgrades,
// skipped minor versions and major version changes are refused. An empty from
// (nothing installed yet) only checks the target. Rollbacks to the recorded
// previous version are not checked here. Errors are *SkewError.
func CheckSkew(from, to string, supported []string) error {
	refuse := func(reason, format string, args ...any) error {
		return &SkewError{From: from, To: to, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	if !slices.Contains(supported, to) {
		return refuse(SkewUnsupported, "mesh version %s is not shipped by this operator; supported: %s",
			to, strings.Join(supported, ", "))
	}
	if from == "" || from == to {
		return nil
	}
	f, err := ParseSemver(from)
	if err != nil {
		return refuse(SkewInvalid, "installed %v", err)
	}
	t, err := ParseSemver(to)
	if err != nil {
		return refuse(SkewInvalid, "target %v", err)
	}
	switch {
	case t.Compare(f) < 0:
		return refuse(SkewDowngrade, "downgrade from %s to %s is refused; only a rollback of an upgrade in progress may go back", from, to)
	case t.Major != f.Major:
		return refuse(SkewMajorChange, "upgrade from %s to %s changes the major version; major upgrades are not supported in place", from, to)
	case t.Minor > f.Minor+1:
		return refuse(SkewSkippedMinor, "upgrade from %s to %s skips minor version %d.%d; upgrade to %d.%d.x first",
			from, to, f.Major, f.Minor+1, f.Major, f.Minor+1)
	}
	return nil
}
