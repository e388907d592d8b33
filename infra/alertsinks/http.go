package alertsinks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// DefaultTimeout bounds one request when the caller's client has none.
const DefaultTimeout = 10 * time.Second

// defaultRetryAfter is the wait after a 429 that names none.
const defaultRetryAfter = 5 * time.Second

// maxRetryAfter caps what a service may ask us to wait.
const maxRetryAfter = time.Hour

// newClient returns c, or a client with DefaultTimeout.
func newClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// postJSON posts body to target and maps the answer onto the engine's
// retry rules: 2xx delivered; 429 a *alerts.RateLimitedError with the
// Retry-After (seconds or an HTTP date); 408 and 5xx retried; other 4xx
// ErrPermanent. Errors name the sink, never the URL.
func postJSON(ctx context.Context, client *http.Client, sink, target string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: build request: %w", sink, alerts.ErrPermanent)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tenantfleet-alerts")
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message quotes the URL
		}
		return fmt.Errorf("%s: POST: %w", sink, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests:
		return &alerts.RateLimitedError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Err: fmt.Errorf("%s: answered 429%s", sink, quoteBody(snippet))}
	case code == http.StatusRequestTimeout || code >= 500:
		return fmt.Errorf("%s: answered %d%s", sink, code, quoteBody(snippet))
	default:
		return fmt.Errorf("%s: answered %d%s: %w", sink, code, quoteBody(snippet), alerts.ErrPermanent)
	}
}

// retryAfter parses a Retry-After header (delay seconds or an HTTP date),
// bounded to 1s..maxRetryAfter; a missing or unreadable one waits
// defaultRetryAfter.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	d := defaultRetryAfter
	if secs, err := strconv.Atoi(h); err == nil {
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, time.Second), maxRetryAfter)
}

// quoteBody renders the start of an error answer for the outbox's
// last_error: printable characters only, at most 200.
func quoteBody(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(string(b)))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return " (" + s + ")"
}
