package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplicaRoute is a ready read replica of an instance, where read-only
// work of the instance's tenants may go. It is a physical copy of the
// instance: the same database, roles and schemas, another host and port.
type ReplicaRoute struct {
	// ID is the replica's id; InstanceID the instance it replicates.
	ID         string
	InstanceID string
	// Host and Port are where the replica listens.
	Host string
	Port int
}

// ReplicaSource lists the ready replicas of an instance.
// *controlplane.Store is the fleet's (its replicas table).
type ReplicaSource interface {
	// ReplicaRoutes returns the ready replicas of instanceID; none is not
	// an error.
	ReplicaRoutes(ctx context.Context, instanceID string) ([]ReplicaRoute, error)
}

// ErrNotStandby means a replica's server is not in recovery: it was
// promoted, or the catalog names the wrong server. Its lag is unknown and
// no read-only work goes to it.
var ErrNotStandby = errors.New("tenants: replica is not a standby")

// StandbyLag is one reading of a standby's replay lag.
type StandbyLag struct {
	// Lag is how far replay trails what the standby received: 0 when it
	// has replayed everything received, else the time since the last
	// replayed transaction committed on the primary (since the standby
	// started, when it has replayed none yet).
	Lag time.Duration
	// PendingBytes is the WAL received but not replayed yet.
	PendingBytes int64
	// Streaming is whether a WAL receiver is running. A standby that is
	// not streaming may be arbitrarily behind while reporting no pending
	// WAL: callers treat it as lagging without bound.
	Streaming bool
}

// standbyLagSQL reads a standby's lag with schema-qualified functions and
// no operators, so it runs safely in any session, a tenant's included
// (whose role may have set its own search_path).
const standbyLagSQL = `SELECT pg_catalog.pg_is_in_recovery(),
	coalesce(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(), pg_catalog.pg_last_wal_replay_lsn()), 0)::int8,
	coalesce(pg_catalog.pg_last_xact_replay_timestamp(), pg_catalog.pg_postmaster_start_time()), pg_catalog.statement_timestamp(),
	EXISTS (SELECT FROM pg_catalog.pg_stat_wal_receiver WHERE pid IS NOT NULL)`

// Querier is the part of a connection or pool ReadStandbyLag uses.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ReadStandbyLag reads the replay lag of the standby q is connected to. A
// server not in recovery fails with ErrNotStandby. It needs no privilege:
// the migration throttle, the health agent and Pools all read lag with it.
func ReadStandbyLag(ctx context.Context, q Querier) (StandbyLag, error) {
	var recovering, streaming bool
	var pending int64
	var replayed *time.Time
	var now time.Time
	if err := q.QueryRow(ctx, standbyLagSQL).Scan(&recovering, &pending, &replayed, &now, &streaming); err != nil {
		return StandbyLag{}, fmt.Errorf("tenants: read standby lag: %w", err)
	}
	if !recovering {
		return StandbyLag{}, ErrNotStandby
	}
	l := StandbyLag{PendingBytes: max(pending, 0), Streaming: streaming}
	if pending > 0 && replayed != nil {
		l.Lag = max(now.Sub(*replayed), 0)
	}
	return l, nil
}

// replicaState is what Pools know of one replica: its last lag reading,
// and until when it is skipped after a failure.
type replicaState struct {
	mu        sync.Mutex
	lag       time.Duration
	checked   time.Time
	healthy   bool
	skipUntil time.Time
}

// replicaList is an instance's ready replicas as last read.
type replicaList struct {
	routes  []ReplicaRoute
	fetched time.Time
}

// replicaRouting holds the replica lists and states of Pools.
type replicaRouting struct {
	mu     sync.Mutex
	lists  map[string]replicaList
	states map[string]*replicaState
	rr     uint64
}

// replicasOf returns the ready replicas of instanceID, read from the
// source at most every ReplicaListTTL. A source that fails yields none:
// read-only work then runs on the primary.
func (p *Pools) replicasOf(ctx context.Context, instanceID string) []ReplicaRoute {
	rt := &p.replicas
	rt.mu.Lock()
	l, ok := rt.lists[instanceID]
	rt.mu.Unlock()
	if ok && time.Since(l.fetched) < p.cfg.ReplicaListTTL {
		return l.routes
	}
	routes, err := p.cfg.Replicas.ReplicaRoutes(ctx, instanceID)
	if err != nil {
		p.cfg.Logger.WarnContext(ctx, "replica list unavailable, read-only work runs on the primary",
			slog.String("instance", instanceID), slog.Any("error", err))
		routes = nil
	}
	rt.mu.Lock()
	rt.lists[instanceID] = replicaList{routes: routes, fetched: time.Now()}
	rt.mu.Unlock()
	return routes
}

