// Package metrics builds the Prometheus registry a fleet process serves on
// /metrics: Go runtime and process collectors, Asynq queue statistics, and
// whatever collectors the components add.
package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors, plus Asynq queue sizes, latency and processed/failed counts
// of the given queues read through inspector when it is not nil.
func NewRegistry(inspector *asynq.Inspector, queues []string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if inspector != nil {
		reg.MustRegister(NewQueueCollector(inspector, queues))
	}
	return reg
}
