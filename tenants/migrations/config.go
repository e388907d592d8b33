package migrations

import (
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"
)

// Defaults of Config.
const (
	DefaultLockTimeout    = 5 * time.Second
	DefaultTenantLockWait = 30 * time.Second
	defaultLockPoll       = 100 * time.Millisecond
)

// Config configures a Migrator.
type Config struct {
	// FS holds the migration set: goose-format SQL files named
	// NNNNN_name.sql at its root. Default: Embedded(). The fleet runner and
	// tests may pass another set (an os.DirFS, a Files). It is read
	// once, by New.
	FS fs.FS

	// LockTimeout bounds how long any statement of a migration waits for a
	// lock (PostgreSQL lock_timeout) before failing with ErrLockTimeout, so a
	// migration queued behind a long transaction does not in turn block
	// every writer queued behind it. Default: DefaultLockTimeout (5s).
	// Negative disables the limit (lock_timeout = 0); don't in production.
	LockTimeout time.Duration

	// TenantLockWait bounds how long Up and UpTo wait for the tenant's
	// migration lock held by another migrator before failing with
	// ErrTenantBusy. Default: DefaultTenantLockWait (30s).
	TenantLockWait time.Duration

	// Logger receives one line per tenant run. Default: discards.
	Logger *slog.Logger
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.FS == nil {
		cfg.FS = Embedded()
	}
	cfg.LockTimeout = cmp.Or(cfg.LockTimeout, DefaultLockTimeout)
	cfg.TenantLockWait = cmp.Or(cfg.TenantLockWait, DefaultTenantLockWait)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg
}

// validate rejects settings that cannot work.
func (cfg Config) validate() error {
	if cfg.TenantLockWait < 0 {
		return fmt.Errorf("migrations: negative TenantLockWait %s", cfg.TenantLockWait)
	}
	if cfg.LockTimeout > 0 && cfg.LockTimeout < time.Millisecond {
		return fmt.Errorf("migrations: LockTimeout %s below 1ms", cfg.LockTimeout)
	}
	return nil
}

// lockTimeoutSetting renders LockTimeout as a lock_timeout value.
func (cfg Config) lockTimeoutSetting() string {
	if cfg.LockTimeout < 0 {
		return "0"
	}
	return fmt.Sprintf("%dms", cfg.LockTimeout.Milliseconds())
}
