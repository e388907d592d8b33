package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxIdempotencyKey bounds an idempotency key, in characters.
const MaxIdempotencyKey = 200

// ErrIdempotencyKeyReused refuses a key that started a run with another
// spec; nothing was started.
var ErrIdempotencyKeyReused = errors.New("migrate: idempotency key already used for a different run spec")

// Started is the run a StartOnce call stands for.
type Started struct {
	// ID is the run.
	ID int64
	// Status is the run's status: running for a new run, whatever it is
	// now for a repeat.
	Status RunState
	// Duplicate is true when the key had started this run before: nothing
	// new was started.
	Duplicate bool
}

// StartOnce is Start with an idempotency key: the first call with a key
// starts a run and records the key with it (unique in the control plane,
// so it outlives every process); a later call with the same key and the
// same spec starts nothing and returns that run, Duplicate set, and a
// later call with the same key and another spec fails with
// ErrIdempotencyKeyReused. The spec is compared after defaults, without
// RequestedBy: {} and {"concurrency": 5} are the same request. An empty key
// is Start. A key is at most MaxIdempotencyKey characters of UTF-8 without
// control characters (else ErrInvalidSpec).
//
// A repeat of a run that is still running also enqueues the tasks its
// first call may not have (a process killed between the commit and the
// enqueue); a tenant whose task chain lives is left alone.
func (r *Runner) StartOnce(ctx context.Context, key string, spec Spec) (Started, error) {
	spec = spec.withDefaults()
	if err := spec.validate(r.cfg.Migrator.Versions()); err != nil {
		return Started{}, err
	}
	if !plainText(key, MaxIdempotencyKey) {
		return Started{}, fmt.Errorf("%w: idempotency key: at most %d characters, no control characters", ErrInvalidSpec, MaxIdempotencyKey)
	}
	sum := spec.fingerprint()
	if key != "" {
		st, found, err := r.runByKey(ctx, key, sum)
		if found || err != nil {
			return st, err
		}
	}
	return r.start(ctx, spec, key, sum)
}

// fingerprint is the SHA-256 of the spec (with its defaults) as JSON,
// RequestedBy left out: what a repeated request must repeat.
func (s Spec) fingerprint() []byte {
	s.RequestedBy = ""
	b, _ := json.Marshal(s) // a struct of plain fields: cannot fail
	sum := sha256.Sum256(b)
	return sum[:]
}

// runByKey returns the run started with key (found false when there is
// none), or ErrIdempotencyKeyReused when it was started with another spec.
func (r *Runner) runByKey(ctx context.Context, key string, sum []byte) (Started, bool, error) {
	run, found, err := r.store.MigrationRunByIdempotencyKey(ctx, key)
	if err != nil || !found {
		return Started{}, false, err
	}
	if !bytes.Equal(run.RequestSHA256, sum) {
		return Started{}, true, fmt.Errorf("%w (run %d)", ErrIdempotencyKeyReused, run.ID)
	}
	st := Started{ID: run.ID, Status: run.Status, Duplicate: true}
	if st.Status != RunRunning {
		return st, true, nil
	}
	list, err := r.store.UnfinishedMigrationTenants(ctx, st.ID, run.Phase == phaseCanary)
	if err == nil {
		err = r.enqueueAll(ctx, st.ID, list, 0, joinChain)
	}
	if err != nil {
		return st, true, fmt.Errorf("%w (run %d is recorded: the reconciler enqueues the rest)", err, st.ID)
	}
	return st, true, nil
}
