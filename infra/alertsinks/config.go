package alertsinks

import (
	"log/slog"
	"net/http"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/config"
)

// FromConfig builds the sinks cfg enables: the log sink always, then the
// webhook, Slack, PagerDuty and Alertmanager when their URL or key is set.
// client may be nil.
func FromConfig(cfg config.Alerts, logger *slog.Logger, client *http.Client) ([]alerts.Sink, error) {
	sinks := []alerts.Sink{&Log{Logger: logger}}
	if cfg.WebhookURL != "" {
		s, err := NewWebhook(cfg.WebhookURL, cfg.WebhookSecret, client)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if cfg.SlackURL != "" {
		s, err := NewSlack(cfg.SlackURL, client)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if cfg.PagerDutyRoutingKey != "" {
		s, err := NewPagerDuty(cfg.PagerDutyURL, cfg.PagerDutyRoutingKey, client)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	if cfg.AlertmanagerURL != "" {
		s, err := NewAlertmanager(AlertmanagerConfig{URL: cfg.AlertmanagerURL, Client: client})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}
