package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// ErrLeaseLost means a task lost its hold on a tenant while it worked:
// the control plane could not renew the lease in time, or another task
// took it over after it expired. The work was stopped.
var ErrLeaseLost = errors.New("provision: tenant lease lost")

// errLeaseReleased is the cause of a lease's context once it is released.
var errLeaseReleased = errors.New("provision: tenant lease released")

// tenantLease is one task attempt's hold on a tenant: one attempt at a
// time works on a tenant. It is renewed every TTL/3 while the work runs;
// if a renewal finds it taken over, or renewals fail until less than a
// third of the TTL is left, its context is canceled with ErrLeaseLost, so
// the work stops before another task may take the tenant.
type tenantLease struct {
	store    *controlplane.Store
	tenantID string
	token    string
	ttl      time.Duration
	// ctx is the work's context, canceled with ErrLeaseLost when the lease
	// is lost and with errLeaseReleased once released.
	ctx      context.Context
	cancel   context.CancelCauseFunc
	parent   context.Context
	done     chan struct{}
	released sync.Once
}

// holdLease takes tenantID's lease for one attempt of holder (a label for
// operators: the task id) and keeps it renewed until release. A tenant
// leased by a live attempt gives an error matching ErrBusy. A crashed
// attempt's lease expires after the TTL.
func (a *Agent) holdLease(ctx context.Context, tenantID, holder string) (*tenantLease, error) {
	token := rand.Text()
	claimed := time.Now()
	claimedIt, err := a.cfg.Catalog.ClaimLease(ctx, tenantID, holder, token, a.cfg.LeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	if !claimedIt {
		return nil, fmt.Errorf("%w: %s", ErrBusy, tenantID)
	}
	l := &tenantLease{store: a.cfg.Catalog, tenantID: tenantID, token: token, ttl: a.cfg.LeaseTTL, parent: ctx, done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(ctx)
	go l.keep(claimed)
	return l, nil
}

// lease is holdLease for work that does not watch the lease's context
// (offboarding, whose steps are each idempotent): the lease is renewed
// until release, and the work is not stopped if it is lost.
func (a *Agent) lease(ctx context.Context, tenantID, owner string) (release func(), err error) {
	l, err := a.holdLease(ctx, tenantID, owner)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// keep renews the lease every TTL/3 until its context ends. renewed is
// when the last successful renewal (or the claim) was sent: the lease runs
// at least a TTL from then.
func (l *tenantLease) keep(renewed time.Time) {
	defer close(l.done)
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		held, err := l.renew(l.ctx)
		switch {
		case err == nil && held:
			renewed = sent
		case err == nil:
			l.cancel(fmt.Errorf("%w: %s was taken over", ErrLeaseLost, l.tenantID))
			return
		case l.ctx.Err() != nil:
			return
		case time.Since(renewed) >= l.ttl-l.ttl/3:
			l.cancel(fmt.Errorf("%w: %s not renewed in time: %w", ErrLeaseLost, l.tenantID, err))
			return
		}
	}
}

// renew extends the lease by a TTL; false when it is no longer ours.
func (l *tenantLease) renew(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	return l.store.RenewLease(ctx, l.tenantID, l.token, l.ttl)
}

// fence extends the lease inside tx, so the transaction commits only while
// the attempt still holds the tenant (the row stays locked until it
// commits, so nobody takes the lease over meanwhile). A lease no longer
// ours gives ErrLeaseLost.
func (l *tenantLease) fence(ctx context.Context, tx pgx.Tx) error {
	held, err := controlplane.NewStore(tx).RenewLease(ctx, l.tenantID, l.token, l.ttl)
	if err != nil {
		return fmt.Errorf("provision: fence on the lease of %s: %w", l.tenantID, err)
	}
	if !held {
		return fmt.Errorf("%w: %s was taken over", ErrLeaseLost, l.tenantID)
	}
	return nil
}

// lost reports whether the lease was lost while the work ran.
func (l *tenantLease) lost() bool { return errors.Is(context.Cause(l.ctx), ErrLeaseLost) }

// release stops the renewals and gives the lease back if it is still
// ours. Safe to call twice. A release that fails leaves the lease to
// expire within a TTL.
func (l *tenantLease) release() {
	l.released.Do(func() {
		l.cancel(errLeaseReleased)
		<-l.done
		ctx, cancel := context.WithTimeout(context.WithoutCancel(l.parent), l.ttl)
		defer cancel()
		_ = l.store.ReleaseLease(ctx, l.tenantID, l.token)
	})
}
