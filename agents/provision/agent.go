package provision

import (
	"errors"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/queue"
)

// Errors of the agent.
var (
	// ErrWaitingForInstance means an onboarding waits for an instance that
	// is being created; the task is retried (and woken early when the
	// instance is ready).
	ErrWaitingForInstance = errors.New("provision: waiting for an instance")
	// ErrBusy means another task (or another attempt of the same one) is
	// onboarding or offboarding the same tenant right now.
	ErrBusy = errors.New("provision: tenant busy in another task")
	// ErrPermanent marks a failure that no retry will fix (a tenant id
	// already taken by an offboarded tenant, an instance that failed).
	ErrPermanent = errors.New("provision: permanent failure")
)

// Agent is the provisioning agent. It is safe for concurrent use.
type Agent struct {
	cfg   Config
	store *controlplane.Store
}

// New validates cfg, fills its defaults and returns the agent. It makes
// itself cfg.Intake's handler of abandoned requests (OnAbandoned),
// so a request whose task was archived unfinished fails its tenant too.
func New(cfg Config) (*Agent, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, store: controlplane.NewStore(cfg.DB)}
	cfg.Intake.OnAbandoned(a.failAbandoned)
	return a, nil
}

// Register registers the agent's handlers on w: tenant:onboard,
// tenant:offboard, tenant:purge, instance:create and instance:check.
func (a *Agent) Register(w *queue.Worker) {
	w.HandleFunc(queue.TypeTenantOnboard, a.HandleOnboard)
	w.HandleFunc(queue.TypeTenantOffboard, a.HandleOffboard)
	w.HandleFunc(queue.TypeTenantPurge, a.HandleOffboard)
	w.HandleFunc(queue.TypeInstanceCreate, a.HandleInstanceCreate)
	w.HandleFunc(queue.TypeInstanceCheck, a.HandleInstanceCheck)
}
