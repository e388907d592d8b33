package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file owns the operator tables (migration 00090): operator_users,
// api_tokens, operator_sessions and login_failures. It stores digests and
// hashes only; agents/operators makes them (bcrypt for passwords, SHA-256
// of high-entropy tokens and session ids) and decides what a login is.

// ErrOperatorNotFound marks a user, token or session that is not stored,
// or no longer usable (a disabled user, a revoked token, an expired
// session).
var ErrOperatorNotFound = errors.New("controlplane: operator not found")

// ErrOperatorExists marks a user or token name already taken.
var ErrOperatorExists = errors.New("controlplane: operator name already taken")

// OperatorUser is a person who logs in to the dashboard.
type OperatorUser struct {
	Name string
	// Role is "viewer" or "operator".
	Role       string
	CreatedAt  time.Time
	DisabledAt *time.Time
}

// APIToken is a named API token (its digest is never read back).
type APIToken struct {
	Name       string
	Role       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// OperatorSession is a browser session of a user.
type OperatorSession struct {
	// IDSHA256 is the SHA-256 of the id the session cookie carries.
	IDSHA256 []byte
	User     string
	// Role is the user's role (read with the session).
	Role      string
	CSRFToken string
	CreatedAt time.Time
	// LastSeenAt is the session's last use; ExpiresAt its absolute expiry.
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateOperatorUser stores a user with a password hash made by the
// caller; a taken name is ErrOperatorExists.
func (s *Store) CreateOperatorUser(ctx context.Context, name, role, passwordHash string) (OperatorUser, error) {
	u := OperatorUser{Name: name, Role: role}
	err := s.db.QueryRow(ctx, `INSERT INTO operator_users (name, role, password_hash) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING RETURNING created_at`, name, role, passwordHash).Scan(&u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorUser{}, fmt.Errorf("%w: user %q", ErrOperatorExists, name)
	}
	if err != nil {
		return OperatorUser{}, fmt.Errorf("controlplane: create user: %w", err)
	}
	return u, nil
}

// OperatorUsers lists every user, disabled ones included, by name.
func (s *Store) OperatorUsers(ctx context.Context) ([]OperatorUser, error) {
	rows, err := s.db.Query(ctx, `SELECT name, role, created_at, disabled_at FROM operator_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OperatorUser, error) {
		var u OperatorUser
		return u, r.Scan(&u.Name, &u.Role, &u.CreatedAt, &u.DisabledAt)
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list users: %w", err)
	}
	return out, nil
}

// OperatorUserForLogin returns an enabled user and its password hash;
// a missing or disabled user is ErrOperatorNotFound.
func (s *Store) OperatorUserForLogin(ctx context.Context, name string) (OperatorUser, string, error) {
	var (
		u    OperatorUser
		hash string
	)
	err := s.db.QueryRow(ctx, `SELECT name, role, created_at, password_hash FROM operator_users
WHERE name = $1 AND disabled_at IS NULL`, name).Scan(&u.Name, &u.Role, &u.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorUser{}, "", fmt.Errorf("%w: user %q", ErrOperatorNotFound, name)
	}
	if err != nil {
		return OperatorUser{}, "", fmt.Errorf("controlplane: read user: %w", err)
	}
	return u, hash, nil
}

// DisableOperatorUser disables a user and deletes its sessions, so it is
// logged out everywhere at once. Disabling a disabled user changes
// nothing; an unknown one is ErrOperatorNotFound.
func (s *Store) DisableOperatorUser(ctx context.Context, name string) error {
	return s.Tx(ctx, func(tx *Store) error {
		tag, err := tx.db.Exec(ctx, `UPDATE operator_users SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("controlplane: disable user: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: user %q", ErrOperatorNotFound, name)
		}
		if _, err := tx.db.Exec(ctx, `DELETE FROM operator_sessions WHERE user_name = $1`, name); err != nil {
			return fmt.Errorf("controlplane: end the user's sessions: %w", err)
		}
		return nil
	})
}

// CreateAPIToken stores a token by the SHA-256 of its value; a taken name
// (revoked tokens keep theirs) is ErrOperatorExists.
func (s *Store) CreateAPIToken(ctx context.Context, name, role string, tokenSHA256 []byte) (APIToken, error) {
	t := APIToken{Name: name, Role: role}
	err := s.db.QueryRow(ctx, `INSERT INTO api_tokens (name, role, token_sha256) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING RETURNING created_at`, name, role, tokenSHA256).Scan(&t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, fmt.Errorf("%w: token %q", ErrOperatorExists, name)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("controlplane: create token: %w", err)
	}
	return t, nil
}

// APITokens lists every token, revoked ones included, by name.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `SELECT name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) {
		var t APIToken
		return t, r.Scan(&t.Name, &t.Role, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("controlplane: list tokens: %w", err)
	}
	return out, nil
}

