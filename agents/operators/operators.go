// Package operators is the fleet's named principals: users who log in to
// the dashboard (viewer or operator, bcrypt-hashed passwords), API tokens
// for scripts (stored as SHA-256 digests), browser sessions with an idle
// and an absolute expiry, and the rate limit on failed logins. Its rows
// are controlplane.Store's (infra/controlplane/operators.go); every change
// and every login is written to the audit log, naming who did it
// (auth.PrincipalFrom of the caller's context). The CLI, the REST API and
// the HTTP front (infra/httpapi) all call this one Service.
package operators

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Defaults of Config.
const (
	DefaultSessionIdle        = 30 * time.Minute
	DefaultSessionMaxAge      = 12 * time.Hour
	DefaultMaxFailuresPerUser = 5
	DefaultMaxFailuresPerAddr = 20
	DefaultFailureWindow      = 15 * time.Minute
)

// Audit actions.
const (
	ActionLogin        = "operator.login"
	ActionLogout       = "operator.logout"
	ActionUserAdd      = "user.add"
	ActionUserDisable  = "user.disable"
	ActionTokenCreate  = "token.create"
	ActionTokenRevoke  = "token.revoke"
	actorUnknown       = "unknown"
	actorAnonymous     = "anonymous"
	failureKeyUser     = "user:"
	failureKeyAddress  = "addr:"
	maxAddressKeyBytes = 100
)

// ErrInvalid marks a name, role or password that is refused (422); the
// message says which.
var ErrInvalid = errors.New("operators: invalid")

// Config configures a Service.
type Config struct {
	// Store holds the users, tokens, sessions and failures. Required.
	Store *controlplane.Store
	// SessionIdle ends a session not used for this long. Default 30m.
	SessionIdle time.Duration
	// SessionMaxAge ends a session this long after login, used or not.
	// Default 12h.
	SessionMaxAge time.Duration
	// MaxFailuresPerUser failed logins of one user name within
	// FailureWindow refuse further logins of that name (from anywhere)
	// until the oldest leaves the window. Default 5.
	MaxFailuresPerUser int
	// MaxFailuresPerAddress failed logins from one client address within
	// FailureWindow refuse further logins from it. Default 20.
	MaxFailuresPerAddress int
	// FailureWindow is the window of both counts. Default 15m.
	FailureWindow time.Duration
	// PasswordCost is the bcrypt cost of new password hashes
	// (auth.MinPasswordCost to auth.MaxPasswordCost). Default
	// auth.PasswordCost; existing hashes keep the cost they were made with.
	PasswordCost int
	// Logger receives rate-limited logins. Default slog.Default().
	Logger *slog.Logger
}

// Service manages and checks the fleet's principals. Safe for concurrent
// use.
type Service struct {
	cfg Config
	// dummyHash is compared against when a login names no such user, so
	// the answer takes as long as a wrong password (no user enumeration
	// by timing). Made on first use.
	dummyHash func() string
}

// New returns a Service over cfg.
func New(cfg Config) *Service {
	cfg.SessionIdle = cmp.Or(cfg.SessionIdle, DefaultSessionIdle)
	cfg.SessionMaxAge = cmp.Or(cfg.SessionMaxAge, DefaultSessionMaxAge)
	cfg.MaxFailuresPerUser = cmp.Or(cfg.MaxFailuresPerUser, DefaultMaxFailuresPerUser)
	cfg.MaxFailuresPerAddress = cmp.Or(cfg.MaxFailuresPerAddress, DefaultMaxFailuresPerAddr)
	cfg.FailureWindow = cmp.Or(cfg.FailureWindow, DefaultFailureWindow)
	cfg.PasswordCost = cmp.Or(cfg.PasswordCost, auth.PasswordCost)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	s := &Service{cfg: cfg}
	s.dummyHash = sync.OnceValue(func() string {
		h, _ := auth.HashPasswordCost(auth.NewSecret(), cfg.PasswordCost)
		return h
	})
	return s
}

// nameRE is what a user or token name may be: it appears in the audit log
// ("user:NAME") and in URLs.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// checkName validates a user or token name.
func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name must be 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", ErrInvalid, kind)
	}
	return nil
}

// checkRole validates a role.
func checkRole(role auth.Role) error {
	if !role.Valid() {
		return fmt.Errorf("%w: role must be %s or %s, got %q", ErrInvalid, auth.RoleViewer, auth.RoleOperator, role)
	}
	return nil
}

// record writes an audit entry on the store of the change's transaction.
func record(ctx context.Context, st *controlplane.Store, actor, action, outcome string, details map[string]any) error {
	return st.RecordAudit(ctx, audit.Entry{Actor: actor, Action: action, Outcome: outcome, Details: details})
}

// errorsJoinInvalid marks err (a refused password) as ErrInvalid.
func errorsJoinInvalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }
