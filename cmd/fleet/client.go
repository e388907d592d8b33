package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/restapi"
)

// apiClient is how every command reaches the fleet: /api/v1, over HTTPS
// to FLEET_SERVER (remote mode) or served in-process by the same
// restapi handler over the control-plane connections (local mode). Output
// and --json are the same in both modes because both decode the same
// answers of the same code.
type apiClient struct {
	// base is the server's origin ("https://fleet.example.com"); in-process
	// it is a placeholder the transport ignores.
	base string
	http *http.Client
	// token is sent as "Authorization: Bearer"; empty in-process.
	token string
	// by names the operator in X-Requested-By, for the audit log.
	by string
}

// apiCall is one request of the client.
type apiCall struct {
	method string
	path   string
	query  url.Values
	// body, when not nil, is sent as JSON.
	body any
	// idempotencyKey, when set, is sent as Idempotency-Key.
	idempotencyKey string
}

// Errors an API answer maps to, so that remote and local mode exit alike:
// 400 and 422 are usage errors (exit 2, like a flag the CLI refuses
// itself), the others exit 1.
var (
	errNotFound     = errors.New("not found")
	errConflict     = errors.New("conflict")
	errUnauthorized = errors.New("unauthorized")
)

// apiError is an error answer of the API.
type apiError struct {
	status  int
	message string
	// requestID is the answer's X-Request-Id, which names the server's
	// log line of a 5xx.
	requestID string
}

func (e *apiError) Error() string {
	switch {
	case e.status == http.StatusUnauthorized:
		return "the server refused the API token (401): " + e.message + "; check FLEET_API_TOKEN"
	case e.status == http.StatusForbidden:
		return "forbidden (403): " + e.message
	case e.status >= 500 && e.requestID != "":
		return fmt.Sprintf("%s (%d, request id %s)", e.message, e.status, e.requestID)
	case e.status >= 500:
		return fmt.Sprintf("%s (%d)", e.message, e.status)
	}
	return e.message
}

// Is maps the status to the CLI's error classes.
func (e *apiError) Is(target error) bool {
	switch target {
	case errUsage:
		return e.status == http.StatusBadRequest || e.status == http.StatusUnprocessableEntity
	case errNotFound:
		return e.status == http.StatusNotFound
	case errConflict:
		return e.status == http.StatusConflict
	case errUnauthorized:
		return e.status == http.StatusUnauthorized || e.status == http.StatusForbidden
	}
	return false
}

// do sends call and decodes a 2xx answer into out (unless nil); any
// other answer is an *apiError carrying the server's message.
func (c *apiClient) do(ctx context.Context, call apiCall, out any) error {
	u := c.base + call.path
	if len(call.query) > 0 {
		u += "?" + call.query.Encode()
	}
	var body io.Reader
	if call.body != nil {
		b, err := json.Marshal(call.body)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, u, body)
	if err != nil {
		return err
	}
	if call.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.by != "" {
		req.Header.Set(restapi.HeaderRequestedBy, c.by)
	}
	if call.idempotencyKey != "" {
		req.Header.Set(restapi.HeaderIdempotencyKey, call.idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", call.method, call.path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", call.method, call.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", call.method, call.path, err)
	}
	return nil
}

// answerError reads an error answer: {"error": "..."} when the API wrote
// it, else the status line (a proxy's page is not repeated).
func answerError(resp *http.Response, raw []byte) error {
	var body restapi.ErrorJSON
	msg := ""
	if json.Unmarshal(raw, &body) == nil {
		msg = body.Error
	}
	if msg == "" {
		msg = strings.TrimSpace(http.StatusText(resp.StatusCode))
	}
	return &apiError{status: resp.StatusCode, message: msg, requestID: resp.Header.Get(restapi.HeaderRequestID)}
}

// unwrapURLError drops *url.Error's "Get URL:" prefix, which would repeat
// the server's address in every message (the method and path are said
// already).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// get is do with GET.
func (c *apiClient) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, apiCall{method: http.MethodGet, path: path, query: query}, out)
}

// post is do with POST and a JSON body (nil: none).
func (c *apiClient) post(ctx context.Context, path string, body, out any) error {
	return c.do(ctx, apiCall{method: http.MethodPost, path: path, body: body}, out)
}

// pollInterval is how often a --wait polls the API.
const pollInterval = 250 * time.Millisecond

// poll calls check every pollInterval until it reports done or fails, or
// ctx ends.
func poll(ctx context.Context, check func() (bool, error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// query builds query parameters from name, value pairs, leaving out empty
// values.
func query(pairs ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	return q
}
