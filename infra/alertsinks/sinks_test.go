package alertsinks_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/alertsinks"
	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
)

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// The webhook carries the alert as JSON signed the Standard Webhooks way;
// a 503 is retried with the same webhook-id and a fresh signature; the
// resolve follows.
func TestWebhookSink(t *testing.T) {
	t.Parallel()
	svc := newService(t, http.StatusNoContent, status(http.StatusServiceUnavailable))
	sink, err := alertsinks.NewWebhook(svc.URL+"/hooks/fleet", webhookSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := engineWith(t, sink)
	fired := raise(t, e, incident)
	deliverUntil(t, e, svc, 2)
	resolved := clear(t, e, incident)
	got := deliverUntil(t, e, svc, 3)
	key, _ := stdwebhook.DecodeSecret(webhookSecret)
	for i, r := range got {
		id, stamp := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
		mac := base64.StdEncoding.EncodeToString(stdwebhook.MAC(key, id, stamp, r.body))
		if r.header.Get("webhook-signature") != "v1,"+mac || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: signature %q, want v1,%s", i, r.header.Get("webhook-signature"), mac)
		}
		if secs, err := strconv.ParseInt(stamp, 10, 64); err != nil || time.Since(time.Unix(secs, 0)) > time.Minute {
			t.Errorf("request %d: webhook-timestamp %q is not now", i, stamp)
		}
		if r.method != http.MethodPost || r.path != "/hooks/fleet" {
			t.Errorf("request %d: %s %s", i, r.method, r.path)
		}
	}
	if got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") || got[1].header.Get("webhook-id") == got[2].header.Get("webhook-id") {
		t.Errorf("webhook-ids %q %q %q: want the retry to repeat the first and the resolve its own",
			got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"), got[2].header.Get("webhook-id"))
	}
	body := decode(t, got[1].body).(map[string]any)
	data := body["data"].(map[string]any)
	alert := data["alert"].(map[string]any)
	if body["type"] != "alert.trigger" || data["fleet"] != "tf" || data["event"] != "trigger" ||
		alert["kind"] != "instance_down" || alert["subject"] != "inst-1" || alert["status"] != "firing" ||
		alert["severity"] != "critical" || alert["summary"] != "inst-1 does not answer" ||
		!reflect.DeepEqual(alert["affected_tenants"], []any{"acme", "globex"}) ||
		!reflect.DeepEqual(alert["details"], map[string]any{"error": "connection refused"}) ||
		alert["id"] != float64(fired.ID) || alert["dedup_key"] != "instance_down:inst-1" {
		t.Errorf("trigger payload: %s", got[1].body)
	}
	body = decode(t, got[2].body).(map[string]any)
	alert = body["data"].(map[string]any)["alert"].(map[string]any)
	if body["type"] != "alert.resolve" || alert["status"] != "resolved" || alert["resolved_at"] == nil || alert["id"] != float64(resolved.ID) {
		t.Errorf("resolve payload: %s", got[2].body)
	}
}

// Slack gets Block Kit messages for the trigger and the resolve; a 429's
// Retry-After holds the sink that long.
func TestSlackSink(t *testing.T) {
	t.Parallel()
	svc := newService(t, http.StatusOK, status(http.StatusTooManyRequests, "Retry-After", "1"))
	sink, err := alertsinks.NewSlack(svc.URL+"/services/T000/B000/XXXX", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := engineWith(t, sink)
	c := incident
	c.Summary = "inst-1 <!channel> & co"
	fired := raise(t, e, c)
	got := deliverUntil(t, e, svc, 2)
	if wait := got[1].at.Sub(got[0].at); wait < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", wait)
	}
	clear(t, e, c)
	got = deliverUntil(t, e, svc, 3)
	want := map[string]any{
		"text": "[TRIGGER] critical instance_down on inst-1: inst-1 <!channel> & co",
		"blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": ":rotating_light: FIRING: instance_down on inst-1"}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "inst-1 &lt;!channel&gt; &amp; co"},
				"fields": []any{
					map[string]any{"type": "mrkdwn", "text": "*Severity*\ncritical"},
					map[string]any{"type": "mrkdwn", "text": "*Subject*\ninst-1"},
					map[string]any{"type": "mrkdwn", "text": "*Instance*\ninst-1"},
					map[string]any{"type": "mrkdwn", "text": "*Affected tenants*\nacme, globex"},
				}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn",
				"text": "fleet tf · alert " + strconv.FormatInt(fired.ID, 10) + " · since " + ts(fired.StartedAt)}}},
		},
	}
	if body := decode(t, got[1].body); !reflect.DeepEqual(body, want) {
		t.Errorf("trigger message:\n got %s\nwant %v", got[1].body, want)
	}
	resolve := decode(t, got[2].body).(map[string]any)
	header := resolve["blocks"].([]any)[0].(map[string]any)["text"].(map[string]any)["text"]
	if header != ":white_check_mark: RESOLVED: instance_down on inst-1" || !strings.HasPrefix(resolve["text"].(string), "[RESOLVE]") {
		t.Errorf("resolve message: %s", got[2].body)
	}
}

