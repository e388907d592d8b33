package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// ErrInvalidSpec marks a Spec the runner refuses; nothing was started.
var ErrInvalidSpec = errors.New("migrate: invalid run spec")

// ErrNoTenants reports a Spec that selects no tenant.
var ErrNoTenants = errors.New("migrate: no tenant to migrate")

// Spec says what a run migrates, where, and how fast.
type Spec struct {
	// Tenants limits the run to these tenant ids. Default: every active
	// tenant (of Instance, when set).
	Tenants []string `json:"tenants,omitempty"`
	// Instance limits the run to the tenants of one instance. Default:
	// every instance.
	Instance string `json:"instance,omitempty"`
	// Version is the target version. Default 0: the latest of the
	// Migrator's set.
	Version int64 `json:"version,omitempty"`
	// Concurrency is the most tenants migrating at once on one instance,
	// across every worker of the fleet. Default 5; 1 to MaxConcurrency.
	Concurrency int `json:"concurrency,omitempty"`
	// Canary migrates this many tenants first; if one of them fails the
	// run stops before the others start. Default 0: no canary. At most
	// MaxCanary; a canary of at least the number of selected tenants
	// migrates them all at once (no canary phase).
	Canary int `json:"canary,omitempty"`
	// CPUThreshold pauses an instance whose CPU is above it, in percent.
	// Default 70; above 0 and at most 100.
	CPUThreshold float64 `json:"cpu_threshold,omitempty"`
	// LagThreshold pauses an instance whose replicas lag more. Default
	// 10s; at most MaxLagThreshold.
	LagThreshold time.Duration `json:"lag_threshold,omitempty"`
	// RequestedBy names who started the run, for the record.
	RequestedBy string `json:"requested_by,omitempty"`
	// Statement, when set, is run in each tenant's schema instead of the
	// migration set: only a statement CreateIndexStatement or
	// DropIndexStatement builds (fleet
	// cost apply). Never decoded from a request body (the API's spec has
	// no such field); it is part of the idempotency fingerprint.
	Statement string `json:"statement,omitempty"`
}

func (s Spec) withDefaults() Spec {
	s.Concurrency = cmp.Or(s.Concurrency, DefaultConcurrency)
	s.CPUThreshold = cmp.Or(s.CPUThreshold, DefaultCPUThreshold)
	s.LagThreshold = cmp.Or(s.LagThreshold, DefaultLagThreshold)
	return s
}

// Bounds of a Spec, checked for the CLI and the API alike.
const (
	// MaxConcurrency bounds Spec.Concurrency: more tenants migrating at
	// once on one instance is no throttle at all.
	MaxConcurrency = 100
	// MaxCanary bounds Spec.Canary.
	MaxCanary = 1000
	// MaxLagThreshold bounds Spec.LagThreshold.
	MaxLagThreshold = time.Hour
	// maxRequestedBy bounds Spec.RequestedBy, which may come from an HTTP
	// header.
	maxRequestedBy = 200
)

func (s Spec) validate(versions []int64) error {
	var errs []error
	if s.Concurrency < 1 || s.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d: must be between 1 and %d", s.Concurrency, MaxConcurrency))
	}
	if s.Canary < 0 || s.Canary > MaxCanary {
		errs = append(errs, fmt.Errorf("canary %d: must be between 0 and %d", s.Canary, MaxCanary))
	}
	if !(s.CPUThreshold > 0 && s.CPUThreshold <= 100) { // NaN included
		errs = append(errs, fmt.Errorf("cpu threshold %g: want above 0 and at most 100", s.CPUThreshold))
	}
	if s.LagThreshold < 0 || s.LagThreshold > MaxLagThreshold {
		errs = append(errs, fmt.Errorf("lag threshold %s: must be between 0 and %s", s.LagThreshold, MaxLagThreshold))
	}
	if s.Statement != "" {
		if err := ValidateStatement(s.Statement); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Version != 0 && !slices.Contains(versions, s.Version) {
		errs = append(errs, fmt.Errorf("version %d: not in the migration set %v", s.Version, versions))
	}
	for _, id := range s.Tenants {
		if err := tenants.ValidateID(id); err != nil {
			errs = append(errs, err)
		}
	}
	if !plainText(s.RequestedBy, maxRequestedBy) {
		errs = append(errs, fmt.Errorf("requested_by: at most %d characters, no control characters", maxRequestedBy))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return nil
}

// plainText reports whether s is at most limit characters of UTF-8 with no
// control characters: safe to store and to log.
func plainText(s string, limit int) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= limit && strings.IndexFunc(s, unicode.IsControl) < 0
}

