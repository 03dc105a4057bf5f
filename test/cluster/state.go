package cluster

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/meshkeeper/meshkeeper/test/cluster/hostfx"
	"github.com/meshkeeper/meshkeeper/test/cluster/proc"
)

// State is what a later `down`, `status` or the reaper needs to know about a
// running cluster. It is written after every step of Up, so even a partial Up
// can be undone.
type State struct {
	StartedAt time.Time       `json:"startedAt"`
	Deadline  time.Time       `json:"deadline"`
	KubeBin   string          `json:"kubeBin"`
	Snapshot  hostfx.Snapshot `json:"snapshot"`
	// Processes are in start order; Down stops them in reverse.
	Processes []proc.Record `json:"processes"`
	Reaper    *proc.Record  `json:"reaper,omitempty"`
	// Ready is set once Up completed.
	Ready bool `json:"ready"`
}

// ErrNoCluster means no state file exists in the work dir.
var ErrNoCluster = errors.New("no cluster state found")

// claimState creates the state file exclusively: a second Up fails here.
func claimState(path string, s *State) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return errors.New("a cluster is already running here (or a previous run was not cleaned up): run `down` first")
		}
		return err
	}
	f.Close()
	return saveState(path, s)
}

func saveState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCluster
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// process returns the record of a named component.
func (s *State) process(name string) (proc.Record, bool) {
	for _, r := range s.Processes {
		if r.Name == name {
			return r, true
		}
	}
	return proc.Record{}, false
}
