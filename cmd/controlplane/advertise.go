package main

import (
	"context"
	"log/slog"

	"github.com/meshkeeper/meshkeeper/internal/controlplane/discovery"
	"github.com/meshkeeper/meshkeeper/internal/controlplane/identity"
)

// issuerFeed is the identity service's current issuer and its change signal
// (identity.StaticIssuer, embedded in the IssuerWatcher).
type issuerFeed interface {
	identity.IssuerSource
	Subscribe() (<-chan struct{}, func())
}

// advertiseIssuer keeps the discovery snapshots' Issuer equal to the issuer
// the identity service signs with now (the one the trust gate adopted, not a
// candidate still held back), until ctx ends. Each change publishes a new
// snapshot, which makes proxies holding certificates of another issuer renew.
func advertiseIssuer(ctx context.Context, issuers issuerFeed, snapshots *discovery.Broadcaster, log *slog.Logger) {
	changed, cancel := issuers.Subscribe()
	defer cancel()
	for {
		fingerprint := ""
		if cur := issuers.Current(); cur != nil {
			fingerprint = cur.Fingerprint
		}
		published, err := snapshots.SetIssuer(fingerprint)
		switch {
		case err != nil:
			log.Error("publishing the issuer in discovery failed", "fingerprint", fingerprint, "error", err)
		case published:
			log.Info("discovery advertises the new issuer", "fingerprint", fingerprint,
				"revision", snapshots.Latest().Snapshot.Revision)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