// UseAPIToken returns the unrevoked token whose value has this digest and
// records its use; anything else is ErrOperatorNotFound.
func (s *Store) UseAPIToken(ctx context.Context, tokenSHA256 []byte) (APIToken, error) {
	var t APIToken
	err := s.db.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = now()
WHERE token_sha256 = $1 AND revoked_at IS NULL
RETURNING name, role, created_at, last_used_at`, tokenSHA256).Scan(&t.Name, &t.Role, &t.CreatedAt, &t.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, ErrOperatorNotFound
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("controlplane: read token: %w", err)
	}
	return t, nil
}

// RevokeAPIToken revokes a token for good; revoking a revoked one changes
// nothing, an unknown one is ErrOperatorNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, name string) error {
	tag, err := s.db.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("controlplane: revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: token %q", ErrOperatorNotFound, name)
	}
	return nil
}

// CreateOperatorSession stores a session (IDSHA256, User, CSRFToken,
// ExpiresAt) and returns it as stored.
func (s *Store) CreateOperatorSession(ctx context.Context, sess OperatorSession) (OperatorSession, error) {
	err := s.db.QueryRow(ctx, `INSERT INTO operator_sessions (id_sha256, user_name, csrf_token, expires_at)
SELECT $1, name, $3, $4 FROM operator_users WHERE name = $2 AND disabled_at IS NULL
RETURNING (SELECT role FROM operator_users WHERE name = $2), created_at, last_seen_at`,
		sess.IDSHA256, sess.User, sess.CSRFToken, sess.ExpiresAt).Scan(&sess.Role, &sess.CreatedAt, &sess.LastSeenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorSession{}, fmt.Errorf("%w: user %q", ErrOperatorNotFound, sess.User)
	}
	if err != nil {
		return OperatorSession{}, fmt.Errorf("controlplane: create session: %w", err)
	}
	return sess, nil
}

// UseOperatorSession returns the session whose id has this digest when it
// is neither idle for longer than idle nor past its absolute expiry and
// its user is enabled, and records its use; otherwise ErrOperatorNotFound
// (and an expired session is deleted).
func (s *Store) UseOperatorSession(ctx context.Context, idSHA256 []byte, idle time.Duration) (OperatorSession, error) {
	sess := OperatorSession{IDSHA256: idSHA256}
	err := s.db.QueryRow(ctx, `UPDATE operator_sessions s SET last_seen_at = now()
FROM operator_users u
WHERE s.id_sha256 = $1 AND u.name = s.user_name AND u.disabled_at IS NULL
  AND s.last_seen_at > now() - make_interval(secs => $2) AND s.expires_at > now()
RETURNING s.user_name, u.role, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at`,
		idSHA256, idle.Seconds()).Scan(&sess.User, &sess.Role, &sess.CSRFToken, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := s.DeleteOperatorSession(ctx, idSHA256); err != nil {
			return OperatorSession{}, err
		}
		return OperatorSession{}, ErrOperatorNotFound
	}
	if err != nil {
		return OperatorSession{}, fmt.Errorf("controlplane: read session: %w", err)
	}
	return sess, nil
}

// DeleteOperatorSession ends a session (logout); an unknown one is not an
// error. Sessions past their absolute expiry are pruned with it.
func (s *Store) DeleteOperatorSession(ctx context.Context, idSHA256 []byte) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM operator_sessions WHERE id_sha256 = $1 OR expires_at < now()`, idSHA256); err != nil {
		return fmt.Errorf("controlplane: delete session: %w", err)
	}
	return nil
}

// RecordLoginFailures counts one failed login against each key, and
// prunes the keys' failures older than window.
func (s *Store) RecordLoginFailures(ctx context.Context, window time.Duration, keys ...string) error {
	return s.Tx(ctx, func(tx *Store) error {
		if _, err := tx.db.Exec(ctx, `DELETE FROM login_failures WHERE key = ANY($1) AND at < now() - make_interval(secs => $2)`,
			keys, window.Seconds()); err != nil {
			return fmt.Errorf("controlplane: prune login failures: %w", err)
		}
		if _, err := tx.db.Exec(ctx, `INSERT INTO login_failures (key) SELECT unnest($1::text[])`, keys); err != nil {
			return fmt.Errorf("controlplane: record login failure: %w", err)
		}
		return nil
	})
}

// LoginFailures counts the failed logins of key within window.
func (s *Store) LoginFailures(ctx context.Context, key string, window time.Duration) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM login_failures WHERE key = $1 AND at > now() - make_interval(secs => $2)`,
		key, window.Seconds()).Scan(&n); err != nil {
		return 0, fmt.Errorf("controlplane: count login failures: %w", err)
	}
	return n, nil
}

// ClearLoginFailures forgets the failed logins of key (after a
// successful login of that user).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("controlplane: clear login failures: %w", err)
	}
	return nil
}
