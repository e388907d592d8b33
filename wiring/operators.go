package wiring

import (
	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// NewOperators builds the users, tokens and login service from the
// configuration: the api role's login and the CLI's `fleet users` and
// `fleet tokens` use the same one.
func NewOperators(a Conns) *operators.Service {
	l := a.Config.Login
	return operators.New(operators.Config{
		Store:                 controlplane.NewStore(a.DB),
		SessionIdle:           l.SessionIdleTimeout,
		SessionMaxAge:         l.SessionMaxAge,
		MaxFailuresPerUser:    l.LoginMaxFailuresPerUser,
		MaxFailuresPerAddress: l.LoginMaxFailuresPerAddress,
		FailureWindow:         l.LoginFailureWindow,
		PasswordCost:          l.PasswordCost,
		Logger:                a.Logger,
	})
}
