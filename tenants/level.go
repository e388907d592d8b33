package tenants

import (
	"errors"
	"fmt"
)

// ErrInvalidIsolation marks an isolation level that is neither pooled nor
// strict.
var ErrInvalidIsolation = errors.New("tenants: invalid isolation level")

// Isolation is how a tenant's application traffic is kept from its
// neighbours (docs/tenants.md, "Isolation levels").
type Isolation string

// The isolation levels of a tenant.
const (
	// Pooled: the tenant's work runs on connections of the fleet's
	// application role, scoped per transaction by set_config('role'). SQL
	// injected inside the tenant's transaction could SET ROLE to a
	// neighbour of the same instance (the known limit). The default.
	Pooled Isolation = "pooled"
	// Strict: the tenant's work runs on connections that logged in as the
	// tenant's own role, which is a member of no other role: no statement
	// in them can reach another tenant. They share the instance's
	// connection budget with everyone else.
	Strict Isolation = "strict"
)

// Valid reports whether i is a known isolation level.
func (i Isolation) Valid() bool { return i == Pooled || i == Strict }

// ParseIsolation parses an isolation level given by a user ("pooled" or
// "strict"; empty means Pooled). Anything else is an error matching
// ErrInvalidIsolation.
func ParseIsolation(s string) (Isolation, error) {
	if s == "" {
		return Pooled, nil
	}
	if i := Isolation(s); i.Valid() {
		return i, nil
	}
	return "", fmt.Errorf("%w %q: want pooled or strict", ErrInvalidIsolation, s)
}
