package wiring

import (
	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/infra/alertsinks"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// NewAlertEngine builds the alert engine with the configured sinks. The
// CLI builds it too, so an acknowledgement it records is queued for the
// same sinks; the fleet's workers deliver it.
func NewAlertEngine(a Conns) (*alerts.Engine, error) {
	sinks, err := alertsinks.FromConfig(a.Config.Alerts, a.Logger, nil)
	if err != nil {
		return nil, err
	}
	return alerts.New(alerts.Config{
		Store:            controlplane.NewStore(a.DB),
		Sinks:            sinks,
		Fleet:            a.Config.Name,
		RepeatInterval:   a.Config.Alerts.RepeatInterval,
		DeliveryInterval: a.Config.Alerts.DeliveryInterval,
		Logger:           a.Logger,
	})
}
