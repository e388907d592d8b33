package local

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config configures the local provider.
type Config struct {
	// AdminURL is a superuser (or CREATEDB) connection to the server's
	// maintenance database, e.g.
	// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
	// Required. Instances report its host and port; its password is never
	// logged or reported.
	AdminURL string
	// MaxConnections is the connection limit each instance reports for
	// capacity. The instances share one server, so this is a budget, not a
	// physical limit. Default 100.
	MaxConnections int
	// StorageBytes is the allocated storage each instance reports for
	// capacity; also a budget. Default 1 GiB.
	StorageBytes int64
	// MaxPoolConns bounds the admin connections the provider holds.
	// Default 2.
	MaxPoolConns int32
	// Logger receives one line per create and delete. Default: discard.
	Logger *slog.Logger
	// Standbys are "host:port" addresses of streaming standbys of the
	// server (set up outside the fleet, e.g. with pg_basebackup -R). The
	// local provider cannot start a replica; CreateReadReplica attaches an
	// instance to the first of these that answers as a standby holding
	// the instance's database. Default none: CreateReadReplica fails with
	// provider.ErrUnsupported.
	Standbys []string
}

func (c Config) withDefaults() Config {
	c.MaxConnections = cmp.Or(c.MaxConnections, 100)
	c.StorageBytes = cmp.Or(c.StorageBytes, 1<<30)
	c.MaxPoolConns = cmp.Or(c.MaxPoolConns, 2)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.AdminURL == "" {
		errs = append(errs, errors.New("admin url: required"))
	} else if _, err := pgconn.ParseConfig(c.AdminURL); err != nil {
		// The parse error may quote the URL: do not wrap it.
		errs = append(errs, errors.New("admin url: not a valid PostgreSQL connection string"))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max connections %d: must not be negative", c.MaxConnections))
	}
	if c.StorageBytes < 0 {
		errs = append(errs, fmt.Errorf("storage bytes %d: must not be negative", c.StorageBytes))
	}
	for _, sb := range c.Standbys {
		if _, _, err := splitStandby(sb); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxPoolConns < 1 {
		errs = append(errs, fmt.Errorf("max pool conns %d: must be at least 1", c.MaxPoolConns))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("local provider config: %w", err)
	}
	return nil
}
