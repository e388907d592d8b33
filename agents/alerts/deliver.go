package alerts

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/controlplane"
)

// claimBatch is how many notifications one claim takes.
const claimBatch = 50

// maxBatches bounds the claims of one pass, so a pass ends.
const maxBatches = 20

// Deliver runs one delivery pass: it queues the refreshes sinks need, then
// claims due notifications of the configured sinks and sends them, each
// sink in its own goroutine and at its own pace. It returns how many were
// delivered. Any number of processes may run it at once.
func (e *Engine) Deliver(ctx context.Context) (int, error) {
	if len(e.cfg.Sinks) == 0 {
		return 0, nil
	}
	var errs []error
	for _, s := range e.cfg.Sinks {
		if r, ok := s.(Refresher); ok {
			if _, err := e.cfg.Store.EnqueueAlertRefreshes(ctx, s.Name(), r.RefreshEvery()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sinks := make(map[string]Sink, len(e.cfg.Sinks))
	for _, s := range e.cfg.Sinks {
		sinks[s.Name()] = s
	}
	delivered := 0
	for range maxBatches {
		names := make([]string, 0, len(sinks))
		for n := range sinks {
			names = append(names, n)
		}
		claims, err := e.cfg.Store.ClaimAlertNotifications(ctx, names, claimBatch, 2*e.cfg.SendTimeout)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if len(claims) == 0 {
			break
		}
		bySink := map[string][]controlplane.AlertDelivery{}
		for _, c := range claims {
			bySink[c.Sink] = append(bySink[c.Sink], c)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, batch := range bySink {
			wg.Go(func() {
				n, limited, err := e.deliverBatch(ctx, sinks[name], batch)
				mu.Lock()
				defer mu.Unlock()
				delivered += n
				if err != nil {
					errs = append(errs, err)
				}
				if limited {
					delete(sinks, name) // held by the service: not again this pass
				}
			})
		}
		wg.Wait()
		if len(sinks) == 0 || ctx.Err() != nil {
			break
		}
	}
	return delivered, errors.Join(errs...)
}

// deliverBatch sends one sink's claims in order; after a 429 the rest wait
// with the sink. It reports how many were sent and whether the sink is
// rate limited.
func (e *Engine) deliverBatch(ctx context.Context, sink Sink, batch []controlplane.AlertDelivery) (int, bool, error) {
	sent := 0
	for _, d := range batch {
		if err := e.pace(ctx, sink.Name()); err != nil {
			return sent, false, err
		}
		n := Notification{ID: d.ID, Event: Event(d.Event), Alert: viewAlert(d.Alert), Fleet: e.cfg.Fleet, CreatedAt: d.CreatedAt}
		sendCtx, cancel := context.WithTimeout(ctx, e.cfg.SendTimeout)
		err := sink.Send(sendCtx, n)
		cancel()
		ok, limited, serr := e.settle(ctx, sink.Name(), d, err)
		if ok {
			sent++
		}
		if serr != nil {
			return sent, limited, serr
		}
		if limited {
			return sent, true, nil
		}
	}
	return sent, false, nil
}

// settle records the outcome of one send.
func (e *Engine) settle(ctx context.Context, sink string, d controlplane.AlertDelivery, sendErr error) (ok, limited bool, err error) {
	store := e.cfg.Store
	log := e.cfg.Logger.With(slog.String("sink", sink), slog.Int64("notification", d.ID), slog.Int64("alert", d.Alert.ID),
		slog.String("event", d.Event), slog.Int("attempt", d.Attempts))
	var rl *RateLimitedError
	switch {
	case sendErr == nil:
		e.metrics.count(sink, d.Event, "sent")
		return true, false, store.MarkAlertNotificationSent(ctx, d.ID)
	case errors.As(sendErr, &rl):
		e.metrics.count(sink, d.Event, "rate_limited")
		log.WarnContext(ctx, "alert sink rate limited", slog.Duration("retry_after", rl.RetryAfter))
		// The attempt does not count: the service asked us to wait.
		if err := store.RetryAlertNotification(ctx, d.ID, rl.RetryAfter, sendErr.Error()); err != nil {
			return false, true, err
		}
		return false, true, store.DeferAlertSink(ctx, sink, rl.RetryAfter)
	case errors.Is(sendErr, ErrPermanent) || d.Attempts >= e.cfg.MaxAttempts:
		e.metrics.count(sink, d.Event, "failed")
		log.ErrorContext(ctx, "alert notification given up", slog.String("error", sendErr.Error()))
		return false, false, store.FailAlertNotification(ctx, d.ID, sendErr.Error())
	}
	e.metrics.count(sink, d.Event, "retry")
	delay := e.backoff(d.Attempts)
	log.WarnContext(ctx, "alert notification failed, will retry", slog.String("error", sendErr.Error()), slog.Duration("in", delay))
	return false, false, store.RetryAlertNotification(ctx, d.ID, delay, sendErr.Error())
}

// backoff is the delay after the attempt-th failure.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.RetryMax)
}

// pacer spaces one sink's requests by every, within this process.
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func (e *Engine) pace(ctx context.Context, sink string) error {
	p := e.pacers[sink]
	if p == nil {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	wait := p.next.Sub(now)
	if p.next.Before(now) {
		p.next = now
	}
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kick asks the background loop (Start) for a delivery pass now; it never
// blocks.
func (e *Engine) Kick() {
	select {
	case e.kicks <- struct{}{}:
	default:
	}
}

// Start runs delivery passes in the background, every DeliveryInterval and
// whenever an observation queued a notification, until Stop.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped || e.cancel != nil {
		return errors.New("alerts: engine already started or stopped")
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.done = make(chan struct{})
	go e.loop(ctx)
	return nil
}

func (e *Engine) loop(ctx context.Context) {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.DeliveryInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.kicks:
		}
		passCtx, cancel := context.WithTimeout(ctx, time.Minute)
		if _, err := e.Deliver(passCtx); err != nil && !errors.Is(err, context.Canceled) {
			e.cfg.Logger.WarnContext(ctx, "alert delivery pass", slog.String("error", err.Error()))
		}
		cancel()
	}
}

// Stop ends the background loop and waits for its pass; idempotent.
func (e *Engine) Stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.stopped = true
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
