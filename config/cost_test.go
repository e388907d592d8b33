package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/pricetable"
)

func TestCostDefaultsAreTheExamples(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cost
	if cc.DedicatedShare != 0.3 || cc.SharedShare != 0.05 || cc.MinWindow != time.Hour || cc.StorageGBMonthUSD != 0.115 ||
		cc.ReplicaHourlyUSD != 0 || cc.DefaultClass != "db.m6g.large" || len(cc.InstanceClasses) != 0 {
		t.Errorf("cost defaults: %+v", cc)
	}
	if len(cc.Classes) != len(pricetable.Examples()) || cc.Classes["db.m6g.xlarge"] != (pricetable.Class{HourlyUSD: 0.304, VCPUs: 4}) {
		t.Errorf("classes %v, want the example table", cc.Classes)
	}
}

func TestCostFromEnvAndYAML(t *testing.T) {
	t.Parallel()
	c, err := Load(envOf(map[string]string{
		"FLEET_COST_DEDICATED_SHARE":      "0.4",
		"FLEET_COST_SHARED_SHARE":         "0.1",
		"FLEET_COST_MIN_WINDOW":           "30m",
		"FLEET_COST_STORAGE_GB_MONTH_USD": "0.08",
		"FLEET_COST_REPLICA_HOURLY_USD":   "0.1",
		"FLEET_COST_CLASSES":              "small=0.1/2, big=0.4/8",
		"FLEET_COST_DEFAULT_CLASS":        "small",
		"FLEET_COST_INSTANCE_CLASSES":     "inst-a=big",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p := c.Cost.Prices()
	if c.Cost.DedicatedShare != 0.4 || c.Cost.SharedShare != 0.1 || c.Cost.MinWindow != 30*time.Minute ||
		p.StorageGBMonthUSD != 0.08 || p.ReplicaHourlyUSD != 0.1 || p.DefaultClass != "small" ||
		len(p.Classes) != 2 || p.Classes["big"] != (pricetable.Class{HourlyUSD: 0.4, VCPUs: 8}) || p.InstanceClasses["inst-a"] != "big" {
		t.Errorf("got %+v", c.Cost)
	}

	path := filepath.Join(t.TempDir(), "fleet.yaml")
	yaml := "cost_default_class: m\ncost_classes:\n  m: {hourly_usd: 0.2, vcpus: 2}\n  l: {hourly_usd: 0.4, vcpus: 4}\n" +
		"cost_instance_classes:\n  inst-b: l\ncost_shared_share: 0.02\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(envOf(map[string]string{"FLEET_CONFIG": path, "FLEET_COST_SHARED_SHARE": "0.03"}))
	if err != nil {
		t.Fatalf("Load YAML: %v", err)
	}
	if c.Cost.DefaultClass != "m" || c.Cost.Classes["l"].VCPUs != 4 || c.Cost.InstanceClasses["inst-b"] != "l" || c.Cost.SharedShare != 0.03 {
		t.Errorf("YAML (environment wins): %+v", c.Cost)
	}
	// Redacted copies the maps: changing the printed copy leaves the
	// configuration alone.
	r := c.Redacted()
	r.Cost.Classes["l"] = pricetable.Class{}
	if c.Cost.Classes["l"].VCPUs != 4 {
		t.Error("Redacted shares the class table")
	}
}

func TestCostValidationErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"dedicated share above 1", map[string]string{"FLEET_COST_DEDICATED_SHARE": "1.5"}, []string{"FLEET_COST_DEDICATED_SHARE must be above 0 and at most 1"}},
		{"negative dedicated share", map[string]string{"FLEET_COST_DEDICATED_SHARE": "-0.3"}, []string{"FLEET_COST_DEDICATED_SHARE"}},
		{"NaN share", map[string]string{"FLEET_COST_SHARED_SHARE": "NaN"}, []string{"FLEET_COST_SHARED_SHARE"}},
		{"shared share not below dedicated", map[string]string{"FLEET_COST_DEDICATED_SHARE": "0.2", "FLEET_COST_SHARED_SHARE": "0.2"},
			[]string{"FLEET_COST_SHARED_SHARE must be above 0 and below FLEET_COST_DEDICATED_SHARE (0.2)"}},
		{"share not a number", map[string]string{"FLEET_COST_SHARED_SHARE": "five percent"}, []string{"FLEET_COST_SHARED_SHARE", "not a number"}},
		{"short window", map[string]string{"FLEET_COST_MIN_WINDOW": "10ms"}, []string{"FLEET_COST_MIN_WINDOW must be at least 1s"}},
		{"negative storage price", map[string]string{"FLEET_COST_STORAGE_GB_MONTH_USD": "-0.1"}, []string{"FLEET_COST_* price table", "storage price per GB-month -0.1"}},
		{"infinite replica price", map[string]string{"FLEET_COST_REPLICA_HOURLY_USD": "+Inf"}, []string{"replica price per hour +Inf"}},
		{"negative class price", map[string]string{"FLEET_COST_CLASSES": "db.m6g.large=-0.152/2"}, []string{`class "db.m6g.large": want a name, a finite hourly price >= 0`}},
		{"class without vCPUs", map[string]string{"FLEET_COST_CLASSES": "db.m6g.large=0.152/0"}, []string{"at least 1 vCPU"}},
		{"class entry malformed", map[string]string{"FLEET_COST_CLASSES": "db.m6g.large=0.152"}, []string{"FLEET_COST_CLASSES entry", "name=hourly/vcpus"}},
		{"class named twice", map[string]string{"FLEET_COST_CLASSES": "a=1/2,a=2/4"}, []string{`FLEET_COST_CLASSES names "a" twice`}},
		{"class name with SQL", map[string]string{"FLEET_COST_CLASSES": "x';drop=1/2", "FLEET_COST_DEFAULT_CLASS": "x';drop"}, []string{"FLEET_COST_CLASSES: class name"}},
		{"default class not in the table", map[string]string{"FLEET_COST_CLASSES": "small=0.1/2"}, []string{`default class "db.m6g.large" is not in the price table`}},
		{"unknown default class", map[string]string{"FLEET_COST_DEFAULT_CLASS": "db.x9.huge"}, []string{`default class "db.x9.huge"`}},
		{"instance of an unknown class", map[string]string{"FLEET_COST_INSTANCE_CLASSES": "inst-a=db.x9.huge"}, []string{`instance "inst-a": class "db.x9.huge" is not in the price table`}},
		{"bad instance id", map[string]string{"FLEET_COST_INSTANCE_CLASSES": "Inst A=db.m6g.large"}, []string{"FLEET_COST_INSTANCE_CLASSES", "not an instance id"}},
		{"instance entry malformed", map[string]string{"FLEET_COST_INSTANCE_CLASSES": "inst-a"}, []string{"FLEET_COST_INSTANCE_CLASSES entry", "instance-id=class"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(envOf(tc.env))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load(%v) = %v, want ErrInvalid", tc.env, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestCostYAMLRefusesUnknownClassFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleet.yaml")
	if err := os.WriteFile(path, []byte("cost_classes:\n  m: {hourly: 0.2, vcpus: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(envOf(map[string]string{"FLEET_CONFIG": path})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "hourly") {
		t.Fatalf("error = %v, want ErrInvalid naming the unknown field", err)
	}
}
