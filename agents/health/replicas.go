package health

import (
	"context"
	"errors"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// catalogReplicas reads the replay lag of inst's ready catalog replicas
// on each replica, through an admin session (statistics only:
// tenants.ReadStandbyLag), and records each reading in the catalog, where
// the migration throttle and operators find it. A replica that cannot be
// read is reported with an error class, not as an error of the sweep.
func (a *Agent) catalogReplicas(ctx context.Context, inst controlplane.Instance, at time.Time) []Replica {
	reps, err := a.cfg.Store.ListReplicas(ctx, inst.ID)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "health: list replicas failed", "instance", inst.ID, "error", errorClass(err))
		return nil
	}
	var out []Replica
	for _, r := range reps {
		if r.Status != provider.StatusReady {
			continue
		}
		rp := Replica{Name: r.ID, Catalog: true}
		lag, err := a.replicaLag(ctx, inst, r)
		switch {
		case errors.Is(err, tenants.ErrNotStandby):
			rp.Error = "not_standby"
		case err != nil:
			rp.Error = errorClass(err)
		case !lag.Streaming:
			rp.Error = "not_streaming"
		default:
			rp.LagSeconds = lag.Lag.Seconds()
		}
		if err := a.cfg.Store.RecordReplicaLag(ctx, r.ID, lag.Lag, rp.Error, at); err != nil {
			a.cfg.Logger.WarnContext(ctx, "health: record replica lag failed", "replica", r.ID, "error", errorClass(err))
		}
		out = append(out, rp)
	}
	return out
}

// replicaLag reads one replica's lag within PingTimeout.
func (a *Agent) replicaLag(ctx context.Context, inst controlplane.Instance, r controlplane.Replica) (tenants.StandbyLag, error) {
	if r.Host == "" || r.Port == 0 {
		return tenants.StandbyLag{}, errors.New("no endpoint")
	}
	rctx, cancel := context.WithTimeout(ctx, a.cfg.PingTimeout)
	defer cancel()
	pool, err := a.cfg.Sessions.Admin(rctx, r.On(inst))
	if err != nil {
		return tenants.StandbyLag{}, err
	}
	return tenants.ReadStandbyLag(rctx, pool)
}
