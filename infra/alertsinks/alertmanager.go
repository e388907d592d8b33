package alertsinks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
)

// Alertmanager posts alerts to a Prometheus Alertmanager
// (POST /api/v2/alerts), so teams that route through it keep their
// routing, grouping and silences. A firing alert is posted with an endsAt
// ResolveAfter ahead and re-posted every RefreshEvery (well before endsAt)
// while it stays open; a resolved one is posted with endsAt at its
// resolution, which resolves it in Alertmanager at once.
type Alertmanager struct {
	endpoint     string
	resolveAfter time.Duration
	refreshEvery time.Duration
	client       *http.Client
	now          func() time.Time
}

var (
	_ alerts.Sink      = (*Alertmanager)(nil)
	_ alerts.Refresher = (*Alertmanager)(nil)
)

// AlertmanagerConfig configures the Alertmanager sink.
type AlertmanagerConfig struct {
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093.
	// Required.
	URL string
	// ResolveAfter is how far ahead of each post a firing alert's endsAt
	// lies: Alertmanager resolves it on its own if the fleet stops posting.
	// Default 5m.
	ResolveAfter time.Duration
	// RefreshEvery is how often firing alerts are posted again. Default a
	// third of ResolveAfter.
	RefreshEvery time.Duration
	// Client defaults to one with DefaultTimeout.
	Client *http.Client
}

// NewAlertmanager returns the Alertmanager sink.
func NewAlertmanager(cfg AlertmanagerConfig) (*Alertmanager, error) {
	base, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || base.Host == "" {
		return nil, errors.New("alertsinks: alertmanager needs a base URL")
	}
	resolveAfter := cmp.Or(cfg.ResolveAfter, 5*time.Minute)
	return &Alertmanager{
		endpoint:     strings.TrimSuffix(cfg.URL, "/") + "/api/v2/alerts",
		resolveAfter: resolveAfter,
		refreshEvery: cmp.Or(cfg.RefreshEvery, resolveAfter/3),
		client:       newClient(cfg.Client),
		now:          time.Now,
	}, nil
}

// Name implements alerts.Sink.
func (*Alertmanager) Name() string { return "alertmanager" }

// Handles implements alerts.Sink: everything but acknowledgements, which
// Alertmanager has no notion of (silence it there instead).
func (*Alertmanager) Handles(e alerts.Event) bool { return e != alerts.EventAcknowledge }

// RefreshEvery implements alerts.Refresher.
func (a *Alertmanager) RefreshEvery() time.Duration { return a.refreshEvery }

// PostableAlert is one alert of Alertmanager's POST /api/v2/alerts.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// PostableAlertFor renders a notification at now. The labels identify the
// alert (alertname is the kind) and stay the same over its life, so every
// post updates one Alertmanager alert.
func (a *Alertmanager) PostableAlertFor(n alerts.Notification, now time.Time) PostableAlert {
	al := n.Alert
	labels := map[string]string{
		"alertname": string(al.Kind), "subject": al.Subject, "severity": string(al.Severity), "fleet": n.Fleet,
	}
	if al.Instance != "" {
		labels["instance"] = al.Instance
	}
	if al.Tenant != "" {
		labels["tenant"] = al.Tenant
	}
	annotations := map[string]string{"summary": al.Summary}
	if len(al.AffectedTenants) > 0 {
		annotations["affected_tenants"] = strings.Join(al.AffectedTenants, ",")
	}
	ends := now.Add(a.resolveAfter)
	if n.Event == alerts.EventResolve || al.ResolvedAt != nil {
		ends = now
		if al.ResolvedAt != nil {
			ends = *al.ResolvedAt
		}
	}
	return PostableAlert{Labels: labels, Annotations: annotations, StartsAt: al.StartedAt.UTC(), EndsAt: ends.UTC()}
}

// Send implements alerts.Sink.
func (a *Alertmanager) Send(ctx context.Context, n alerts.Notification) error {
	body, err := json.Marshal([]PostableAlert{a.PostableAlertFor(n, a.now())})
	if err != nil {
		return fmt.Errorf("alertmanager: encode: %w: %w", err, alerts.ErrPermanent)
	}
	return postJSON(ctx, a.client, "alertmanager", a.endpoint, nil, body)
}
