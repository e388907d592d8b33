package controlplane_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

func TestLeases(t *testing.T) {
	t.Parallel()
	s := scratchStore(t)
	ctx := testContext(t)
	if ok, err := s.ClaimLease(ctx, "acme", "task-1", "token-1", time.Minute); err != nil || !ok {
		t.Fatalf("claim: got %v, %v; want claimed", ok, err)
	}
	if ok, err := s.ClaimLease(ctx, "acme", "task-2", "token-2", time.Minute); err != nil || ok {
		t.Fatalf("claim of a live lease: got %v, %v; want refused", ok, err)
	}
	if held, err := s.RenewLease(ctx, "acme", "token-2", time.Minute); err != nil || held {
		t.Fatalf("renew by another token: got %v, %v; want not held", held, err)
	}
	// A lease renewed in a transaction that rolls back keeps its owner.
	errRollback := errors.New("roll back")
	err := s.Tx(ctx, func(tx *controlplane.Store) error {
		if held, err := tx.RenewLease(ctx, "acme", "token-1", time.Minute); err != nil || !held {
			t.Errorf("fence: got %v, %v; want held", held, err)
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("got %v, want the rollback error", err)
	}
	if err := s.ReleaseLease(ctx, "acme", "token-2"); err != nil { // not ours: a no-op
		t.Fatal(err)
	}
	if ok, _ := s.ClaimLease(ctx, "acme", "task-2", "token-2", time.Minute); ok {
		t.Fatal("a release by another token freed the lease")
	}
	if err := s.ReleaseLease(ctx, "acme", "token-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimLease(ctx, "acme", "task-2", "token-2", time.Minute); err != nil || !ok {
		t.Fatalf("after release: got %v, %v; want claimed", ok, err)
	}
	// An expired lease is taken over.
	if ok, err := s.ClaimLease(ctx, "short", "task-1", "token-1", time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.ClaimLease(ctx, "short", "task-2", "token-2", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lease was never taken over")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
