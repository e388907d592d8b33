// Package load tells the migration runner's throttle how busy an instance
// is. The throttle reads every instance through one small interface,
// Source, so the same runner works on a laptop (subpackage pgstat: the
// server's own statistics views), on RDS (subpackage cloudwatch: the
// AWS/RDS metrics) and in tests (subpackage loadfake).
package load

import (
	"context"
	"errors"
	"time"
)

// Source reads the current load of an instance.
type Source interface {
	// Load returns the latest reading for target. A source that has no
	// data for target yet returns an error wrapping ErrNoData; a backend
	// that cannot answer now returns one wrapping ErrUnavailable.
	Load(ctx context.Context, target Target) (Reading, error)
}

// Target names the instance to read, in the terms each source needs.
type Target struct {
	// ID is tenantfleet's instance id, for logs and Static.
	ID string
	// ProviderRef is the provider's handle: the RDS DB instance
	// identifier the cloudwatch source queries.
	ProviderRef string
	// Database, when set, narrows the pgstat source's backend count to
	// one database: the local provider's instances are databases on one
	// server. Ignored by cloudwatch.
	Database string
	// Replicas are the provider handles of the instance's read replicas,
	// whose lag the cloudwatch source reads (an RDS primary publishes no
	// ReplicaLag of its own). Ignored by pgstat, which reads
	// pg_stat_replication on the primary.
	Replicas []string
}

// Reading is one observation of an instance's load.
type Reading struct {
	// CPUPercent is 0 to 100: CloudWatch's CPUUtilization, or for pgstat
	// active client backends per core, scaled and capped at 100.
	CPUPercent float64
	// ReplicaLag is the largest replay lag among the instance's replicas;
	// 0 when it has none.
	ReplicaLag time.Duration
	// At is when the reading was taken (for cloudwatch, the datapoint's
	// timestamp, which may be a minute or more old).
	At time.Time
}

// Sentinel errors of sources.
var (
	// ErrNoData reports that the source has no recent data for the target.
	ErrNoData = errors.New("load: no data")
	// ErrUnavailable reports that the source's backend cannot answer now
	// (throttled, down); retry later.
	ErrUnavailable = errors.New("load: source unavailable")
)
