package migrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/load"
)

// Thresholds are the load limits of a run: a tenant does not start while
// its instance is above either.
type Thresholds struct {
	// CPUPercent pauses an instance whose CPU is above it. Default 70.
	CPUPercent float64
	// ReplicaLag pauses an instance whose replicas lag more. Default 10s.
	ReplicaLag time.Duration
}

// throttle reads instance load through a load.Source, and the lag of the
// instance's catalog replicas from the replicas themselves (replicalag.go),
// reusing a reading for ttl within this process so a thousand tenants of
// one instance cost a reading a second, not a thousand.
type throttle struct {
	src   load.Source
	ttl   time.Duration
	stale time.Duration
	lag   *replicaLags

	mu    sync.Mutex
	cache map[string]cachedReading
}

type cachedReading struct {
	r    load.Reading
	err  error
	read time.Time
}

func newThrottle(src load.Source, ttl, stale time.Duration, lag *replicaLags) *throttle {
	return &throttle{src: src, ttl: ttl, stale: stale, lag: lag, cache: map[string]cachedReading{}}
}

// check returns why the instance must wait, or "" when a tenant may start.
// A source with no (recent) data lets the tenant start; a source that
// cannot answer holds it, since nobody knows how busy the instance is.
func (t *throttle) check(ctx context.Context, inst controlplane.Instance, th Thresholds) (string, error) {
	reason, err := t.checkSource(ctx, inst, th)
	if reason != "" || err != nil || t.lag == nil {
		return reason, err
	}
	return t.lag.check(ctx, inst, th.ReplicaLag)
}

// checkSource is check against the load source.
func (t *throttle) checkSource(ctx context.Context, inst controlplane.Instance, th Thresholds) (string, error) {
	if t.src == nil {
		return "", nil
	}
	r, err := t.read(ctx, inst)
	switch {
	case errors.Is(err, load.ErrNoData):
		return "", nil
	case err != nil && ctx.Err() != nil:
		return "", err
	case err != nil:
		return fmt.Sprintf("instance %s load unknown: %v", inst.ID, err), nil
	case !r.At.IsZero() && time.Since(r.At) > t.stale:
		return "", nil
	case r.CPUPercent > th.CPUPercent:
		return fmt.Sprintf("instance %s CPU %.0f%% above %.0f%%", inst.ID, r.CPUPercent, th.CPUPercent), nil
	case r.ReplicaLag > th.ReplicaLag:
		return fmt.Sprintf("instance %s replica lag %s above %s", inst.ID, r.ReplicaLag.Round(time.Millisecond), th.ReplicaLag), nil
	}
	return "", nil
}

func (t *throttle) read(ctx context.Context, inst controlplane.Instance) (load.Reading, error) {
	t.mu.Lock()
	c, ok := t.cache[inst.ID]
	t.mu.Unlock()
	if ok && time.Since(c.read) < t.ttl {
		return c.r, c.err
	}
	target := load.Target{ID: inst.ID, ProviderRef: inst.ProviderRef, Database: inst.Database}
	if t.lag != nil {
		// The cloudwatch source reads the catalog replicas' ReplicaLag.
		refs, err := t.lag.refs(ctx, inst.ID)
		if err != nil {
			return load.Reading{}, err
		}
		target.Replicas = refs
	}
	r, err := t.src.Load(ctx, target)
	if ctx.Err() == nil {
		t.mu.Lock()
		t.cache[inst.ID] = cachedReading{r: r, err: err, read: time.Now()}
		t.mu.Unlock()
	}
	return r, err
}
