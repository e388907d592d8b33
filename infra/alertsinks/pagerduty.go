package alertsinks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// PagerDuty sends alerts to the PagerDuty Events API v2: trigger (and
// repeats, which PagerDuty appends to the open incident), acknowledge and
// resolve, all with the alert's deterministic dedup_key, so they address
// one incident. The Events API allows about 120 events a minute per
// integration key; the sink is paced under it and a 429 holds it.
type PagerDuty struct {
	url        string
	routingKey string
	client     *http.Client
}

var (
	_ alerts.Sink  = (*PagerDuty)(nil)
	_ alerts.Paced = (*PagerDuty)(nil)
)

// NewPagerDuty returns the PagerDuty sink posting to endpoint (the Events
// API v2 enqueue URL) with routingKey (an integration key; a secret, never
// logged). client may be nil.
func NewPagerDuty(endpoint, routingKey string, client *http.Client) (*PagerDuty, error) {
	if endpoint == "" || routingKey == "" {
		return nil, errors.New("alertsinks: pagerduty needs an endpoint and a routing key")
	}
	return &PagerDuty{url: endpoint, routingKey: routingKey, client: newClient(client)}, nil
}

// Name implements alerts.Sink.
func (*PagerDuty) Name() string { return "pagerduty" }

// Handles implements alerts.Sink: every event but refreshes.
func (*PagerDuty) Handles(e alerts.Event) bool { return e != alerts.EventRefresh }

// MinInterval implements alerts.Paced.
func (*PagerDuty) MinInterval() time.Duration { return 500 * time.Millisecond }

// PagerDutyEvent is an Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Client      string            `json:"client,omitempty"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
}

// PagerDutyPayload is the payload of a trigger event.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// pagerDutyDedupMax is the Events API's limit on a dedup_key.
const pagerDutyDedupMax = 255

// PagerDutyDedupKey is the dedup_key of an alert: "<fleet>/<kind>:<subject>",
// or its SHA-256 when that is longer than PagerDuty accepts. The same alert
// key gives the same dedup_key in every process and after restarts.
func PagerDutyDedupKey(fleet, dedupKey string) string {
	k := fleet + "/" + dedupKey
	if len(k) <= pagerDutyDedupMax {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return fleet + "/sha256:" + hex.EncodeToString(sum[:])
}

// PagerDutyEventFor renders a notification.
func (p *PagerDuty) PagerDutyEventFor(n alerts.Notification) PagerDutyEvent {
	a := n.Alert
	ev := PagerDutyEvent{RoutingKey: p.routingKey, DedupKey: PagerDutyDedupKey(n.Fleet, a.DedupKey)}
	switch n.Event {
	case alerts.EventAcknowledge:
		ev.EventAction = "acknowledge"
		return ev
	case alerts.EventResolve:
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction, ev.Client = "trigger", "tenantfleet "+n.Fleet
	details := maps.Clone(a.Details)
	if details == nil {
		details = map[string]any{}
	}
	details["alert_id"] = a.ID
	details["fleet"] = n.Fleet
	if a.Tenant != "" {
		details["tenant"] = a.Tenant
	}
	if len(a.AffectedTenants) > 0 {
		details["affected_tenants"] = a.AffectedTenants
	}
	source := a.Instance
	if source == "" {
		source = a.Subject
	}
	ev.Payload = &PagerDutyPayload{
		Summary: a.Summary, Source: source, Severity: string(a.Severity),
		Timestamp: a.StartedAt.UTC().Format(time.RFC3339), Component: a.Subject, Group: a.Instance,
		Class: string(a.Kind), CustomDetails: details,
	}
	return ev
}

// Send implements alerts.Sink.
func (p *PagerDuty) Send(ctx context.Context, n alerts.Notification) error {
	body, err := json.Marshal(p.PagerDutyEventFor(n))
	if err != nil {
		return fmt.Errorf("pagerduty: encode: %w: %w", err, alerts.ErrPermanent)
	}
	return postJSON(ctx, p.client, "pagerduty", p.url, nil, body)
}
