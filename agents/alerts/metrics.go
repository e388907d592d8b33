package alerts

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// deliveryMetrics counts deliveries by sink, event and outcome.
type deliveryMetrics struct {
	deliveries *prometheus.CounterVec
}

func newDeliveryMetrics() *deliveryMetrics {
	return &deliveryMetrics{deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantfleet_alert_deliveries_total",
		Help: "Alert notification deliveries by this process, by sink, event and outcome (sent, retry, rate_limited, failed).",
	}, []string{"sink", "event", "outcome"})}
}

func (m *deliveryMetrics) count(sink, event, outcome string) {
	m.deliveries.WithLabelValues(sink, event, outcome).Inc()
}

var (
	descOpen = prometheus.NewDesc("tenantfleet_alerts_open",
		"Open (firing) alerts in the control plane, by kind and severity.", []string{"kind", "severity"}, nil)
	descInhibited = prometheus.NewDesc("tenantfleet_alerts_inhibited",
		"Open alerts muted by an instance_down of their instance, by kind and severity.", []string{"kind", "severity"}, nil)
	descPending = prometheus.NewDesc("tenantfleet_alert_notifications_pending",
		"Notifications waiting in the outbox, by sink.", []string{"sink"}, nil)
	descUp = prometheus.NewDesc("tenantfleet_alerts_store_up",
		"1 when the alert gauges could be read from the control plane.", nil, nil)
)

// collectTimeout bounds the control-plane reads of one scrape.
const collectTimeout = 3 * time.Second

// Collector returns the engine's Prometheus collector: its delivery
// counter and, read from the control plane at each scrape, the open alerts
// and the outbox backlog. Register it on the fleet's registry.
func (e *Engine) Collector() prometheus.Collector { return &collector{e: e} }

type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.e.metrics.deliveries.Describe(ch)
	for _, d := range []*prometheus.Desc{descOpen, descInhibited, descPending, descUp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.e.metrics.deliveries.Collect(ch)
	// A scrape carries no context; bound the reads instead.
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	up := 1
	counts, err := c.e.cfg.Store.CountOpenAlerts(ctx)
	if err != nil {
		up = 0
	}
	for _, n := range counts {
		gauge(descOpen, n.Open, n.Kind, n.Severity)
		gauge(descInhibited, n.Inhibited, n.Kind, n.Severity)
	}
	pending, err := c.e.cfg.Store.PendingAlertNotifications(ctx)
	if err != nil {
		up = 0
	}
	for _, s := range c.e.cfg.Sinks {
		gauge(descPending, pending[s.Name()], s.Name())
	}
	gauge(descUp, up)
}
