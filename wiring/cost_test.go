package wiring_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/config"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/tenants"
	"github.com/tenantfleet/tenantfleet/wiring"
)

// NewCostAnalyzer builds the analyzer from the configuration: the
// FLEET_COST_* price table prices the report, and the fleet's Redis is
// read for the published pool statistics (validated: a forged entry is
// refused).
func TestNewCostAnalyzerUsesTheConfiguredPricesAndRedis(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fleet := cptest.UniqueName("w")
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"FLEET_NAME":                      fleet,
			"FLEET_COST_CLASSES":              "wire.small=0.05/2,wire.big=0.5/8",
			"FLEET_COST_DEFAULT_CLASS":        "wire.small",
			"FLEET_COST_INSTANCE_CLASSES":     "inst-a=wire.big",
			"FLEET_COST_STORAGE_GB_MONTH_USD": "0.2",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	_, db := cptest.Database(t)
	_, rdb := cptest.RedisDB(t)
	for process, at := range map[string]time.Time{"app-1": time.Now(), "stale": time.Now().Add(-time.Hour)} {
		raw, err := json.Marshal(tenants.ProcessStats{Process: process, At: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(ctx, tenants.StatsKey(fleet, process), raw, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s, an, err := wiring.NewCostAnalyzer(ctx, wiring.Conns{Config: cfg, Logger: cptest.DiscardLogger(), DB: db, Redis: rdb})
	if err != nil {
		t.Fatalf("NewCostAnalyzer: %v", err)
	}
	defer s.Close()
	res, err := an.Analyze(ctx)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	p := res.Report.Prices
	if p.DefaultClass != "wire.small" || len(p.Classes) != 2 || p.Classes["wire.big"].VCPUs != 8 || p.InstanceClasses["inst-a"] != "wire.big" ||
		p.StorageGBMonthUSD != 0.2 {
		t.Errorf("report priced with %+v, want the configured table", p)
	}
	if ps := res.Report.PoolStats; ps == nil || ps.Processes != 1 || ps.Refused != 1 || ps.Error != "" {
		t.Errorf("pool stats %+v, want the fleet's Redis read: one process, the stale one refused", ps)
	}

	// Without Redis the analysis still runs and says what it did not read.
	s2, an2, err := wiring.NewCostAnalyzer(ctx, wiring.Conns{Config: cfg, Logger: cptest.DiscardLogger(), DB: db})
	if err != nil {
		t.Fatalf("NewCostAnalyzer without Redis: %v", err)
	}
	defer s2.Close()
	res, err = an2.Analyze(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps := res.Report.PoolStats; ps == nil || ps.Error == "" {
		t.Errorf("pool stats %+v without Redis, want the reason", ps)
	}
}