// Start records a run and enqueues its tenants (only the canary ones when
// Canary is set), then returns the run id without waiting. Only active
// tenants placed on an instance are migrated; a tenant named in
// spec.Tenants that is not one is an error.
func (r *Runner) Start(ctx context.Context, spec Spec) (int64, error) {
	st, err := r.StartOnce(ctx, "", spec)
	return st.ID, err
}

// start is Start and StartOnce: key is the idempotency key ("" for none),
// sum the spec's fingerprint.
func (r *Runner) start(ctx context.Context, spec Spec, key string, sum []byte) (Started, error) {
	target := cmp.Or(spec.Version, r.cfg.Migrator.Latest())
	list, err := r.selectTenants(ctx, spec)
	if err != nil {
		return Started{}, err
	}
	canary := min(spec.Canary, len(list))
	phase, canaryRows := phaseMain, 0
	if canary > 0 && canary < len(list) {
		phase, canaryRows = phaseCanary, canary
	}
	members := make([]controlplane.MigrationRunMember, len(list))
	for i, t := range list {
		members[i] = controlplane.MigrationRunMember{TenantID: t.ID, InstanceID: t.InstanceID}
	}
	runID, err := r.store.CreateMigrationRun(ctx, controlplane.NewMigrationRun{Phase: phase, TargetVersion: target,
		InstanceID: spec.Instance, Concurrency: spec.Concurrency, Canary: canary, CPUThreshold: spec.CPUThreshold,
		LagThreshold: spec.LagThreshold, RequestedBy: spec.RequestedBy, Statement: spec.Statement, IdempotencyKey: key, RequestSHA256: sum,
		Tenants: members, CanaryTenants: canaryRows})
	if errors.Is(err, controlplane.ErrIdempotencyKeyTaken) {
		// A request with the same key committed while this one selected
		// its tenants.
		st, found, err := r.runByKey(ctx, key, sum)
		if err == nil && !found {
			err = errors.New("migrate: record run: idempotency key conflict, but no run has the key")
		}
		return st, err
	}
	if err != nil {
		return Started{}, fmt.Errorf("migrate: %w", err)
	}
	r.log.InfoContext(ctx, "migration run started", slog.Int64("run", runID), slog.Int("tenants", len(list)),
		slog.Int64("target", target), slog.Int("concurrency", spec.Concurrency), slog.Int("canary", canary))
	first := make([]queued, 0, len(list))
	for i, t := range list {
		if phase == phaseCanary && i >= canary {
			break
		}
		first = append(first, queued{TenantID: t.ID})
	}
	started := Started{ID: runID, Status: RunRunning}
	if err := r.enqueueAll(ctx, runID, first, 0, joinChain); err != nil {
		return started, fmt.Errorf("%w (run %d is recorded: the reconciler enqueues the rest)", err, runID)
	}
	return started, nil
}

// selectTenants returns the active, placed tenants spec selects, by id.
func (r *Runner) selectTenants(ctx context.Context, spec Spec) ([]controlplane.Tenant, error) {
	all, err := r.store.ListTenants(ctx, controlplane.TenantFilter{Status: tenants.TenantActive, InstanceID: spec.Instance})
	if err != nil {
		return nil, err
	}
	placed := all[:0]
	for _, t := range all {
		if t.InstanceID != "" && t.Schema != "" && t.Role != "" {
			placed = append(placed, t)
		}
	}
	if len(spec.Tenants) == 0 {
		if len(placed) == 0 {
			return nil, ErrNoTenants
		}
		return placed, nil
	}
	byID := make(map[string]controlplane.Tenant, len(placed))
	for _, t := range placed {
		byID[t.ID] = t
	}
	var out []controlplane.Tenant
	var missing []string
	seen := map[string]bool{}
	for _, id := range spec.Tenants {
		if seen[id] {
			continue
		}
		seen[id] = true
		t, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		out = append(out, t)
	}
	if len(missing) > 0 {
		where := ""
		if spec.Instance != "" {
			where = " on instance " + spec.Instance
		}
		return nil, fmt.Errorf("%w: not active and placed%s: %s", ErrInvalidSpec, where, strings.Join(missing, ", "))
	}
	return out, nil
}
