package kubectlplugin

import (
	"strconv"
	"strings"
)

// Result is one check's verdict.
type Result struct {
	// Name identifies the check, e.g. "trust bundle".
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Message says what was found; Hint what to do about a failure.
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func pass(name, msg string) Result { return Result{Name: name, OK: true, Message: msg} }

func fail(name, msg, hint string) Result { return Result{Name: name, Message: msg, Hint: hint} }

// Failed names the failed checks, in order.
func Failed(results []Result) []string {
	var out []string
	for _, r := range results {
		if !r.OK {
			out = append(out, r.Name)
		}
	}
	return out
}

// listNames shows at most max names, then how many more there are, so a
// message about thousands of pods still fits a terminal line.
func listNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + ", and " + strconv.Itoa(len(names)-max) + " more"
}
