package sessions

import (
	"context"
	"errors"

	"github.com/tenantfleet/tenantfleet/tenants"
)

// Logins resolves the logins of strict tenants' connections for
// tenants.Pools (PoolsConfig.Logins): the tenant's own role, with the
// password the fleet gave it when it enabled the login, derived again from
// the fleet's secret key. An application process that holds
// FLEET_SECRET_KEY therefore needs no password store and nothing to
// rotate per tenant; one that must not hold the fleet key implements
// tenants.LoginResolver over its own secret store instead.
type Logins struct {
	key []byte
}

var _ tenants.LoginResolver = (*Logins)(nil)

// NewLogins returns the Logins of the fleet whose secret key is key (at
// least MinKeyLen bytes, ErrShortKey otherwise).
func NewLogins(key []byte) (*Logins, error) {
	if len(key) < MinKeyLen {
		return nil, ErrShortKey
	}
	return &Logins{key: key}, nil
}

// Login returns the route's role and its derived password. The password is
// a secret: never log it.
func (l *Logins) Login(_ context.Context, r tenants.Route) (user, password string, err error) {
	if r.Role == "" {
		return "", "", errors.New("sessions: the route names no tenant role")
	}
	return r.Role, Password(l.key, r.Role), nil
}
