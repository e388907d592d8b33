package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// ErrNoOnboarding means the tenant has no onboarding progress record.
var ErrNoOnboarding = errors.New("controlplane: no onboarding recorded")

// Onboarding is the progress record of one tenant's onboarding saga
// (table tenant_onboarding, migration 00015). It has a foreign key to
// tenants: it is written once the tenant row exists.
type Onboarding struct {
	TenantID  string
	RequestID int64
	// Step is the last step that completed ("" before the first).
	Step string
	// Attempts counts the saga runs that reached the tenant row.
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// StartOnboarding records one more saga run for the tenant, on behalf of
// intake request requestID.
func (s *Store) StartOnboarding(ctx context.Context, tenantID string, requestID int64) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO tenant_onboarding (tenant_id, request_id, attempts)
		VALUES ($1, $2, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET request_id = excluded.request_id,
			attempts = tenant_onboarding.attempts + 1, updated_at = now()`, tenantID, requestID); err != nil {
		return fmt.Errorf("controlplane: record onboarding of %s: %w", tenantID, err)
	}
	return nil
}

// SetOnboardingStep records that step completed, clearing the last error.
func (s *Store) SetOnboardingStep(ctx context.Context, tenantID, step string) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenant_onboarding SET step = $2, last_error = '', updated_at = now()
		WHERE tenant_id = $1`, tenantID, step); err != nil {
		return fmt.Errorf("controlplane: record step %s of %s: %w", step, tenantID, err)
	}
	return nil
}

// SetOnboardingError records why the last saga run failed.
func (s *Store) SetOnboardingError(ctx context.Context, tenantID, message string) error {
	if _, err := s.db.Exec(ctx, `UPDATE tenant_onboarding SET last_error = $2, updated_at = now()
		WHERE tenant_id = $1`, tenantID, message); err != nil {
		return fmt.Errorf("controlplane: record error of %s: %w", tenantID, err)
	}
	return nil
}

// GetOnboarding returns the tenant's onboarding progress, or an error
// matching ErrNoOnboarding.
func (s *Store) GetOnboarding(ctx context.Context, tenantID string) (Onboarding, error) {
	var o Onboarding
	err := s.db.QueryRow(ctx, `SELECT tenant_id, request_id, step, attempts, last_error, updated_at
		FROM tenant_onboarding WHERE tenant_id = $1`, tenantID).
		Scan(&o.TenantID, &o.RequestID, &o.Step, &o.Attempts, &o.LastError, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Onboarding{}, fmt.Errorf("%w: %s", ErrNoOnboarding, tenantID)
	}
	if err != nil {
		return Onboarding{}, fmt.Errorf("controlplane: progress of %s: %w", tenantID, err)
	}
	return o, nil
}

// WaitingOnboarding is an onboarding in progress that an instance's
// outcome concerns.
type WaitingOnboarding struct {
	TenantID  string
	RequestID int64
}

// WaitingOn returns the onboardings in progress that instance instanceID
// (of tier) concerns: tenants placed on it, and, when it is shared, shared
// tenants not placed yet; oldest first.
func (s *Store) WaitingOn(ctx context.Context, instanceID string, tier tenants.Tier) ([]WaitingOnboarding, error) {
	rows, err := s.db.Query(ctx, `SELECT o.tenant_id, o.request_id FROM tenant_onboarding o
		JOIN tenants t ON t.id = o.tenant_id
		WHERE t.status = 'provisioning'
		  AND (t.instance_id = $1 OR (t.instance_id IS NULL AND t.tier = 'shared' AND $2 = 'shared'))
		ORDER BY o.started_at`, instanceID, string(tier))
	if err != nil {
		return nil, fmt.Errorf("controlplane: onboardings waiting on %s: %w", instanceID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitingOnboarding, error) {
		var w WaitingOnboarding
		err := r.Scan(&w.TenantID, &w.RequestID)
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: onboardings waiting on %s: %w", instanceID, err)
	}
	return out, nil
}
