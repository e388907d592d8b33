package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Report is what one sweep of one instance found.
type Report struct {
	// Instance is the instance's health as stored.
	Instance controlplane.InstanceHealth `json:"instance"`
	// Tenants are the per-tenant figures of the active tenants on it.
	Tenants []controlplane.TenantHealth `json:"tenants"`
	// Drained are the sessions this sweep terminated.
	Drained []controlplane.Drain `json:"drained,omitempty"`
	// Details are the report's lists, also stored with the instance.
	Details Details `json:"details"`
}

// Details are the lists of a report.
type Details struct {
	// Chains are the blocking chains, largest first.
	Chains []Chain `json:"chains,omitempty"`
	// Replicas are the instance's streaming replicas and their lag.
	Replicas []Replica `json:"replicas,omitempty"`
	// LongQueries are the queries running past the long-query threshold.
	LongQueries []LongQuery `json:"long_queries,omitempty"`
	// DatabaseBytes is the instance database's size.
	DatabaseBytes int64 `json:"database_bytes"`
}

// Replica is one row of pg_stat_replication (named by application_name),
// or one catalog replica of the instance (named by its id, Catalog true),
// read on the replica itself (replicas.go).
type Replica struct {
	Name       string  `json:"name"`
	LagSeconds float64 `json:"lag_seconds"`
	// Catalog marks a catalog replica.
	Catalog bool `json:"catalog,omitempty"`
	// Error is why a catalog replica's lag could not be read (an error
	// class: down, not_standby, not_streaming); such a replica counts as
	// lagging.
	Error string `json:"error,omitempty"`
}

// LongQuery is a session running one query past the threshold. The query
// text is not kept.
type LongQuery struct {
	PID     int     `json:"pid"`
	Tenant  string  `json:"tenant,omitempty"`
	User    string  `json:"user"`
	Seconds float64 `json:"seconds"`
}

// replicationSQL reads the replicas' replay lag.
const replicationSQL = `SELECT coalesce(nullif(application_name, ''), client_addr::text, pid::text),
	coalesce(extract(epoch FROM replay_lag), 0)::float8 FROM pg_catalog.pg_stat_replication`

// readOnlyBegin starts the sweep's read transaction with only pg_catalog
// (and the session's own empty pg_temp, last) on the search path, in one
// round trip.
const readOnlyBegin = `BEGIN READ ONLY; SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`

// terminateSQL terminates the sessions of $1 that are still idle in a
// transaction since before $2 seconds ago, and returns those it
// terminated. The OFFSET 0 keeps the filter ahead of the terminate call.
const terminateSQL = `SELECT pid FROM (
	SELECT pid FROM pg_catalog.pg_stat_activity
	WHERE pid = ANY($1) AND state IN ('idle in transaction', 'idle in transaction (aborted)')
	  AND state_change < pg_catalog.now() - pg_catalog.make_interval(secs => $2)
	OFFSET 0) s
WHERE pg_catalog.pg_terminate_backend(s.pid)`

