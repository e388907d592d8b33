package migrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/sessions"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// replicaLags reads the replay lag of an instance's catalog replicas
// (controlplane.Replica) on the replicas themselves, through admin
// sessions (statistics only: tenants.ReadStandbyLag), for the throttle.
// Readings are reused for ttl.
type replicaLags struct {
	store    *controlplane.Store
	sessions *sessions.Sessions
	ttl      time.Duration

	mu    sync.Mutex
	cache map[string]cachedLags
}

type cachedLags struct {
	reason string
	read   time.Time
}

func newReplicaLags(store *controlplane.Store, s *sessions.Sessions, ttl time.Duration) *replicaLags {
	return &replicaLags{store: store, sessions: s, ttl: ttl, cache: map[string]cachedLags{}}
}

// check returns why inst must wait for its replicas, or "": a ready
// replica lagging past limit, not streaming, or that cannot be read holds
// the instance (nobody knows how far behind it is). Replicas still
// creating, failed or being deleted serve nothing and are not waited for.
func (l *replicaLags) check(ctx context.Context, inst controlplane.Instance, limit time.Duration) (string, error) {
	c, err := l.read(ctx, inst, limit)
	return c.reason, err
}

// refs returns the provider handles of inst's ready replicas.
func (l *replicaLags) refs(ctx context.Context, instanceID string) ([]string, error) {
	reps, err := l.store.ListReplicas(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range reps {
		if r.Status == provider.StatusReady && r.ProviderRef != "" {
			out = append(out, r.ProviderRef)
		}
	}
	return out, nil
}

func (l *replicaLags) read(ctx context.Context, inst controlplane.Instance, limit time.Duration) (cachedLags, error) {
	key := fmt.Sprintf("%s/%d", inst.ID, limit)
	l.mu.Lock()
	c, ok := l.cache[key]
	l.mu.Unlock()
	if ok && time.Since(c.read) < l.ttl {
		return c, nil
	}
	reps, err := l.store.ListReplicas(ctx, inst.ID)
	if err != nil {
		return cachedLags{}, err
	}
	c = cachedLags{read: time.Now()}
	for _, r := range reps {
		if r.Status != provider.StatusReady {
			continue
		}
		if reason := l.one(ctx, inst, r, limit); reason != "" {
			c.reason = reason
			break
		}
	}
	if ctx.Err() != nil {
		return cachedLags{}, ctx.Err()
	}
	l.mu.Lock()
	l.cache[key] = c
	l.mu.Unlock()
	return c, nil
}

// one reads replica r and returns why it holds inst, or "".
func (l *replicaLags) one(ctx context.Context, inst controlplane.Instance, r controlplane.Replica, limit time.Duration) string {
	if r.Host == "" || r.Port == 0 {
		return fmt.Sprintf("instance %s replica %s has no endpoint", inst.ID, r.ID)
	}
	pool, err := l.sessions.Admin(ctx, r.On(inst))
	var lag tenants.StandbyLag
	if err == nil {
		lag, err = tenants.ReadStandbyLag(ctx, pool)
	}
	switch {
	case errors.Is(err, tenants.ErrNotStandby):
		return fmt.Sprintf("instance %s replica %s is not a standby", inst.ID, r.ID)
	case err != nil:
		return fmt.Sprintf("instance %s replica %s lag unknown: cannot read it", inst.ID, r.ID)
	case !lag.Streaming:
		return fmt.Sprintf("instance %s replica %s is not streaming", inst.ID, r.ID)
	case lag.Lag > limit:
		return fmt.Sprintf("instance %s replica %s lag %s above %s", inst.ID, r.ID, lag.Lag.Round(time.Millisecond), limit)
	}
	return ""
}
