package upstream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/meshkeeper/meshkeeper/proxy/discovery"
	"github.com/meshkeeper/meshkeeper/proxy/internal/testnet"
)

func TestMeshConnectToVanishedPodFailsFast(t *testing.T) {
	target := discovery.Target{Addr: testnet.Blackhole(t), Identity: "spiffe://cluster.local/ns/app/sa/server"}
	start := time.Now()
	conn, err := (&Dialer{}).Dial(context.Background(), target)
	if err == nil {
		_ = conn.Close()
		t.Fatal("connect to a blackholed address succeeded")
	}
	// Generous: the point is failing long before ConnectTimeout.
	if took := time.Since(start); took < MeshConnectTimeout/2 || took > ConnectTimeout/2 {
		t.Fatalf("connect failed after %s, want about %s", took, MeshConnectTimeout)
	}
	var ne net.Error
	var op *net.OpError
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("want a dial timeout, got %#v", err)
	}
}
