package queue

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The payloads of the periodic tasks the scheduler role enqueues. Each
// carries the slot it was enqueued for, which is also in its task id
// (PeriodicTaskID), so a handler can tell a late task from a current one.

// HealthSweepPayload asks the health agent to check one instance, for the
// slot Slot (UTC).
type HealthSweepPayload struct {
	// InstanceID is the control-plane instance id.
	InstanceID string `json:"instance_id"`
	// Slot is the scheduler slot the sweep belongs to.
	Slot time.Time `json:"slot"`
}

// Validate implements Payload.
func (p HealthSweepPayload) Validate() error {
	if p.InstanceID == "" {
		return errors.New("instance_id is required")
	}
	return validSlot(p.Slot)
}

// PoolWatchPayload asks for one pass over the published pool statistics,
// for the slot Slot (UTC).
type PoolWatchPayload struct {
	// Slot is the scheduler slot of the pass.
	Slot time.Time `json:"slot"`
}

// Validate implements Payload.
func (p PoolWatchPayload) Validate() error { return validSlot(p.Slot) }

// CostAnalyzePayload asks for a cost analysis of the fleet: the daily one
// for the slot Slot (UTC), or one requested now (`fleet cost analyze`,
// Slot the time of the request).
type CostAnalyzePayload struct {
	// Slot is the scheduler slot of the analysis, or the request's time.
	Slot time.Time `json:"slot"`
	// RequestedBy names who asked for a requested analysis, for the log;
	// empty for the scheduler's.
	RequestedBy string `json:"requested_by,omitempty"`
}

// MaxRequestedBy bounds CostAnalyzePayload.RequestedBy, in characters.
const MaxRequestedBy = 200

// Validate implements Payload: RequestedBy is at most MaxRequestedBy
// characters of UTF-8 without control characters (it is logged).
func (p CostAnalyzePayload) Validate() error {
	if !utf8.ValidString(p.RequestedBy) || utf8.RuneCountInString(p.RequestedBy) > MaxRequestedBy ||
		strings.ContainsFunc(p.RequestedBy, unicode.IsControl) {
		return fmt.Errorf("requested_by: at most %d characters of UTF-8, no control characters", MaxRequestedBy)
	}
	return validSlot(p.Slot)
}

// batchKindPattern is a batch job kind's name: lowercase words joined by
// '-', at most 40 characters, so it is safe in task ids and logs.
var batchKindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// ValidBatchKind reports whether name can name a batch job kind.
func ValidBatchKind(name string) bool { return len(name) <= 40 && batchKindPattern.MatchString(name) }

// BatchRunPayload asks the batch agent to run one job kind for one tenant,
// for the tenant's slot time Slot (UTC) within the kind's period.
type BatchRunPayload struct {
	// Kind is the registered job kind.
	Kind string `json:"kind"`
	// TenantID is the tenant the job runs for.
	TenantID string `json:"tenant_id"`
	// Slot is the tenant's staggered run time.
	Slot time.Time `json:"slot"`
}

// Validate implements Payload.
func (p BatchRunPayload) Validate() error {
	if !ValidBatchKind(p.Kind) {
		return errors.New("kind must be lowercase words joined by '-', at most 40 characters")
	}
	if p.TenantID == "" {
		return errors.New("tenant_id is required")
	}
	return validSlot(p.Slot)
}

func validSlot(t time.Time) error {
	if t.IsZero() {
		return errors.New("slot is required")
	}
	return nil
}
