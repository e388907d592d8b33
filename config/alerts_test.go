package config

import (
	"strings"
	"testing"
	"time"
)

func TestAlertsConfig(t *testing.T) {
	env := map[string]string{
		"FLEET_ALERT_REPEAT_INTERVAL":       "1s",
		"FLEET_ALERT_WEBHOOK_URL":           "https://hooks.example.com/fleet?token=abc",
		"FLEET_ALERT_WEBHOOK_SECRET":        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"FLEET_ALERT_SLACK_URL":             "https://hooks.slack.com/services/T0/B0/sl4cks3cr3t",
		"FLEET_ALERT_PAGERDUTY_ROUTING_KEY": "R0UT1NGKEYabc",
		"FLEET_ALERTMANAGER_URL":            "http://user:pw@alertmanager:9093",
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.RepeatInterval != time.Second || c.Alerts.DeliveryInterval != 2*time.Second || c.Alerts.PagerDutyURL != DefaultPagerDutyURL {
		t.Fatalf("alerts config: %+v", c.Alerts)
	}
	r := c.Redacted().Alerts
	printed := r.SlackURL + r.WebhookSecret + r.PagerDutyRoutingKey + r.AlertmanagerURL + r.WebhookURL
	for _, secret := range []string{"sl4cks3cr3t", "MfKQ9r8G", "R0UT1NG", ":pw@", "token=abc"} {
		if strings.Contains(printed, secret) {
			t.Errorf("Redacted shows %q: %+v", secret, r)
		}
	}
	if d := Default().Alerts; d.RepeatInterval != 4*time.Hour || d.WebhookURL != "" {
		t.Errorf("defaults: %+v", d)
	}
	for key, bad := range map[string]map[string]string{
		"FLEET_ALERT_REPEAT_INTERVAL":       {"FLEET_ALERT_REPEAT_INTERVAL": "500ms"},
		"FLEET_ALERT_DELIVERY_INTERVAL":     {"FLEET_ALERT_DELIVERY_INTERVAL": "2m"},
		"FLEET_ALERT_SLACK_URL":             {"FLEET_ALERT_SLACK_URL": "ftp://hooks.slack.com/s3cr3t"},
		"FLEET_ALERT_WEBHOOK_SECRET":        {"FLEET_ALERT_WEBHOOK_URL": "https://x.example/"},
		"at least 16":                       {"FLEET_ALERT_WEBHOOK_SECRET": "short"},
		"FLEET_ALERT_PAGERDUTY_ROUTING_KEY": {"FLEET_ALERT_PAGERDUTY_ROUTING_KEY": "has space"},
		"FLEET_ALERTMANAGER_URL":            {"FLEET_ALERTMANAGER_URL": "alertmanager:9093"},
	} {
		_, err := Load(func(k string) string { return bad[k] })
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: %v, want an error naming %s", bad, err, key)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error quotes the secret URL: %v", err)
		}
	}
}
