package tenants

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ErrNoStrictLogin means a strict tenant's work was asked of Pools that
// have no LoginResolver, or the resolver's answer was not the tenant's own
// role. Strict work never falls back to the application role.
var ErrNoStrictLogin = errors.New("tenants: no login for a strict tenant")

// LoginResolver gives the login of a strict tenant's connections: the
// tenant's own role (Route.Role) and its password. The password is a
// secret: Pools never log it nor put it in an error, and neither may a
// resolver. infra/sessions.Logins derives it from the fleet's secret key,
// as the fleet does when it enables the login (HMAC-SHA256 of the role).
type LoginResolver interface {
	Login(ctx context.Context, r Route) (user, password string, err error)
}

// dialStrict opens a connection of tp logged in as the strict tenant's own
// role, and checks that the session is that role and can become nothing
// more (VerifyTenantSession) before anyone uses it.
func (p *Pools) dialStrict(ctx context.Context, tp *tenantPool, r Route) (*pgx.Conn, error) {
	if p.cfg.Logins == nil {
		return nil, fmt.Errorf("%w: tenant %s (PoolsConfig.Logins is nil)", ErrNoStrictLogin, r.TenantID)
	}
	user, password, err := p.cfg.Logins.Login(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("tenants: login of strict tenant %s: %w", r.TenantID, err)
	}
	if user != r.Role {
		return nil, fmt.Errorf("%w: the resolver gave tenant %s another role than its own", ErrNoStrictLogin, r.TenantID)
	}
	cfg := tp.base.Copy()
	cfg.User, cfg.Password = user, password
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenants: connect pool %s as strict tenant %s: %w", tp.key, r.TenantID, err)
	}
	if err := VerifyTenantSession(ctx, conn, r.Role); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}