// state returns the state of replica id, creating it.
func (rt *replicaRouting) state(id string) *replicaState {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s, ok := rt.states[id]
	if !ok {
		s = &replicaState{}
		rt.states[id] = s
	}
	return s
}

// replicaCandidates returns the routes of route's replicas that are not
// being skipped, as routes of route's tenant (same role, schema and
// database; the replica's host and port), starting at a rotating one.
func (p *Pools) replicaCandidates(ctx context.Context, route Route) []Route {
	if p.cfg.Replicas == nil || route.InstanceID == "" {
		return nil
	}
	reps := p.replicasOf(ctx, route.InstanceID)
	if len(reps) == 0 {
		return nil
	}
	p.replicas.mu.Lock()
	start := int(p.replicas.rr % uint64(len(reps)))
	p.replicas.rr++
	p.replicas.mu.Unlock()
	now := time.Now()
	var out []Route
	for i := range reps {
		rep := reps[(start+i)%len(reps)]
		if rep.InstanceID != route.InstanceID || rep.Host == "" || rep.Port == 0 || ValidateID(rep.ID) != nil {
			continue
		}
		st := p.replicas.state(rep.ID)
		st.mu.Lock()
		skip := now.Before(st.skipUntil)
		st.mu.Unlock()
		if skip {
			continue
		}
		r := route
		r.Host, r.Port, r.ReplicaID = rep.Host, rep.Port, rep.ID
		out = append(out, r)
	}
	return out
}

// replicaUsable reports whether the replica l is connected to may serve
// read-only work now: its lag, read on l's connection at most every
// ReplicaCheckInterval, is within MaxReplicaLag and it is streaming. A
// replica that fails the check is skipped for ReplicaRetry.
func (p *Pools) replicaUsable(ctx context.Context, l *lease) bool {
	st := p.replicas.state(l.route.ReplicaID)
	st.mu.Lock()
	defer st.mu.Unlock()
	if time.Since(st.checked) < p.cfg.ReplicaCheckInterval {
		return st.healthy
	}
	lag, err := ReadStandbyLag(ctx, l.conn)
	st.checked = time.Now()
	st.lag = lag.Lag
	st.healthy = err == nil && lag.Streaming && lag.Lag <= p.cfg.MaxReplicaLag
	if !st.healthy {
		st.skipUntil = st.checked.Add(p.cfg.ReplicaRetry)
		p.cfg.Logger.InfoContext(ctx, "replica skipped, read-only work runs on the primary",
			slog.String("replica", l.route.ReplicaID), slog.String("instance", l.route.InstanceID),
			slog.Duration("lag", lag.Lag), slog.Bool("streaming", lag.Streaming), slog.Any("error", err))
	}
	return st.healthy
}

// replicaFailed skips the replica for ReplicaRetry after it could not be
// reached.
func (p *Pools) replicaFailed(ctx context.Context, r Route, err error) {
	st := p.replicas.state(r.ReplicaID)
	st.mu.Lock()
	st.healthy, st.checked, st.skipUntil = false, time.Now(), time.Now().Add(p.cfg.ReplicaRetry)
	st.mu.Unlock()
	p.cfg.Logger.InfoContext(ctx, "replica unreachable, read-only work runs on the primary",
		slog.String("replica", r.ReplicaID), slog.String("instance", r.InstanceID), slog.Any("error", err))
}

// acquireReadOnly borrows a connection for read-only work: on a usable
// replica of the tenant's instance when there is one, else on the
// primary. Admission errors of a replica's pool (it is full) are returned
// as they are: the replica's pool has its own budget, under the same
// rules as the primary's.
func (p *Pools) acquireReadOnly(ctx context.Context, route Route) (*lease, error) {
	for _, r := range p.replicaCandidates(ctx, route) {
		l, err := p.acquireRoute(ctx, r)
		var exhausted *PoolExhaustedError
		switch {
		case errors.As(err, &exhausted) || ctx.Err() != nil:
			return nil, err
		case err != nil:
			p.replicaFailed(ctx, r, err)
			continue
		}
		if p.replicaUsable(ctx, l) {
			return l, nil
		}
		l.release()
	}
	return p.acquireRoute(ctx, route)
}
