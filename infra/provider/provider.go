// Package provider defines how tenantfleet obtains PostgreSQL instances: the
// Provider interface its adapters implement (subpackages local and rds), the
// Spec of an instance to create, the Instance a provider reports, the
// sentinel errors every adapter translates its vendor's errors to, and the
// Capacity arithmetic the provisioner uses to ask for the next shared
// instance ahead of need.
package provider

import "context"

// Provider creates, describes and deletes PostgreSQL instances.
//
// Every method is safe to retry: long operations (an RDS instance takes
// minutes) start and return at once with an Instance in StatusCreating, and
// the caller polls Describe until the status is StatusReady or StatusFailed.
type Provider interface {
	// Name identifies the provider ("local", "rds"), as stored in the
	// control plane's instances.provider column.
	Name() string

	// Create starts creating the instance described by spec and returns at
	// once. It is idempotent: when an instance with spec's ID already
	// exists, Create returns that instance (in whatever state it is) and no
	// error. A spec that fails Spec.Validate returns an error wrapping
	// ErrInvalid before any call to the backend.
	Create(ctx context.Context, spec Spec) (Instance, error)

	// Describe reports the current state of the instance whose provider
	// handle is ref (Instance.ProviderRef). An unknown ref returns an error
	// wrapping ErrNotFound.
	Describe(ctx context.Context, ref string) (Instance, error)

	// Delete starts deleting the instance ref. It is idempotent: deleting an
	// instance that does not exist (or no longer exists) returns nil.
	Delete(ctx context.Context, ref string) error

	// CreateReadReplica starts creating a read replica of sourceRef named
	// by replicaID (an instance ID, as in Spec.ID) and returns at once, like
	// Create; an existing replica with that ID is returned as is. Providers
	// that cannot replicate return an error wrapping ErrUnsupported.
	CreateReadReplica(ctx context.Context, sourceRef, replicaID string) (Instance, error)
}
