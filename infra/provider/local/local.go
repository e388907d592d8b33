// Package local is the instance provider for laptops and CI: an "instance"
// is a database on one local PostgreSQL server, created with CREATE
// DATABASE and ready at once. Every flow of the fleet, including "a shared
// instance is 80% full, create the next one", runs against it; since all
// instances share one server, their connection and storage limits are
// configured budgets, not physical limits.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// Name is the provider's name.
const Name = "local"

// commentPrefix marks databases this provider created; the rest of the
// comment is the instance id.
const commentPrefix = "tenantfleet instance "

// Provider creates instances as databases on one PostgreSQL server. It is
// safe for concurrent use. Close it when done.
type Provider struct {
	cfg  Config
	pool *pgxpool.Pool
	host string
	port int
	log  *slog.Logger
}

var (
	_ provider.Provider      = (*Provider)(nil)
	_ provider.UsageReporter = (*Provider)(nil)
)

// New validates cfg and opens a small admin pool. It does not connect until
// first use.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("%w: local provider config: admin url: not a valid PostgreSQL connection string", provider.ErrInvalid)
	}
	pcfg.MaxConns = cfg.MaxPoolConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("local: open admin pool: %w", err)
	}
	return &Provider{
		cfg:  cfg,
		pool: pool,
		host: pcfg.ConnConfig.Host,
		port: int(pcfg.ConnConfig.Port),
		log:  cfg.Logger,
	}, nil
}

// Close closes the admin pool.
func (p *Provider) Close() { p.pool.Close() }

// Name returns "local".
func (p *Provider) Name() string { return Name }

// DatabaseName returns the database that holds instance id of fleet:
// "<fleet>_inst_<id>" with hyphens as underscores. Fleet names are letters
// and digits and instance ids hold no underscore, so the mapping is one to
// one; the result is at most 58 bytes, under PostgreSQL's 63.
func DatabaseName(fleet, id string) string {
	return fleet + "_inst_" + strings.ReplaceAll(id, "-", "_")
}

// Create creates the database for spec and returns it ready. An existing
// database of that name is returned as is (CREATE DATABASE's
// duplicate_database is absorbed), so a retried or racing Create succeeds.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Instance, error) {
	if err := spec.Validate(); err != nil {
		return provider.Instance{}, fmt.Errorf("local: create: %w", err)
	}
	name := DatabaseName(spec.Fleet, spec.ID)
	ident := pgx.Identifier{name}.Sanitize()
	_, err := p.pool.Exec(ctx, "CREATE DATABASE "+ident)
	existed := isDuplicateDatabase(err)
	if err != nil && !existed {
		return provider.Instance{}, translate("create "+name, err)
	}
	// Record the instance id where Describe finds it. Repeated on a retry,
	// in case a previous attempt stopped between the two statements.
	// COMMENT takes no bind parameters: quote the literal.
	if _, err := p.pool.Exec(ctx, "COMMENT ON DATABASE "+ident+" IS "+quoteLiteral(commentPrefix+spec.ID)); err != nil {
		return provider.Instance{}, translate("comment "+name, err)
	}
	if existed {
		p.log.InfoContext(ctx, "local instance already exists", slog.String("instance", spec.ID), slog.String("database", name))
	} else {
		p.log.InfoContext(ctx, "local instance created", slog.String("instance", spec.ID), slog.String("database", name))
	}
	return p.Describe(ctx, name)
}

