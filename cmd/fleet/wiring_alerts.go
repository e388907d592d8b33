package main

import (
	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/alertsinks"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// newAlertEngine builds the alert engine with the configured sinks. The
// CLI builds it too, so an acknowledgement it records is queued for the
// same sinks; the fleet's workers deliver it.
func newAlertEngine(a *app) (*alerts.Engine, error) {
	sinks, err := alertsinks.FromConfig(a.cfg.Alerts, a.log, nil)
	if err != nil {
		return nil, err
	}
	return alerts.New(alerts.Config{
		Store:            controlplane.NewStore(a.db),
		Sinks:            sinks,
		Fleet:            a.cfg.Name,
		RepeatInterval:   a.cfg.Alerts.RepeatInterval,
		DeliveryInterval: a.cfg.Alerts.DeliveryInterval,
		Logger:           a.log,
	})
}
