package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/user"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/auth"
	"github.com/tenantfleet/tenantfleet/wiring"
)

// The environment of remote mode.
const (
	// envServer is the fleet's address ("https://fleet.example.com"):
	// when set, every command goes through its /api/v1.
	envServer = "FLEET_SERVER"
	// envToken is the API token sent to it as a bearer token.
	envToken = "FLEET_API_TOKEN" //nolint:gosec // G101: an environment variable's name, not a credential
)

// remoteTimeout bounds one request to FLEET_SERVER (a --wait makes many).
const remoteTimeout = 60 * time.Second

// isRemote reports whether FLEET_SERVER is set.
func isRemote(env *cliEnv) bool { return env.getenv(envServer) != "" }

// withAPI runs fn with the client of the mode FLEET_SERVER selects: remote,
// HTTPS to the server with the token; local, the fleet's REST API served
// in-process over the control-plane database and Redis of FLEET_*, as the
// operator "local:$USER".
func withAPI(ctx context.Context, env *cliEnv, fn func(c *apiClient) error) error {
	if isRemote(env) {
		c, err := remoteClient(env)
		if err != nil {
			return err
		}
		return fn(c)
	}
	return withApp(ctx, env, func(a *app) error {
		svc, err := wiring.New(ctx, a.conns())
		if err != nil {
			return err
		}
		defer svc.Close()
		// The API's failed requests are logged to stderr: locally the
		// operator holds the credentials, and "internal error" alone would
		// hide the cause.
		api, err := svc.API(newLogger(a.cfg, env.stderr))
		if err != nil {
			return err
		}
		p := localPrincipal()
		return fn(&apiClient{
			base: "http://fleet.in-process",
			// No X-Requested-By: the principal names the operator.
			http: &http.Client{Transport: handlerTransport{handler: api.Handler(), principal: p}},
		})
	})
}

// remoteClient checks FLEET_SERVER and FLEET_API_TOKEN and returns the
// client for them. The server must be https://, or http:// to a loopback
// address (a tunnel, a test); it must not carry credentials of its own.
// Redirects are not followed, so the token goes to that origin only.
func remoteClient(env *cliEnv) (*apiClient, error) {
	raw := env.getenv(envServer)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: %s must be an https:// URL such as https://fleet.example.com", errUsage, envServer)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: %s must be scheme://host[:port][/path], without credentials, query or fragment (the token goes in %s)", errUsage, envServer, envToken)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: %s must be https:// (plain http:// only to a loopback address): the API token would cross the network in clear", errUsage, envServer)
	}
	token := env.getenv(envToken)
	if token == "" {
		return nil, fmt.Errorf("%w: %s is set but %s is not: remote commands need an API token", errUsage, envServer, envToken)
	}
	return &apiClient{
		base:  u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/"),
		token: token,
		by:    cliUser(),
		http: &http.Client{
			Timeout: remoteTimeout,
			CheckRedirect: func(req *http.Request, _ []*http.Request) error {
				return fmt.Errorf("%s redirected to %s; set %s to the address it names", envServer, req.URL.Redacted(), envServer)
			},
		},
	}, nil
}

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localUser names the operator running the CLI, as the local principal.
// localPrincipal is whoever runs the CLI with the control plane's
// credentials: an operator, audited as local:<OS user>.
func localPrincipal() auth.Principal {
	return auth.Principal{Name: localUser(), Role: auth.RoleOperator, Via: "local"}
}

func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// handlerTransport serves requests with an in-process handler, the
// principal in their context: no network, no token.
type handlerTransport struct {
	handler   http.Handler
	principal auth.Principal
}

// RoundTrip serves req and returns the handler's answer.
func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.WithContext(auth.WithPrincipal(req.Context(), t.principal))
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = req.URL.RequestURI()
	w := &memoryResponse{header: http.Header{}}
	t.handler.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// memoryResponse is an http.ResponseWriter into memory.
type memoryResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *memoryResponse) Header() http.Header { return w.header }

func (w *memoryResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *memoryResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// remoteRefusals are the commands that are local by nature, with why,
// keyed by "command" or "command sub-command": with FLEET_SERVER set they
// fail before doing anything.
var remoteRefusals = map[string]string{
	"demo": "fleet demo starts its own fleet, example application and data on this machine; " +
		"it does not run against " + envServer + " (unset it to run the demo here)",
	"run": "fleet run starts the fleet's roles on this machine over the control-plane database and Redis; " +
		"it does not run against " + envServer + " (unset it to run the fleet here)",
}

// errLocalOnly marks a command refused in remote mode.
var errLocalOnly = errors.New("local only")

// refuseRemote fails a local-only command (remoteRefusals) in remote
// mode. Help is always allowed.
func refuseRemote(env *cliEnv, args []string) error {
	if !isRemote(env) || len(args) == 0 {
		return nil
	}
	why, ok := remoteRefusals[args[0]]
	if len(args) > 1 && !ok {
		why, ok = remoteRefusals[args[0]+" "+args[1]]
	}
	if !ok || asksHelp(args[1:]) {
		return nil
	}
	return fmt.Errorf("%w: %s is set: %s", errLocalOnly, envServer, why)
}

// asksHelp reports whether args ask for help.
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "help", "-h", "-help", "--help":
			return true
		}
	}
	return false
}