// PagerDuty gets trigger, acknowledge and resolve with one deterministic
// dedup_key; a 500 is retried.
func TestPagerDutySink(t *testing.T) {
	t.Parallel()
	svc := newService(t, http.StatusAccepted, status(http.StatusInternalServerError))
	sink, err := alertsinks.NewPagerDuty(svc.URL+"/v2/enqueue", "R0UT1NGKEY0123456789abcdefABCDEF", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := engineWith(t, sink)
	fired := raise(t, e, incident)
	deliverUntil(t, e, svc, 2)
	if _, err := e.Ack(ctxT(t), fired.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	deliverUntil(t, e, svc, 3)
	clear(t, e, incident)
	got := deliverUntil(t, e, svc, 4)
	trigger := map[string]any{
		"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF", "event_action": "trigger", "dedup_key": "tf/instance_down:inst-1",
		"client": "tenantfleet tf",
		"payload": map[string]any{
			"summary": "inst-1 does not answer", "source": "inst-1", "severity": "critical", "timestamp": ts(fired.StartedAt),
			"component": "inst-1", "group": "inst-1", "class": "instance_down",
			"custom_details": map[string]any{"error": "connection refused", "alert_id": float64(fired.ID), "fleet": "tf",
				"affected_tenants": []any{"acme", "globex"}},
		},
	}
	if body := decode(t, got[1].body); !reflect.DeepEqual(body, trigger) || !reflect.DeepEqual(decode(t, got[0].body), trigger) {
		t.Errorf("trigger event:\n got %s\nwant %v", got[1].body, trigger)
	}
	for i, action := range map[int]string{2: "acknowledge", 3: "resolve"} {
		want := map[string]any{"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF", "event_action": action, "dedup_key": "tf/instance_down:inst-1"}
		if body := decode(t, got[i].body); !reflect.DeepEqual(body, want) {
			t.Errorf("%s event: %s", action, got[i].body)
		}
	}
	if long := alertsinks.PagerDutyDedupKey("tf", strings.Repeat("x", 300)); len(long) > 255 || long != alertsinks.PagerDutyDedupKey("tf", strings.Repeat("x", 300)) {
		t.Errorf("long dedup key %q: want a stable key of at most 255 characters", long)
	}
}

// A service's answers map onto the engine's retry rules, and no error
// quotes the URL (a Slack URL is its own credential).
func TestStatusMapping(t *testing.T) {
	t.Parallel()
	secretPath := "/services/T000/B000/s3cr3tT0k3n"
	for _, tc := range []struct {
		answer     func(http.ResponseWriter)
		permanent  bool
		retryAfter time.Duration
	}{
		{status(http.StatusBadRequest), true, 0},
		{status(http.StatusNotFound), true, 0},
		{status(http.StatusGone), true, 0},
		{status(http.StatusRequestTimeout), false, 0},
		{status(http.StatusBadGateway), false, 0},
		{status(http.StatusTooManyRequests, "Retry-After", "7"), false, 7 * time.Second},
		{status(http.StatusTooManyRequests), false, 5 * time.Second},
		{status(http.StatusTooManyRequests, "Retry-After", "999999"), false, time.Hour},
		{status(http.StatusTooManyRequests, "Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat)), false, 30 * time.Second},
	} {
		svc := newService(t, http.StatusOK, tc.answer)
		sink, _ := alertsinks.NewSlack(svc.URL+secretPath, nil)
		err := sink.Send(ctxT(t), alerts.Notification{ID: 1, Event: alerts.EventTrigger, Fleet: "tf",
			Alert: alerts.Alert{Kind: alerts.InstanceDown, Subject: "inst-1"}})
		if err == nil {
			t.Fatal("error answer delivered")
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), svc.URL) {
			t.Errorf("error quotes the URL: %v", err)
		}
		if errors.Is(err, alerts.ErrPermanent) != tc.permanent {
			t.Errorf("%v: permanent %v, want %v", err, !tc.permanent, tc.permanent)
		}
		var rl *alerts.RateLimitedError
		if got := errors.As(err, &rl); got != (tc.retryAfter > 0) || (got && (rl.RetryAfter > tc.retryAfter || rl.RetryAfter < tc.retryAfter-2*time.Second)) {
			t.Errorf("%v: rate limit %+v, want retry after %s", err, rl, tc.retryAfter)
		}
	}
	// A service that is not there is retried, and the error does not name it.
	svc := newService(t, http.StatusOK)
	svc.Close()
	sink, _ := alertsinks.NewSlack(svc.URL+secretPath, nil)
	err := sink.Send(ctxT(t), alerts.Notification{Event: alerts.EventTrigger})
	if err == nil || errors.Is(err, alerts.ErrPermanent) || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("unreachable service: %v, want a retryable error without the URL", err)
	}
}

func TestFromConfigBuildsConfiguredSinks(t *testing.T) {
	t.Parallel()
	sinks, err := alertsinks.FromConfig(configAll(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	if want := []string{"log", "webhook", "slack", "pagerduty", "alertmanager"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("sinks %v, want %v", names, want)
	}
	if _, err := alertsinks.NewWebhook("http://x", "whsec_!!!", nil); err == nil || strings.Contains(err.Error(), "!!!") {
		t.Errorf("bad whsec secret: %v", err)
	}
}
