package discovery

import (
	"encoding/json"
	"reflect"
	"sync"

	"github.com/meshkeeper/meshkeeper/internal/contract"
)

// Published is a numbered snapshot and its encoded stream line.
type Published struct {
	Snapshot contract.DiscoverySnapshot
	// Line is the JSON encoding followed by '\n', shared by every watcher.
	Line []byte
}

// Broadcaster holds the latest snapshot and wakes subscribers when it changes.
// Slow subscribers never block it: each only ever needs the latest snapshot.
type Broadcaster struct {
	mu       sync.Mutex
	latest   *Published
	revision uint64
	issuer   string
	subs     map[chan struct{}]struct{}
}

// NewBroadcaster returns an empty Broadcaster (no snapshot yet).
func NewBroadcaster() *Broadcaster {
	return &Broadcaster{subs: map[chan struct{}]struct{}{}}
}

// Publish numbers and stores snap if its content differs from the latest, and
// reports whether it did. The snapshot's Issuer is the one set by SetIssuer,
// whatever snap carries. The Broadcaster keeps snap's maps: callers must not
// modify them afterwards.
func (b *Broadcaster) Publish(snap contract.DiscoverySnapshot) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	snap.Issuer = b.issuer
	if b.latest != nil && reflect.DeepEqual(b.latest.Snapshot.Pods, snap.Pods) &&
		reflect.DeepEqual(b.latest.Snapshot.Services, snap.Services) {
		return false, nil
	}
	return true, b.publishLocked(snap)
}

// SetIssuer records the fingerprint of the issuer the identity service signs
// with now. When it differs from the one advertised, the latest snapshot is
// republished with it under a new revision, so every proxy learns at once
// that its certificate comes from a superseded issuer. It reports whether a
// snapshot was published (false before the first snapshot: that one will
// carry the issuer).
func (b *Broadcaster) SetIssuer(fingerprint string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fingerprint == b.issuer {
		return false, nil
	}
	b.issuer = fingerprint
	if b.latest == nil {
		return false, nil
	}
	snap := b.latest.Snapshot
	snap.Issuer = fingerprint
	return true, b.publishLocked(snap)
}

// publishLocked numbers, encodes and stores snap and wakes subscribers.
func (b *Broadcaster) publishLocked(snap contract.DiscoverySnapshot) error {
	snap.Revision = b.revision + 1
	line, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	b.revision = snap.Revision
	b.latest = &Published{Snapshot: snap, Line: append(line, '\n')}
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default: // already notified; it will read the latest
		}
	}
	return nil
}

// Latest returns the newest snapshot, or nil before the first.
func (b *Broadcaster) Latest() *Published {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.latest
}

// Subscribe returns a channel signalled after every publish and a cancel func.
func (b *Broadcaster) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Subscribers counts current subscribers.
func (b *Broadcaster) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
