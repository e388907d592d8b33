package operators

import (
	"context"
	"errors"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// AddUser creates a user with a password (auth.MinPasswordLen to
// auth.MaxPasswordLen bytes), audited as the context's principal. A taken
// name is controlplane.ErrOperatorExists.
func (s *Service) AddUser(ctx context.Context, name string, role auth.Role, password string) (controlplane.OperatorUser, error) {
	if err := checkName("user", name); err != nil {
		return controlplane.OperatorUser{}, err
	}
	if err := checkRole(role); err != nil {
		return controlplane.OperatorUser{}, err
	}
	hash, err := auth.HashPasswordCost(password, s.cfg.PasswordCost)
	if errors.Is(err, auth.ErrWeakPassword) {
		err = errorsJoinInvalid(err)
	}
	if err != nil {
		return controlplane.OperatorUser{}, err
	}
	var u controlplane.OperatorUser
	err = s.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		if u, err = tx.CreateOperatorUser(ctx, name, string(role), hash); err != nil {
			return err
		}
		return record(ctx, tx, auth.ActorFrom(ctx, actorUnknown), ActionUserAdd, audit.OutcomeDone,
			map[string]any{"user": name, "role": string(role)})
	})
	return u, err
}

// Users lists the users, disabled ones included.
func (s *Service) Users(ctx context.Context) ([]controlplane.OperatorUser, error) {
	return s.cfg.Store.OperatorUsers(ctx)
}

// DisableUser disables a user and ends its sessions, audited.
func (s *Service) DisableUser(ctx context.Context, name string) error {
	return s.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		if err := tx.DisableOperatorUser(ctx, name); err != nil {
			return err
		}
		return record(ctx, tx, auth.ActorFrom(ctx, actorUnknown), ActionUserDisable, audit.OutcomeDone,
			map[string]any{"user": name})
	})
}

// CreateToken creates a named API token and returns it: this is the only
// time its value exists outside the caller (only its digest is stored).
// Audited; a taken name is controlplane.ErrOperatorExists.
func (s *Service) CreateToken(ctx context.Context, name string, role auth.Role) (string, controlplane.APIToken, error) {
	if err := checkName("token", name); err != nil {
		return "", controlplane.APIToken{}, err
	}
	if err := checkRole(role); err != nil {
		return "", controlplane.APIToken{}, err
	}
	token := auth.NewToken()
	var t controlplane.APIToken
	err := s.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		var err error
		if t, err = tx.CreateAPIToken(ctx, name, string(role), auth.Digest(token)); err != nil {
			return err
		}
		return record(ctx, tx, auth.ActorFrom(ctx, actorUnknown), ActionTokenCreate, audit.OutcomeDone,
			map[string]any{"token": name, "role": string(role)})
	})
	if err != nil {
		return "", controlplane.APIToken{}, err
	}
	return token, t, nil
}

// Tokens lists the tokens, revoked ones included (never their values).
func (s *Service) Tokens(ctx context.Context) ([]controlplane.APIToken, error) {
	return s.cfg.Store.APITokens(ctx)
}

// RevokeToken revokes a token for good, audited.
func (s *Service) RevokeToken(ctx context.Context, name string) error {
	return s.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		if err := tx.RevokeAPIToken(ctx, name); err != nil {
			return err
		}
		return record(ctx, tx, auth.ActorFrom(ctx, actorUnknown), ActionTokenRevoke, audit.OutcomeDone,
			map[string]any{"token": name})
	})
}
