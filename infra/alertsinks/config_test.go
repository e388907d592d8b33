package alertsinks_test

import "github.com/tenantfleet/tenantfleet/config"

func configAll() config.Alerts {
	return config.Alerts{
		WebhookURL: "https://hooks.example.com/x", WebhookSecret: webhookSecret,
		SlackURL: "https://hooks.slack.com/services/T/B/X", PagerDutyRoutingKey: "abc", PagerDutyURL: config.DefaultPagerDutyURL,
		AlertmanagerURL: "http://127.0.0.1:9093",
	}
}
