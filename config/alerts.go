package config

import (
	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Alerts configures the alert engine (agents/alerts) and its sinks. Every
// sink whose URL or key is set receives the alerts; the log sink always
// does. The URLs and keys are secrets (a Slack webhook URL is its own
// credential): Redacted hides them and no error quotes them.
type Alerts struct {
	// RepeatInterval is how long a firing, unacknowledged alert waits
	// before it is notified again (FLEET_ALERT_REPEAT_INTERVAL, yaml
	// alert_repeat_interval). Default 4h. At least 1s.
	RepeatInterval time.Duration `yaml:"alert_repeat_interval"`
	// DeliveryInterval is how often each worker delivers the notification
	// outbox (retries, Alertmanager refreshes); new notifications go out at
	// once (FLEET_ALERT_DELIVERY_INTERVAL, yaml alert_delivery_interval).
	// Default 2s. Between 100ms and 1m.
	DeliveryInterval time.Duration `yaml:"alert_delivery_interval"`
	// WebhookURL receives every alert event as JSON signed the Standard
	// Webhooks way (FLEET_ALERT_WEBHOOK_URL, yaml alert_webhook_url).
	// Default empty: no webhook. http:// or https://; needs WebhookSecret.
	WebhookURL string `yaml:"alert_webhook_url"`
	// WebhookSecret signs the webhook (FLEET_ALERT_WEBHOOK_SECRET, yaml
	// alert_webhook_secret): "whsec_<base64>" is the base64-decoded key,
	// anything else is used as bytes. At least 16 characters.
	WebhookSecret string `yaml:"alert_webhook_secret"`
	// SlackURL is a Slack incoming webhook (FLEET_ALERT_SLACK_URL, yaml
	// alert_slack_url). Default empty: no Slack. http:// or https://.
	SlackURL string `yaml:"alert_slack_url"`
	// PagerDutyRoutingKey is the integration key of a PagerDuty Events API
	// v2 integration (FLEET_ALERT_PAGERDUTY_ROUTING_KEY, yaml
	// alert_pagerduty_routing_key). Default empty: no PagerDuty. 1 to 64
	// letters and digits.
	PagerDutyRoutingKey string `yaml:"alert_pagerduty_routing_key"`
	// PagerDutyURL is the Events API v2 endpoint (FLEET_ALERT_PAGERDUTY_URL,
	// yaml alert_pagerduty_url). Default
	// https://events.pagerduty.com/v2/enqueue.
	PagerDutyURL string `yaml:"alert_pagerduty_url"`
	// AlertmanagerURL is the base URL of a Prometheus Alertmanager
	// (FLEET_ALERTMANAGER_URL, yaml alertmanager_url), e.g.
	// http://alertmanager:9093; alerts are posted to /api/v2/alerts.
	// Default empty: no Alertmanager.
	AlertmanagerURL string `yaml:"alertmanager_url"`
}

// DefaultPagerDutyURL is PagerDuty's Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

var pagerDutyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

func (a *Alerts) applyEnv(str func(string, *string), dur func(string, *time.Duration)) {
	dur("FLEET_ALERT_REPEAT_INTERVAL", &a.RepeatInterval)
	dur("FLEET_ALERT_DELIVERY_INTERVAL", &a.DeliveryInterval)
	str("FLEET_ALERT_WEBHOOK_URL", &a.WebhookURL)
	str("FLEET_ALERT_WEBHOOK_SECRET", &a.WebhookSecret)
	str("FLEET_ALERT_SLACK_URL", &a.SlackURL)
	str("FLEET_ALERT_PAGERDUTY_ROUTING_KEY", &a.PagerDutyRoutingKey)
	str("FLEET_ALERT_PAGERDUTY_URL", &a.PagerDutyURL)
	str("FLEET_ALERTMANAGER_URL", &a.AlertmanagerURL)
}

func (a *Alerts) applyDefaults() {
	a.RepeatInterval = cmp.Or(a.RepeatInterval, 4*time.Hour)
	a.DeliveryInterval = cmp.Or(a.DeliveryInterval, 2*time.Second)
	a.PagerDutyURL = cmp.Or(a.PagerDutyURL, DefaultPagerDutyURL)
}

// validate returns one error per invalid field; URLs are never quoted
// (they may carry a token).
func (a Alerts) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if a.RepeatInterval < time.Second {
		bad("FLEET_ALERT_REPEAT_INTERVAL must be at least 1s, got %s", a.RepeatInterval)
	}
	if a.DeliveryInterval < 100*time.Millisecond || a.DeliveryInterval > time.Minute {
		bad("FLEET_ALERT_DELIVERY_INTERVAL must be between 100ms and 1m, got %s", a.DeliveryInterval)
	}
	for key, raw := range map[string]string{
		"FLEET_ALERT_WEBHOOK_URL": a.WebhookURL, "FLEET_ALERT_SLACK_URL": a.SlackURL,
		"FLEET_ALERT_PAGERDUTY_URL": a.PagerDutyURL, "FLEET_ALERTMANAGER_URL": a.AlertmanagerURL,
	} {
		if raw != "" && !isHTTPURL(raw) {
			bad("%s must be an http:// or https:// URL with a host (not shown: it may hold a token)", key)
		}
	}
	if a.WebhookURL != "" && a.WebhookSecret == "" {
		bad("FLEET_ALERT_WEBHOOK_SECRET is required with FLEET_ALERT_WEBHOOK_URL (deliveries are signed)")
	}
	if a.WebhookSecret != "" && len(a.WebhookSecret) < minWebhookSecretLen {
		bad("FLEET_ALERT_WEBHOOK_SECRET must be at least %d characters", minWebhookSecretLen)
	}
	if a.PagerDutyRoutingKey != "" && !pagerDutyKeyPattern.MatchString(a.PagerDutyRoutingKey) {
		bad("FLEET_ALERT_PAGERDUTY_ROUTING_KEY must be 1 to 64 letters and digits (an Events API v2 integration key)")
	}
	return errs
}

// redacted hides the sinks' URLs and keys.
func (a Alerts) redacted() Alerts {
	hide := func(s string) string {
		if s == "" {
			return ""
		}
		return "(redacted)"
	}
	a.WebhookSecret = hide(a.WebhookSecret)
	a.SlackURL = hide(a.SlackURL)
	a.PagerDutyRoutingKey = hide(a.PagerDutyRoutingKey)
	a.WebhookURL = Redact(a.WebhookURL)
	a.AlertmanagerURL = Redact(a.AlertmanagerURL)
	a.PagerDutyURL = Redact(a.PagerDutyURL)
	return a
}

// isHTTPURL reports whether raw is an absolute http or https URL.
func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
