package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// tenantLocker is the goose session locker of one tenant run: a session
// advisory lock keyed by the tenant's schema, so runs on different tenants
// of one database never wait on each other, and two runs on one tenant
// serialise.
//
// goose's lock.NewPostgresSessionLocker does the same with
// lock.WithLockID, but polls at whole-second granularity and reports an
// exhausted wait as an untyped error; this one polls every 100ms, returns
// ErrTenantBusy, and reads the version the run starts from while holding the
// lock.
type tenantLocker struct {
	target Target
	wait   time.Duration
	poll   time.Duration

	locked bool  // the lock was taken
	before int64 // version when the lock was taken
}

var _ lock.SessionLocker = (*tenantLocker)(nil)

// SessionLock implements lock.SessionLocker.
func (l *tenantLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	deadline := time.Now().Add(l.wait)
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", l.target.lockID()).Scan(&ok); err != nil {
			return fmt.Errorf("tenant lock: %w", err)
		}
		if ok {
			break
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: schema %s, waited %s", ErrTenantBusy, l.target.Schema, l.wait)
		}
		timer := time.NewTimer(min(l.poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("tenant lock: %w", ctx.Err())
		case <-timer.C:
		}
	}
	l.locked = true
	// goose creates the version table before it locks, so it exists here.
	err := conn.QueryRowContext(ctx, "SELECT coalesce(max(version_id), 0) FROM "+l.target.versionTable()).Scan(&l.before)
	if err != nil {
		return errors.Join(fmt.Errorf("read version: %w", err), l.SessionUnlock(context.WithoutCancel(ctx), conn))
	}
	return nil
}

// SessionUnlock implements lock.SessionLocker.
func (l *tenantLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", l.target.lockID()).Scan(&ok); err != nil {
		return fmt.Errorf("tenant unlock: %w", err)
	}
	if !ok {
		return fmt.Errorf("tenant unlock: lock of schema %s was not held", l.target.Schema)
	}
	return nil
}
