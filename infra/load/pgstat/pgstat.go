// Package pgstat is the load source that asks PostgreSQL itself: "CPU" is
// the number of active client backends per core, scaled to 0-100, and
// replica lag is the largest replay_lag in pg_stat_replication. It needs
// no cloud metrics, so the migration runner's throttle works on a laptop
// and in CI; on a server shared by other workloads it sees only
// PostgreSQL's share of the load.
package pgstat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenantfleet/tenantfleet/infra/load"
)

// Querier is the part of a pgx pool or connection the source uses.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Config configures a Source.
type Config struct {
	// DB is a connection (usually a pool) to the server to read, in any
	// database. Required. The role needs pg_read_all_stats (or superuser)
	// to see other roles' backends and replication lag.
	DB Querier
	// Cores is the server's CPU count, the denominator of the CPU figure.
	// Default runtime.NumCPU(), right when the server runs on this
	// machine; set it for a remote server.
	Cores int
	// IgnoreApplications are application_name values whose backends do not
	// count as load, such as the migration runner's own sessions (which
	// would otherwise make a run throttle itself). Default none.
	IgnoreApplications []string
	// Now stamps readings. Default time.Now.
	Now func() time.Time
}

// Source reads load from PostgreSQL's statistics views. It is safe for
// concurrent use.
type Source struct {
	db     Querier
	cores  int
	ignore []string
	now    func() time.Time
}

var _ load.Source = (*Source)(nil)

// New validates cfg and returns a Source.
func New(cfg Config) (*Source, error) {
	cfg.Cores = cmp.Or(cfg.Cores, runtime.NumCPU())
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.DB == nil {
		errs = append(errs, errors.New("db: required"))
	}
	if cfg.Cores < 0 {
		errs = append(errs, fmt.Errorf("cores %d: must be positive", cfg.Cores))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pgstat source config: %w", err)
	}
	return &Source{db: cfg.DB, cores: cfg.Cores, ignore: append([]string{}, cfg.IgnoreApplications...), now: cfg.Now}, nil
}

// loadSQL counts active client backends other than its own (all databases
// when $1 is empty, else that database) and the largest replay lag in
// seconds.
const loadSQL = `
SELECT
  (SELECT count(*)::int FROM pg_stat_activity
    WHERE state = 'active' AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()
      AND ($1 = '' OR datname = $1)
      AND application_name <> ALL ($2::text[])),
  (SELECT coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 FROM pg_stat_replication)`

// Load reads the server's current load. With target.Database set only that
// database's backends count (the local provider's instances are databases
// on one server); otherwise the whole server's.
func (s *Source) Load(ctx context.Context, target load.Target) (load.Reading, error) {
	var active int
	var lagSeconds float64
	if err := s.db.QueryRow(ctx, loadSQL, target.Database, s.ignore).Scan(&active, &lagSeconds); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
			return load.Reading{}, fmt.Errorf("pgstat: load %s: %w", target.ID, err)
		}
		return load.Reading{}, fmt.Errorf("pgstat: load %s: %w: %w", target.ID, load.ErrUnavailable, err)
	}
	return load.Reading{
		CPUPercent: min(100, float64(active)*100/float64(s.cores)),
		ReplicaLag: time.Duration(lagSeconds * float64(time.Second)),
		At:         s.now(),
	}, nil
}
