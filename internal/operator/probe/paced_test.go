package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

type countingIdentity struct {
	calls int
	err   error
}

func (c *countingIdentity) Probe(context.Context, string, string, []*x509.Certificate) error {
	c.calls++
	return c.err
}

func TestPacedIdentityReusesAnAnswerWithinThePace(t *testing.T) {
	now := time.Unix(1000, 0)
	inner := &countingIdentity{err: errors.New("not issuing")}
	p := &PacedIdentity{Prober: inner, Pace: 2 * time.Second, Now: func() time.Time { return now }}
	rootA := []*x509.Certificate{{Raw: []byte("a")}}
	rootB := []*x509.Certificate{{Raw: []byte("b")}}
	ctx := context.Background()

	steps := []struct {
		name      string
		advance   time.Duration
		ns        string
		roots     []*x509.Certificate
		innerErr  error
		wantCalls int
		wantErr   bool
	}{
		{"first probe asks", 0, "cp", rootA, errors.New("not issuing"), 1, true},
		{"within the pace: the last answer", time.Second, "cp", rootA, nil, 1, true},
		{"pace over: asks again", 1500 * time.Millisecond, "cp", rootA, nil, 2, false},
		{"new roots ask at once", 0, "cp", rootB, nil, 3, false},
		{"another control plane asks at once", 0, "other", rootB, nil, 4, false},
		{"same again: reused", 100 * time.Millisecond, "other", rootB, errors.New("x"), 4, false},
		{"clock went back: asks", -time.Minute, "other", rootB, errors.New("x"), 5, true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		inner.err = s.innerErr
		err := p.Probe(ctx, s.ns, "td", s.roots)
		if inner.calls != s.wantCalls || (err != nil) != s.wantErr {
			t.Fatalf("%s: calls %d err %v, want calls %d err %v", s.name, inner.calls, err, s.wantCalls, s.wantErr)
		}
	}
}

func TestPacedIdentityDoesNotKeepACanceledProbe(t *testing.T) {
	now := time.Unix(1000, 0)
	inner := &countingIdentity{err: context.Canceled}
	p := &PacedIdentity{Prober: inner, Pace: time.Minute, Now: func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Probe(ctx, "cp", "td", nil)
	inner.err = nil
	if err := p.Probe(context.Background(), "cp", "td", nil); err != nil || inner.calls != 2 {
		t.Fatalf("a canceled probe was reused: err %v calls %d", err, inner.calls)
	}
}
