package alerts

import (
	"fmt"
	"regexp"
)

// Kind names what an alert is about.
type Kind string

// The kinds the fleet raises. A checker may raise others (any name
// matching kindPattern), with DefaultSeverity warning.
const (
	// PoolExhausted: a pool has waiters while every slot is held, acquire
	// timeouts, or a tenant at its in-flight cap. Subject: the pool.
	PoolExhausted Kind = "pool_exhausted"
	// InstanceDown: an instance does not answer. Subject: the instance
	// id. It inhibits the tenant-level alerts of the instance.
	InstanceDown Kind = "instance_down"
	// ConnectionsHigh: connections near max_connections.
	ConnectionsHigh Kind = "connections_high"
	// IdleInTransactionTerminated: a session idle in a transaction past
	// the timeout was terminated.
	IdleInTransactionTerminated Kind = "idle_in_transaction_terminated"
	// BlockingChain: sessions wait on a lock held by a root blocker.
	BlockingChain Kind = "blocking_chain"
	// ReplicationLag: a replica lags its primary.
	ReplicationLag Kind = "replication_lag"
	// XIDAgeHigh: a tenant schema's oldest unfrozen transaction id is old.
	XIDAgeHigh Kind = "xid_age_high"
	// CapacityHigh: an instance is filled past the capacity threshold.
	CapacityHigh Kind = "capacity_high"
	// OnboardingFailed: a tenant's onboarding failed.
	OnboardingFailed Kind = "onboarding_failed"
	// MigrationFailed: a tenant's schema migration failed.
	MigrationFailed Kind = "migration_failed"
)

// Kinds lists the fleet's own kinds.
var Kinds = []Kind{PoolExhausted, InstanceDown, ConnectionsHigh, IdleInTransactionTerminated, BlockingChain,
	ReplicationLag, XIDAgeHigh, CapacityHigh, OnboardingFailed, MigrationFailed}

// Severity ranks an alert: critical pages, warning and info notify.
type Severity string

// Severities.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// DefaultSeverity is the severity of a kind when the condition names none.
func DefaultSeverity(k Kind) Severity {
	switch k {
	case PoolExhausted, InstanceDown, BlockingChain, XIDAgeHigh:
		return Critical
	case IdleInTransactionTerminated:
		return Info
	}
	return Warning
}

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)

func (k Kind) validate() error {
	if !kindPattern.MatchString(string(k)) {
		return fmt.Errorf("%w: kind %q must be lowercase letters, digits and _ (2 to 63)", ErrInvalid, string(k))
	}
	return nil
}

func (s Severity) validate() error {
	switch s {
	case Critical, Warning, Info:
		return nil
	}
	return fmt.Errorf("%w: severity %q must be critical, warning or info", ErrInvalid, string(s))
}
