package migrate

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

// transient reports whether a failed tenant attempt may succeed as is,
// later: what migrations.Retryable says (a lock timeout, a busy tenant
// lock, a deadlock or serialization victim), plus the server or the
// connection going away (a restart, a crash, too many connections, a
// network error). An error in a migration's SQL is not transient: the
// tenant fails and waits for Retry.
func transient(err error) bool {
	if migrations.Retryable(err) {
		return true
	}
	if errors.Is(err, migrations.ErrUnknownVersion) || errors.Is(err, migrations.ErrInvalidTarget) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: too many connections, out of memory
			"57", // operator intervention: admin/crash shutdown, cannot connect now
			"58": // system error
			return pgErr.Code != "57014" // query_canceled by a statement_timeout is the SQL's
		}
		return false
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) ||
		isClosedConn(err)
}

// isClosedConn spots pgx's "conn closed" errors, which carry no type.
func isClosedConn(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "conn closed" || e.Error() == "conn busy" {
			return true
		}
	}
	return false
}
