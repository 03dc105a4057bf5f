package cluster

import (
	"context"
	"errors"
	"os"
	"time"
)

// Reap sleeps until the recorded deadline and then runs Down, so a cluster
// whose owner crashed or forgot it leaves nothing behind. It returns early when
// the cluster was taken down by someone else.
func Reap(ctx context.Context, o Options) error {
	o = o.withDefaults()
	p := Paths{Root: o.WorkDir}
	for {
		st, err := loadState(p.State())
		if errors.Is(err, ErrNoCluster) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(st.Deadline) {
			o.Log("lifetime reached at %s: tearing the cluster down", st.Deadline.Format(time.RFC3339))
			return Down(ctx, o, DownOptions{FromReaper: true})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(10*time.Second, time.Until(st.Deadline)+time.Second)):
		}
		if _, err := os.Stat(p.State()); err != nil {
			return nil
		}
	}
}
