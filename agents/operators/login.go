package operators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/audit"
	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// Login checks a user's password and opens a browser session. addr is the
// client's address (the rate limit's second key). Before the password is
// checked, a user name with MaxFailuresPerUser failures, or an address
// with MaxFailuresPerAddress, within FailureWindow is refused with
// auth.ErrRateLimited (logged, not audited: the refusals of a flood would
// flood the log). A wrong password, an unknown or a disabled user is
// auth.ErrBadCredentials, counted against both keys and audited; a
// success clears the user's count and is audited as the user.
func (s *Service) Login(ctx context.Context, name, password, addr string) (auth.Session, error) {
	st := s.cfg.Store
	if len(addr) > maxAddressKeyBytes {
		addr = addr[:maxAddressKeyBytes]
	}
	addrKey := failureKeyAddress + addr
	keys := []string{addrKey}
	validName := checkName("user", name) == nil
	if validName {
		keys = append(keys, failureKeyUser+name)
	}
	for i, key := range keys {
		limit := s.cfg.MaxFailuresPerAddress
		if i > 0 {
			limit = s.cfg.MaxFailuresPerUser
		}
		n, err := st.LoginFailures(ctx, key, s.cfg.FailureWindow)
		if err != nil {
			return auth.Session{}, err
		}
		if n >= limit {
			s.cfg.Logger.WarnContext(ctx, "login rate-limited", slog.String("key", key), slog.Int("failures", n))
			return auth.Session{}, auth.ErrRateLimited
		}
	}
	var (
		u    controlplane.OperatorUser
		hash string
		err  error
	)
	if validName {
		u, hash, err = st.OperatorUserForLogin(ctx, name)
	} else {
		err = controlplane.ErrOperatorNotFound
	}
	ok := false
	switch {
	case err == nil:
		ok = auth.CheckPassword(hash, password)
	case errors.Is(err, controlplane.ErrOperatorNotFound):
		auth.CheckPassword(s.dummyHash(), password)
	default:
		return auth.Session{}, err
	}
	details := map[string]any{"address": addr}
	if !ok {
		if validName {
			details["user"] = name
		}
		if err := st.RecordLoginFailures(ctx, s.cfg.FailureWindow, keys...); err != nil {
			return auth.Session{}, err
		}
		if err := record(ctx, st, actorAnonymous, ActionLogin, audit.OutcomeFailed, details); err != nil {
			return auth.Session{}, err
		}
		return auth.Session{}, auth.ErrBadCredentials
	}
	sess := auth.Session{
		ID: auth.NewSecret(), CSRFToken: auth.NewSecret(),
		Principal: auth.Principal{Name: u.Name, Role: auth.Role(u.Role), Via: "session"},
		ExpiresAt: time.Now().Add(s.cfg.SessionMaxAge),
	}
	err = st.Tx(ctx, func(tx *controlplane.Store) error {
		stored, err := tx.CreateOperatorSession(ctx, controlplane.OperatorSession{
			IDSHA256: auth.Digest(sess.ID), User: u.Name, CSRFToken: sess.CSRFToken, ExpiresAt: sess.ExpiresAt,
		})
		if err != nil {
			return err
		}
		sess.Principal.Role = auth.Role(stored.Role)
		if err := tx.ClearLoginFailures(ctx, failureKeyUser+name); err != nil {
			return err
		}
		return record(ctx, tx, sess.Principal.Actor(), ActionLogin, audit.OutcomeDone, details)
	})
	if errors.Is(err, controlplane.ErrOperatorNotFound) { // disabled in between
		return auth.Session{}, auth.ErrBadCredentials
	}
	if err != nil {
		return auth.Session{}, err
	}
	return sess, nil
}

// Session returns the live session with this id, recording its use; an
// unknown, idle (SessionIdle) or expired (SessionMaxAge) session, or one
// whose user was disabled, is auth.ErrBadCredentials.
func (s *Service) Session(ctx context.Context, id string) (auth.Session, error) {
	stored, err := s.cfg.Store.UseOperatorSession(ctx, auth.Digest(id), s.cfg.SessionIdle)
	if errors.Is(err, controlplane.ErrOperatorNotFound) {
		return auth.Session{}, auth.ErrBadCredentials
	}
	if err != nil {
		return auth.Session{}, err
	}
	return auth.Session{
		ID: id, CSRFToken: stored.CSRFToken, ExpiresAt: stored.ExpiresAt,
		Principal: auth.Principal{Name: stored.User, Role: auth.Role(stored.Role), Via: "session"},
	}, nil
}

// Logout ends the session with this id, audited as the context's
// principal.
func (s *Service) Logout(ctx context.Context, id string) error {
	return s.cfg.Store.Tx(ctx, func(tx *controlplane.Store) error {
		if err := tx.DeleteOperatorSession(ctx, auth.Digest(id)); err != nil {
			return err
		}
		return record(ctx, tx, auth.ActorFrom(ctx, actorUnknown), ActionLogout, audit.OutcomeDone, nil)
	})
}

// Token returns the principal of a named API token, recording its use; an
// unknown or revoked token is auth.ErrBadCredentials.
func (s *Service) Token(ctx context.Context, token string) (auth.Principal, error) {
	if !auth.IsToken(token) {
		return auth.Principal{}, auth.ErrBadCredentials
	}
	t, err := s.cfg.Store.UseAPIToken(ctx, auth.Digest(token))
	if errors.Is(err, controlplane.ErrOperatorNotFound) {
		return auth.Principal{}, auth.ErrBadCredentials
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("operators: check token: %w", err)
	}
	return auth.Principal{Name: t.Name, Role: auth.Role(t.Role), Via: "token"}, nil
}
