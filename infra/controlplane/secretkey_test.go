package controlplane_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
)

// TestSecretKeyOncePerFleet: processes racing for the key all get the
// same one, and exactly one of them generated it.
func TestSecretKeyOncePerFleet(t *testing.T) {
	t.Parallel()
	_, pool := cptest.Database(t)
	ctx := testContext(t)
	const n = 4
	keys := make([][]byte, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = controlplane.NewStore(pool).SecretKey(ctx) })
	}
	wg.Wait()
	generated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("process %d got another key (%d bytes)", i, len(keys[i]))
		}
		if created[i] {
			generated++
		}
	}
	if generated != 1 {
		t.Fatalf("%d processes report generating the key, want 1", generated)
	}
}