// Describe reports the database ref, or the attached replica ref (see
// CreateReadReplica). A database that does not exist returns
// provider.ErrNotFound.
func (p *Provider) Describe(ctx context.Context, ref string) (provider.Instance, error) {
	if isStandbyRef(ref) {
		return p.describeStandby(ctx, ref)
	}
	var comment string
	var allowConn bool
	err := p.pool.QueryRow(ctx, describeSQL, ref).Scan(&comment, &allowConn)
	if errors.Is(err, pgx.ErrNoRows) {
		return provider.Instance{}, fmt.Errorf("local: describe %s: %w", ref, provider.ErrNotFound)
	}
	if err != nil {
		return provider.Instance{}, translate("describe "+ref, err)
	}
	inst := provider.Instance{
		ID:             strings.TrimPrefix(comment, commentPrefix),
		ProviderRef:    ref,
		Status:         provider.StatusReady,
		Host:           p.host,
		Port:           p.port,
		Database:       ref,
		MaxConnections: p.cfg.MaxConnections,
		StorageBytes:   p.cfg.StorageBytes,
	}
	if !strings.HasPrefix(comment, commentPrefix) {
		inst.ID = ref
	}
	if !allowConn {
		inst.Status = provider.StatusFailed
		inst.StatusReason = "database does not allow connections"
	}
	return inst, nil
}

const describeSQL = `
SELECT coalesce(shobj_description(oid, 'pg_database'), ''), datallowconn
FROM pg_database
WHERE datname = $1`

// Delete drops the database ref, disconnecting its sessions (DROP DATABASE
// … WITH (FORCE)). A database that does not exist is not an error. For a
// replica ref it only detaches (see CreateReadReplica): the standby is not
// the fleet's to stop.
func (p *Provider) Delete(ctx context.Context, ref string) error {
	if isStandbyRef(ref) {
		return p.detachStandby(ctx, ref)
	}
	if ref == "" || ref == "postgres" || strings.HasPrefix(ref, "template") {
		return fmt.Errorf("local: delete %q: %w: not an instance database", ref, provider.ErrInvalid)
	}
	if _, err := p.pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{ref}.Sanitize()+" WITH (FORCE)"); err != nil {
		return translate("delete "+ref, err)
	}
	p.log.InfoContext(ctx, "local instance deleted", slog.String("database", ref))
	return nil
}

// Usage measures the database ref: its backends in pg_stat_activity and
// pg_database_size. A database that does not exist returns
// provider.ErrNotFound.
func (p *Provider) Usage(ctx context.Context, ref string) (provider.Usage, error) {
	var u provider.Usage
	var size *int64
	err := p.pool.QueryRow(ctx, usageSQL, ref).Scan(&size, &u.Connections)
	if err != nil {
		return provider.Usage{}, translate("usage "+ref, err)
	}
	if size == nil {
		return provider.Usage{}, fmt.Errorf("local: usage %s: %w", ref, provider.ErrNotFound)
	}
	u.StorageBytes = *size
	return u, nil
}

// usageSQL returns a NULL size for a missing database (the subquery finds
// no row) rather than raising.
const usageSQL = `
SELECT
  (SELECT pg_database_size(oid) FROM pg_database WHERE datname = $1),
  (SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend')`

// isDuplicateDatabase reports a CREATE DATABASE that lost to an existing
// database of that name: duplicate_database, or, when two CREATE DATABASE
// race, the unique violation of pg_database's name index.
func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "42P04" || (pgErr.Code == "23505" && pgErr.ConstraintName == "pg_database_datname_index")
}

// translate wraps a PostgreSQL error in the matching provider sentinel.
func translate(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("local: %s: %w", op, err)
	}
	code := pgErrCode(err)
	switch {
	case code == "3D000": // invalid_catalog_name
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrNotFound, err)
	case code == "42P04":
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrAlreadyExists, err)
	case code == "53300" || code == "55006" || code == "57P03": // too_many_connections, object_in_use, cannot_connect_now
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrUnavailable, err)
	case strings.HasPrefix(code, "53"): // insufficient_resources (disk full, out of memory)
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrQuota, err)
	case strings.HasPrefix(code, "42") || strings.HasPrefix(code, "22"):
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrInvalid, err)
	case code == "" && pgconn.SafeToRetry(err):
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrUnavailable, err)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("local: %s: %w: %w", op, provider.ErrUnavailable, err)
	}
	return fmt.Errorf("local: %s: %w", op, err)
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on since PostgreSQL 9.1).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func pgErrCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
