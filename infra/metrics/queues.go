package metrics

import (
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector exports Asynq queue statistics, with the series names of
// asynq's own x/metrics collector, for every queue Redis knows plus the
// fleet's configured queues, so a fresh fleet already shows its (empty)
// queues.
type QueueCollector struct {
	inspector *asynq.Inspector
	queues    []string
}

// NewQueueCollector returns a collector reading through inspector; queues
// are always reported, even before their first task.
func NewQueueCollector(inspector *asynq.Inspector, queues []string) *QueueCollector {
	return &QueueCollector{inspector: inspector, queues: queues}
}

var (
	tasksDesc = prometheus.NewDesc("asynq_tasks_enqueued_total",
		"Number of tasks in a queue, by state (active, pending, scheduled, retry, archived, completed).",
		[]string{"queue", "state"}, nil)
	sizeDesc = prometheus.NewDesc("asynq_queue_size",
		"Number of tasks in a queue.", []string{"queue"}, nil)
	latencyDesc = prometheus.NewDesc("asynq_queue_latency_seconds",
		"Seconds the oldest pending task of a queue has waited.", []string{"queue"}, nil)
	processedDesc = prometheus.NewDesc("asynq_tasks_processed_total",
		"Tasks processed today (succeeded and failed), by queue; Asynq resets it daily.", []string{"queue"}, nil)
	failedDesc = prometheus.NewDesc("asynq_tasks_failed_total",
		"Tasks failed today, by queue; Asynq resets it daily.", []string{"queue"}, nil)
	pausedDesc = prometheus.NewDesc("asynq_queue_paused_total",
		"1 when the queue is paused.", []string{"queue"}, nil)
	upDesc = prometheus.NewDesc("asynq_up",
		"1 when the queue statistics could be read from Redis.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tasksDesc, sizeDesc, latencyDesc, processedDesc, failedDesc, pausedDesc, upDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	names := slices.Clone(c.queues)
	known, err := c.inspector.Queues()
	up := 1.0
	if err != nil {
		up = 0
	}
	for _, q := range known {
		if !slices.Contains(names, q) {
			names = append(names, q)
		}
	}
	for _, q := range names {
		info := &asynq.QueueInfo{Queue: q} // a queue Redis has not seen yet is empty
		if slices.Contains(known, q) {
			if info, err = c.inspector.GetQueueInfo(q); err != nil {
				up = 0
				continue
			}
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		for state, n := range map[string]int{
			"active": info.Active, "pending": info.Pending, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			gauge(tasksDesc, float64(n), q, state)
		}
		gauge(sizeDesc, float64(info.Size), q)
		gauge(latencyDesc, info.Latency.Seconds(), q)
		gauge(processedDesc, float64(info.Processed), q)
		gauge(failedDesc, float64(info.Failed), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		gauge(pausedDesc, paused, q)
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
}
