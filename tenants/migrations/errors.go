package migrations

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrInvalidTarget reports a Target with a missing or over-long schema
	// or role name. Nothing was sent to the server.
	ErrInvalidTarget = errors.New("migrations: invalid target")

	// ErrSchemaNotFound reports a Target whose schema does not exist in the
	// pool's database: provision the tenant first.
	ErrSchemaNotFound = errors.New("migrations: schema not found")

	// ErrUnknownVersion reports a version that is not in the migration set.
	ErrUnknownVersion = errors.New("migrations: unknown version")

	// ErrLockTimeout reports a statement that waited longer than
	// Config.LockTimeout for a table lock (SQLSTATE 55P03) and gave up, so
	// writers on that table were not blocked behind the migration. The
	// failed migration was rolled back (or, for a NO TRANSACTION step, left
	// unrecorded); retry later.
	ErrLockTimeout = errors.New("migrations: lock timeout")

	// ErrTenantBusy reports that another migrator held the tenant's
	// migration lock for longer than Config.TenantLockWait. Retry later.
	ErrTenantBusy = errors.New("migrations: tenant migration lock busy")
)

// SQLSTATE codes the migrator classifies.
const (
	codeLockNotAvailable     = "55P03"
	codeDeadlockDetected     = "40P01"
	codeSerializationFailure = "40001"
)

// Retryable reports whether a failed migration run can be retried as is,
// later: the tenant lock was busy, a lock wait timed out, or the server
// picked the run as a deadlock or serialization victim. Errors in the SQL
// of a migration are not retryable.
func Retryable(err error) bool {
	if errors.Is(err, ErrLockTimeout) || errors.Is(err, ErrTenantBusy) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeLockNotAvailable, codeDeadlockDetected, codeSerializationFailure:
			return true
		}
	}
	return false
}

// isLockTimeout reports whether err carries SQLSTATE 55P03.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeLockNotAvailable
}
