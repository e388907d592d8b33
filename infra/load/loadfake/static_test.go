package loadfake_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/loadfake"
)

func TestStatic(t *testing.T) {
	t.Parallel()
	s := loadfake.NewStatic(load.Reading{CPUPercent: 10})
	ctx := t.Context()

	called := s.Called()
	r, err := s.Load(ctx, load.Target{ID: "a"})
	if err != nil || r.CPUPercent != 10 || r.At.IsZero() {
		t.Fatalf("Load: got %+v, %v; want 10%% stamped now", r, err)
	}
	select {
	case <-called:
	default:
		t.Errorf("Called channel not closed after Load")
	}

	s.SetFor("b", load.Reading{CPUPercent: 90, ReplicaLag: 3 * time.Second})
	s.Set(load.Reading{CPUPercent: 20})
	if r, _ := s.Load(ctx, load.Target{ID: "b"}); r.CPUPercent != 90 || r.ReplicaLag != 3*time.Second {
		t.Errorf("Load b: got %+v, want 90%% and 3s lag", r)
	}
	if r, _ := s.Load(ctx, load.Target{ID: "a"}); r.CPUPercent != 20 {
		t.Errorf("Load a: got %v, want 20", r.CPUPercent)
	}

	boom := errors.New("boom")
	s.SetErr(boom)
	if _, err := s.Load(ctx, load.Target{ID: "a"}); !errors.Is(err, boom) {
		t.Errorf("Load with error set: got %v, want boom", err)
	}
	s.SetErr(nil)
	if got := s.Calls(); got != 4 {
		t.Errorf("Calls: got %d, want 4", got)
	}
}

func TestStaticConcurrent(t *testing.T) {
	t.Parallel()
	s := loadfake.NewStatic(load.Reading{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				s.Set(load.Reading{CPUPercent: float64(i * j % 100)})
				if _, err := s.Load(context.Background(), load.Target{ID: "x"}); err != nil {
					t.Errorf("Load: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := s.Calls(); got != 400 {
		t.Errorf("Calls: got %d, want 400", got)
	}
}
