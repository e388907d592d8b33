package main

import (
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/infra/restapi"
	"github.com/tenantfleet/tenantfleet/queue"
	"github.com/tenantfleet/tenantfleet/tenants"
)

// newIntake builds the intake (webhooks, outbox, reconciler) from the
// configuration.
func newIntake(a *app) (*intake.Intake, error) {
	return intake.New(intake.Config{
		DB:           a.db,
		Queue:        a.queue,
		JiraSecret:   a.cfg.WebhookSecret,
		TicketSecret: a.cfg.WebhookSecret,
		Logger:       a.log,
	})
}

// registerHandlers registers every agent's task handlers on the worker.
func registerHandlers(a *app, w *queue.Worker) error {
	in, err := newIntake(a)
	if err != nil {
		return err
	}
	in.RegisterHandlers(w)
	return nil
}

// registerSchedules adds the periodic entries to the scheduler.
func registerSchedules(a *app, s *queue.Scheduler) error {
	in, err := newIntake(a)
	if err != nil {
		return err
	}
	return in.RegisterSchedule(s)
}

// registerRoutes adds the webhooks and the REST API to the HTTP server.
func registerRoutes(a *app, srv *httpapi.Server) error {
	in, err := newIntake(a)
	if err != nil {
		return err
	}
	in.Register(srv)
	restapi.New(tenants.NewCatalog(a.db)).Register(srv)
	return nil
}