// Sweep checks one instance now, stores what it found and observes every
// alert condition of the instance and its tenants. A down instance is a
// finding, not an error: the error is for a sweep that could not be
// recorded.
func (a *Agent) Sweep(ctx context.Context, instanceID string) (Report, error) {
	if a.cfg.Sessions == nil {
		return Report{}, errors.New("health: sweeping needs Sessions")
	}
	inst, err := a.cfg.Store.GetInstance(ctx, instanceID)
	if err != nil {
		return Report{}, fmt.Errorf("health: sweep %s: %w", instanceID, err)
	}
	placed, err := a.cfg.Store.ListTenants(ctx, controlplane.TenantFilter{InstanceID: instanceID})
	if err != nil {
		return Report{}, fmt.Errorf("health: sweep %s: %w", instanceID, err)
	}
	active := slices.DeleteFunc(placed, func(t controlplane.Tenant) bool {
		return t.Status != tenants.TenantActive || t.Role == "" || t.Schema == ""
	})
	rep := Report{Instance: controlplane.InstanceHealth{InstanceID: instanceID, CheckedAt: time.Now().UTC()}}

	pool, rtt, pingErr := a.ping(ctx, inst)
	if pingErr != nil {
		rep.Instance.Error = errorClass(pingErr)
		if err := a.cfg.Store.RecordInstanceHealth(ctx, rep.Instance); err != nil {
			return rep, err
		}
		return rep, a.observe(ctx, inst, active, rep)
	}
	rep.Instance.Up, rep.Instance.PingSeconds = true, rtt.Seconds()

	act, byTenant, replicas, err := a.read(ctx, pool, active)
	if err != nil {
		// Answered the ping but not the sweep: recorded as down, with why.
		rep.Instance.Up, rep.Instance.Error = false, errorClass(err)
		if rerr := a.cfg.Store.RecordInstanceHealth(ctx, rep.Instance); rerr != nil {
			return rep, rerr
		}
		return rep, a.observe(ctx, inst, active, rep)
	}
	a.summarise(&rep, inst, active, act, byTenant, append(replicas, a.catalogReplicas(ctx, inst, rep.Instance.CheckedAt)...))
	if rep.Drained, err = a.drain(ctx, pool, inst.ID, act.sessions); err != nil {
		a.cfg.Logger.WarnContext(ctx, "health: drain failed", "instance", inst.ID, "error", errorClass(err))
	}
	if rep.Instance.Details, err = json.Marshal(rep.Details); err != nil {
		return rep, err
	}
	if err := a.cfg.Store.RecordInstanceHealth(ctx, rep.Instance); err != nil {
		return rep, err
	}
	if err := a.cfg.Store.ReplaceTenantHealth(ctx, inst.ID, rep.Instance.CheckedAt, rep.Tenants); err != nil {
		return rep, err
	}
	return rep, a.observe(ctx, inst, active, rep)
}

// ping opens (or reuses) the admin pool and runs one round trip within
// PingTimeout.
func (a *Agent) ping(ctx context.Context, inst controlplane.Instance) (*pgxpool.Pool, time.Duration, error) {
	pctx, cancel := context.WithTimeout(ctx, a.cfg.PingTimeout)
	defer cancel()
	pool, err := a.cfg.Sessions.Admin(pctx, inst)
	if err != nil {
		return nil, 0, err
	}
	// A connection is made first, outside the timing: latency is the
	// round trip.
	conn, err := pool.Acquire(pctx)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Release()
	start := time.Now()
	if err := conn.Ping(pctx); err != nil {
		return nil, 0, err
	}
	return pool, time.Since(start), nil
}

// read runs the sweep's reads in one read-only transaction and one round
// trip: pg_stat_activity, the catalog check of every tenant, and the
// replicas. It attributes sessions to tenants.
func (a *Agent) read(ctx context.Context, pool *pgxpool.Pool, active []controlplane.Tenant) (activity, map[string]controlplane.TenantHealth, []Replica, error) {
	var (
		act      activity
		byTenant map[string]controlplane.TenantHealth
		replicas []Replica
	)
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{BeginQuery: readOnlyBegin}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(activitySQL)
		b.Queue(catalogSQL, catalogArgs(active, a.appRole)...)
		b.Queue(replicationSQL)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var s session
			if err := rows.Scan(&s.pid, &s.user, &s.appName, &s.state, &s.here, &s.xactAge, &s.stateAge,
				&s.queryAge, &s.blockedBy, &act.maxConnections, &act.databaseBytes); err != nil {
				rows.Close()
				return err
			}
			if s.pid != 0 {
				act.sessions = append(act.sessions, s)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		if byTenant, err = scanCatalog(rows); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		replicas, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Replica, error) {
			var rp Replica
			err := r.Scan(&rp.Name, &rp.LagSeconds)
			return rp, err
		})
		return err
	})
	if err != nil {
		return activity{}, nil, nil, err
	}
	a.attribute(act.sessions, active)
	return act, byTenant, replicas, nil
}

