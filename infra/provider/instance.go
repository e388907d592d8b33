package provider

// Status is the lifecycle state of an instance, as stored in the control
// plane's instances.status column: the one instance status of the fleet,
// shared by the providers and the control plane's store.
type Status string

// The states of an instance. A provider maps its backend's finer states onto
// these (an RDS "backing-up" or "modifying" instance still serves, so it is
// StatusReady).
const (
	// StatusCreating: the backend is building the instance; poll Describe.
	StatusCreating Status = "creating"
	// StatusReady: the instance accepts connections.
	StatusReady Status = "ready"
	// StatusFailed: the instance cannot serve; StatusReason says why.
	StatusFailed Status = "failed"
	// StatusDeleting: deletion has started.
	StatusDeleting Status = "deleting"
	// StatusDeleted: the instance is gone. Describe reports a deleted
	// instance as ErrNotFound; this state exists for callers' records.
	StatusDeleted Status = "deleted"
)

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	switch s {
	case StatusCreating, StatusReady, StatusFailed, StatusDeleting, StatusDeleted:
		return true
	}
	return false
}

// Instance is a provider's report of one PostgreSQL instance, and the
// provider-reported part of the control plane's instance row
// (controlplane.Instance embeds it). It never carries a password:
// SecretRef says where the password lives.
type Instance struct {
	// ID is tenantfleet's instance id (Spec.ID).
	ID string
	// ProviderRef is the provider's handle for the instance: the RDS DB
	// instance identifier, or the local database name. Describe, Delete and
	// CreateReadReplica take it.
	ProviderRef string
	// Status is the lifecycle state.
	Status Status
	// StatusReason explains StatusFailed (and may annotate other states,
	// e.g. the backend's own status word); empty otherwise.
	StatusReason string
	// Host and Port are where to connect; empty and 0 while the backend has
	// not assigned an endpoint yet (RDS while creating).
	Host string
	Port int
	// Database is the database on the instance that holds tenant data.
	Database string
	// SecretRef is where the master password lives (the RDS-managed
	// Secrets Manager secret ARN); empty when the provider has none (the
	// local provider uses the admin URL's credentials).
	SecretRef string
	// MaxConnections is the instance's connection limit used for capacity.
	MaxConnections int
	// StorageBytes is the allocated storage used for capacity.
	StorageBytes int64
	// ReplicaOf is the ProviderRef of the source instance when this
	// instance is a read replica; empty otherwise.
	ReplicaOf string
}
