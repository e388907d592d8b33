package batch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// Config configures an Agent.
type Config struct {
	// Store lists the active tenants and records runs and their results.
	// Required.
	Store *controlplane.Store
	// Queue enqueues batch:run tasks (scheduler role). Required to
	// register the schedule.
	Queue *queue.Client
	// Scope runs the jobs' SQL scoped to their tenant: the fleet passes
	// sessions.TenantPools, so every job logs in as its tenant's own
	// role. Required to run jobs (worker role).
	Scope Scope
	// Kinds are the job kinds, by distinct name. Default none.
	Kinds []Kind
	// Logger receives the agent's logs. Default slog.Default().
	Logger *slog.Logger
}

// Agent schedules and runs the batch job kinds.
type Agent struct {
	cfg   Config
	kinds map[string]Kind
	order []string
}

// New validates cfg and its kinds.
func New(cfg Config) (*Agent, error) {
	if cfg.Store == nil {
		return nil, errors.New("batch: config needs a Store")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	a := &Agent{cfg: cfg, kinds: map[string]Kind{}}
	for _, k := range cfg.Kinds {
		k, err := k.withDefaults()
		if err != nil {
			return nil, err
		}
		if _, dup := a.kinds[k.Name]; dup {
			return nil, fmt.Errorf("batch: kind %s registered twice", k.Name)
		}
		a.kinds[k.Name] = k
		a.order = append(a.order, k.Name)
	}
	return a, nil
}

// Kinds returns the registered kinds (with defaults filled) in
// registration order.
func (a *Agent) Kinds() []Kind {
	out := make([]Kind, 0, len(a.order))
	for _, name := range a.order {
		out = append(out, a.kinds[name])
	}
	return out
}

// Upcoming is one tenant's next run of one kind.
type Upcoming struct {
	// TenantID is the tenant.
	TenantID string `json:"tenant_id"`
	// Kind is the job kind.
	Kind string `json:"kind"`
	// Slot is the tenant's stagger slot, in [0, Slots).
	Slot int `json:"slot"`
	// NextRun is its next run time after the time asked about (UTC).
	NextRun time.Time `json:"next_run"`
}

// Upcoming lists the next run of every kind for the active tenants (one
// tenant when tenantID is set), by tenant then kind.
func (a *Agent) Upcoming(ctx context.Context, tenantID string, now time.Time) ([]Upcoming, error) {
	ids, err := a.activeTenants(ctx)
	if err != nil {
		return nil, err
	}
	if tenantID != "" {
		if !slices.Contains(ids, tenantID) {
			return nil, fmt.Errorf("batch: %w: %s is not an active tenant", tenants.ErrTenantNotFound, tenantID)
		}
		ids = []string{tenantID}
	}
	var out []Upcoming
	for _, id := range ids {
		for _, name := range a.order {
			k := a.kinds[name]
			out = append(out, Upcoming{TenantID: id, Kind: name, Slot: Slot(id), NextRun: k.Timing.NextRun(id, now)})
		}
	}
	return out, nil
}

// activeTenants lists the ids of the active tenants, sorted.
func (a *Agent) activeTenants(ctx context.Context) ([]string, error) {
	list, err := a.cfg.Store.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantActive})
	if err != nil {
		return nil, fmt.Errorf("batch: list tenants: %w", err)
	}
	ids := make([]string, len(list))
	for i, t := range list {
		ids[i] = t.ID
	}
	return ids, nil
}