// attribute names each session's tenant: by its user when it logged in as
// a tenant's role, else by its application_name when a shared pool's
// scoping set it to the tenant's role (tenants.Pools does, transaction
// locally). Only sessions on the instance's database are attributed.
func (a *Agent) attribute(sessions []session, active []controlplane.Tenant) {
	byRole := make(map[string]string, len(active))
	for _, t := range active {
		byRole[t.Role] = t.ID
	}
	for i := range sessions {
		s := &sessions[i]
		if !s.here {
			continue
		}
		if id, ok := byRole[s.user]; ok {
			s.tenant = id
		} else if id, ok := byRole[s.appName]; ok {
			s.tenant = id
		}
	}
}

// summarise turns the reads into the report.
func (a *Agent) summarise(rep *Report, inst controlplane.Instance, active []controlplane.Tenant,
	act activity, byTenant map[string]controlplane.TenantHealth, replicas []Replica) {
	h := &rep.Instance
	h.MaxConnections = act.maxConnections
	conns := map[string]int{}
	for _, s := range act.sessions {
		h.ServerConnections++
		if !s.here {
			continue
		}
		h.Connections++
		if s.tenant != "" {
			conns[s.tenant]++
		}
		if s.idleInTx() {
			h.IdleInTransaction++
		}
		if len(s.blockedBy) > 0 {
			h.Blocked++
		}
		if s.state == "active" && secs(s.queryAge) >= a.cfg.LongQuery {
			h.LongRunning++
			rep.Details.LongQueries = append(rep.Details.LongQueries, LongQuery{PID: s.pid, Tenant: s.tenant, User: s.user, Seconds: s.queryAge})
		}
	}
	rep.Details.Chains = chains(act.sessions)
	rep.Details.Replicas = replicas
	rep.Details.DatabaseBytes = act.databaseBytes
	h.CapacityRatio = provider.CapacityOf(inst.Instance,
		provider.Usage{Connections: h.Connections, StorageBytes: act.databaseBytes}, len(active), inst.MaxTenants).Ratio()
	for _, t := range active {
		th, ok := byTenant[t.ID]
		if !ok {
			th = controlplane.TenantHealth{TenantID: t.ID, Problems: []string{"not checked"}}
		}
		th.InstanceID, th.CheckedAt, th.Connections = inst.ID, h.CheckedAt, conns[t.ID]
		rep.Tenants = append(rep.Tenants, th)
	}
}

// drain terminates the fleet's sessions (the application role's and the
// tenant roles') on the instance's database that sit idle in a
// transaction past IdleInTxTimeout, and records each one terminated.
// Other sessions (a DBA's) are left alone.
func (a *Agent) drain(ctx context.Context, pool *pgxpool.Pool, instanceID string, sessions []session) ([]controlplane.Drain, error) {
	candidates := map[int]session{}
	var pids []int32
	for _, s := range sessions {
		if s.here && s.idleInTx() && secs(s.stateAge) >= a.cfg.IdleInTxTimeout && (s.tenant != "" || s.user == a.appRole) {
			candidates[s.pid] = s
			pids = append(pids, int32(s.pid)) //nolint:gosec // a pid
		}
	}
	if len(pids) == 0 {
		return nil, nil
	}
	rows, err := pool.Query(ctx, terminateSQL, pids, a.cfg.IdleInTxTimeout.Seconds())
	if err != nil {
		return nil, err
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := make([]controlplane.Drain, 0, len(done))
	for _, pid := range done {
		s := candidates[int(pid)]
		d, err := a.cfg.Store.RecordDrain(ctx, controlplane.Drain{
			InstanceID: instanceID, TenantID: s.tenant, PID: s.pid, UserName: s.user,
			IdleSeconds: s.stateAge, XactSeconds: s.xactAge,
		})
		if err != nil {
			return out, err
		}
		a.cfg.Logger.InfoContext(ctx, "health: terminated a session idle in transaction",
			"instance", instanceID, "tenant", s.tenant, "pid", s.pid, "idle_seconds", int(s.stateAge))
		out = append(out, d)
	}
	return out, nil
}

// errorClass names what went wrong without the error's text, which may
// carry a host, user or database name.
func errorClass(err error) string {
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &pgErr):
		return "server error " + pgErr.Code
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, controlplane.ErrInstanceNotFound):
		return "unknown instance"
	}
	return "unreachable"
}
