package alertsinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/stdwebhook"
)

// Webhook posts every alert event as JSON, signed the Standard Webhooks
// way: webhook-id is the notification's outbox id (the same on every
// retry, for the receiver's dedup), webhook-timestamp the send time, and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
type Webhook struct {
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
}

var _ alerts.Sink = (*Webhook)(nil)

// WebhookPayload is the body of a webhook delivery.
type WebhookPayload struct {
	// Type is "alert.<event>": alert.trigger, alert.repeat,
	// alert.acknowledge, alert.resolve.
	Type string `json:"type"`
	// Timestamp is when the event happened.
	Timestamp time.Time   `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is the data of a webhook delivery.
type WebhookData struct {
	Fleet string       `json:"fleet"`
	Event alerts.Event `json:"event"`
	Alert alerts.Alert `json:"alert"`
}

// NewWebhook returns the webhook sink for target, signing with secret
// ("whsec_<base64>" or raw bytes). client may be nil.
func NewWebhook(target, secret string, client *http.Client) (*Webhook, error) {
	if target == "" || secret == "" {
		return nil, errors.New("alertsinks: webhook needs a URL and a secret")
	}
	key, err := stdwebhook.DecodeSecret(secret)
	if err != nil {
		return nil, fmt.Errorf("alertsinks: webhook secret: %w", err)
	}
	return &Webhook{url: target, key: key, client: newClient(client), now: time.Now}, nil
}

// Name implements alerts.Sink.
func (*Webhook) Name() string { return "webhook" }

// Handles implements alerts.Sink: every event but refreshes.
func (*Webhook) Handles(e alerts.Event) bool { return e != alerts.EventRefresh }

// MessageID is the webhook-id of a notification.
func MessageID(n alerts.Notification) string {
	return "msg_" + n.Fleet + "_" + strconv.FormatInt(n.ID, 10)
}

// Send implements alerts.Sink.
func (w *Webhook) Send(ctx context.Context, n alerts.Notification) error {
	body, err := json.Marshal(WebhookPayload{
		Type: "alert." + string(n.Event), Timestamp: n.CreatedAt.UTC(),
		Data: WebhookData{Fleet: n.Fleet, Event: n.Event, Alert: n.Alert},
	})
	if err != nil {
		return fmt.Errorf("webhook: encode: %w: %w", err, alerts.ErrPermanent)
	}
	h := http.Header{}
	stdwebhook.Sign(h, w.key, MessageID(n), w.now(), body)
	return postJSON(ctx, w.client, "webhook", w.url, h, body)
}
