package migrations

import (
	"fmt"
	"time"
)

// Result describes one tenant run of Up or UpTo.
type Result struct {
	// Before is the tenant's version when the run took the tenant lock (0
	// for a schema never migrated).
	Before int64
	// After is the tenant's version when the run ended, failed or not.
	After int64
	// Applied lists the versions this run applied, in order.
	Applied []int64
	// Duration is the wall time of the run, lock wait included.
	Duration time.Duration
}

// MigrationError reports the migration that failed in a tenant run. The
// versions before it in the run are applied (see Result.Applied); the failed
// one is not recorded. Unwrap gives the server error, and ErrLockTimeout
// when the migration gave up waiting for a lock.
type MigrationError struct {
	// Schema is the tenant's schema.
	Schema string
	// Version and File identify the failed migration.
	Version int64
	File    string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *MigrationError) Error() string {
	return fmt.Sprintf("migrations: schema %s: version %d (%s): %v", e.Schema, e.Version, e.File, e.Err)
}

// Unwrap returns the cause.
func (e *MigrationError) Unwrap() error { return e.Err }
