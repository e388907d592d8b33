package migrate

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/tenants/migrations"
)

func TestNextHop(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"migrate:7:acme-bank", "migrate:7:acme-bank:h1"},
		{"migrate:7:acme-bank:h1", "migrate:7:acme-bank:h2"},
		{"migrate:7:h-bank:r2:x1:h9", "migrate:7:h-bank:r2:x1:h10"},
		{taskID(7, "acme", 2, 3), "migrate:7:acme:r2:x3:h1"},
	} {
		if got := nextHop(c.in); got != c.want {
			t.Errorf("nextHop(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"lock timeout", fmt.Errorf("x: %w", migrations.ErrLockTimeout), true},
		{"tenant busy", migrations.ErrTenantBusy, true},
		{"duplicate table", &migrations.MigrationError{Err: &pgconn.PgError{Code: "42P07"}}, false},
		{"syntax", &pgconn.PgError{Code: "42601"}, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"eof", &migrations.MigrationError{Err: io.ErrUnexpectedEOF}, true},
		{"unknown version", migrations.ErrUnknownVersion, false},
		{"plain", errors.New("goose: parse error"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("%s: transient got %v, want %v", c.name, got, c.want)
		}
	}
}
