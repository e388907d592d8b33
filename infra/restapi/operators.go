package restapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
)

// Operators manages users and API tokens (*operators.Service); it audits
// every change as the context's principal.
type Operators interface {
	AddUser(ctx context.Context, name string, role auth.Role, password string) (controlplane.OperatorUser, error)
	Users(ctx context.Context) ([]controlplane.OperatorUser, error)
	DisableUser(ctx context.Context, name string) error
	CreateToken(ctx context.Context, name string, role auth.Role) (string, controlplane.APIToken, error)
	Tokens(ctx context.Context) ([]controlplane.APIToken, error)
	RevokeToken(ctx context.Context, name string) error
}

// UserJSON is a user (schema User); the password hash is never sent.
type UserJSON struct {
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// UserListJSON answers GET /api/v1/users (schema UserList).
type UserListJSON struct {
	Users []UserJSON `json:"users"`
}

// UserRequestBody is the body of POST /api/v1/users (schema UserRequest).
type UserRequestBody struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// TokenJSON is an API token's record (schema Token); its value is never
// sent again after its creation.
type TokenJSON struct {
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// TokenListJSON answers GET /api/v1/tokens (schema TokenList).
type TokenListJSON struct {
	Tokens []TokenJSON `json:"tokens"`
}

// TokenRequestBody is the body of POST /api/v1/tokens (schema
// TokenRequest).
type TokenRequestBody struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenCreatedJSON answers POST /api/v1/tokens (schema TokenCreated): the
// only answer that carries the token.
type TokenCreatedJSON struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token"`
}

// UserView is a user's JSON (the API's and `fleet users list --json`).
func UserView(u controlplane.OperatorUser) UserJSON {
	return UserJSON{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt}
}

// TokenView is a token's JSON (the API's and `fleet tokens list --json`).
func TokenView(t controlplane.APIToken) TokenJSON {
	return TokenJSON{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// errForbidden marks a principal that may not do this: 403.
var errForbidden = errors.New("forbidden")

// requireOperator refuses (403) a request whose principal is not an
// operator: users and tokens are not for viewers to read either. Without
// a principal (not served through httpapi) it refuses too.
func (a *API) requireOperator(w http.ResponseWriter, r *http.Request) bool {
	if p, ok := auth.PrincipalFrom(r.Context()); ok && p.CanAct() {
		return true
	}
	a.writeError(w, r, describe(errForbidden, "users and tokens are for operators only"))
	return false
}

// listUsers serves GET /api/v1/users.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	list, err := a.cfg.Operators.Users(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := UserListJSON{Users: []UserJSON{}}
	for _, u := range list {
		out.Users = append(out.Users, UserView(u))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// addUser serves POST /api/v1/users: 201 with the user; 409 for a taken
// name, 422 for a bad name, role or password.
func (a *API) addUser(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	var body UserRequestBody
	if err := a.decodeBody(w, r, &body, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.cfg.Operators.AddUser(r.Context(), body.Name, auth.Role(body.Role), body.Password)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, UserView(u))
}

// disableUser serves POST /api/v1/users/{name}/disable: 204; the user's
// sessions end. 404 for an unknown user.
func (a *API) disableUser(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	if err := a.decodeBody(w, r, &struct{}{}, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.cfg.Operators.DisableUser(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listTokens serves GET /api/v1/tokens.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	list, err := a.cfg.Operators.Tokens(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := TokenListJSON{Tokens: []TokenJSON{}}
	for _, t := range list {
		out.Tokens = append(out.Tokens, TokenView(t))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
}

// createToken serves POST /api/v1/tokens: 201 with the token, shown this
// once; 409 for a taken name, 422 for a bad name or role.
func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	var body TokenRequestBody
	if err := a.decodeBody(w, r, &body, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	tok, t, err := a.cfg.Operators.CreateToken(r.Context(), body.Name, auth.Role(body.Role))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.WriteJSON(w, http.StatusCreated, TokenCreatedJSON{Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, Token: tok})
}

// revokeToken serves DELETE /api/v1/tokens/{name}: 204; 404 for an
// unknown token.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireOperator(w, r) {
		return
	}
	if err := a.cfg.Operators.RevokeToken(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
