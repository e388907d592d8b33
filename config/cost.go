package config

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/pricetable"
)

// Cost configures the cost agent's advice and price table (agents/cost),
// part of Config. The default prices are examples (approximate RDS for
// PostgreSQL list prices, pricetable.Examples), not quotes: set your own.
type Cost struct {
	// DedicatedShare is the part of its shared instance's statement time
	// above which a tenant is advised to move to a dedicated instance
	// (FLEET_COST_DEDICATED_SHARE, yaml cost_dedicated_share). Default 0.3;
	// above 0, at most 1.
	DedicatedShare float64 `yaml:"cost_dedicated_share"`
	// SharedShare is the part of its dedicated instance's vCPU time below
	// which a tenant is advised to move to a shared instance
	// (FLEET_COST_SHARED_SHARE, yaml cost_shared_share). Default 0.05;
	// above 0, below DedicatedShare.
	SharedShare float64 `yaml:"cost_shared_share"`
	// MinWindow is the shortest window tier moves and resizes are judged
	// from (FLEET_COST_MIN_WINDOW, yaml cost_min_window). Default 1h, at
	// least 1s.
	MinWindow time.Duration `yaml:"cost_min_window"`
	// StorageGBMonthUSD is the price of a GB of storage a month
	// (FLEET_COST_STORAGE_GB_MONTH_USD, yaml cost_storage_gb_month_usd).
	// Default 0.115 (gp3, an example); 0 means the default.
	StorageGBMonthUSD float64 `yaml:"cost_storage_gb_month_usd"`
	// ReplicaHourlyUSD is the price of a read replica an hour
	// (FLEET_COST_REPLICA_HOURLY_USD, yaml cost_replica_hourly_usd).
	// Default 0: the price of its instance's class.
	ReplicaHourlyUSD float64 `yaml:"cost_replica_hourly_usd"`
	// DefaultClass is the class of instances not in InstanceClasses, and
	// of the shared instance a move to shared is priced on
	// (FLEET_COST_DEFAULT_CLASS, yaml cost_default_class). Default
	// db.m6g.large. Must be in Classes.
	DefaultClass string `yaml:"cost_default_class"`
	// Classes is the price table: class name to hourly price and vCPUs
	// (FLEET_COST_CLASSES as name=hourly/vcpus pairs, comma separated, e.g.
	// "db.m6g.large=0.152/2,db.m6g.xlarge=0.304/4"; yaml cost_classes:
	// {name: {hourly_usd, vcpus}}). Given, it replaces the example table
	// (pricetable.Examples) as a whole. Resizes and moves to dedicated pick
	// from it, so list only classes you would run.
	Classes map[string]pricetable.Class `yaml:"cost_classes"`
	// InstanceClasses maps instance ids to their classes
	// (FLEET_COST_INSTANCE_CLASSES as id=class pairs, comma separated; yaml
	// cost_instance_classes: {id: class}). Default empty: every instance
	// has DefaultClass (the catalog records no class).
	InstanceClasses map[string]string `yaml:"cost_instance_classes"`
}

// classNamePattern is a class name: printable, no separator of the
// FLEET_COST_* lists.
var classNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// instanceIDPattern is an instance id (the catalog's form).
var instanceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func (c *Cost) applyEnv(getenv func(string) string, str func(string, *string), dur func(string, *time.Duration),
	float func(string, *float64), errs *[]error) {
	float("FLEET_COST_DEDICATED_SHARE", &c.DedicatedShare)
	float("FLEET_COST_SHARED_SHARE", &c.SharedShare)
	dur("FLEET_COST_MIN_WINDOW", &c.MinWindow)
	float("FLEET_COST_STORAGE_GB_MONTH_USD", &c.StorageGBMonthUSD)
	float("FLEET_COST_REPLICA_HOURLY_USD", &c.ReplicaHourlyUSD)
	str("FLEET_COST_DEFAULT_CLASS", &c.DefaultClass)
	if v := getenv("FLEET_COST_CLASSES"); v != "" {
		classes, err := ParseCostClasses(v)
		if err != nil {
			*errs = append(*errs, err)
		} else {
			c.Classes = classes
		}
	}
	if v := getenv("FLEET_COST_INSTANCE_CLASSES"); v != "" {
		m, err := parsePairs("FLEET_COST_INSTANCE_CLASSES", v, "instance-id=class")
		if err != nil {
			*errs = append(*errs, err)
		} else {
			c.InstanceClasses = m
		}
	}
}

// ParseCostClasses parses FLEET_COST_CLASSES: name=hourly/vcpus pairs,
// comma separated.
func ParseCostClasses(v string) (map[string]pricetable.Class, error) {
	pairs, err := parsePairs("FLEET_COST_CLASSES", v, "name=hourly/vcpus, e.g. db.m6g.large=0.152/2")
	if err != nil {
		return nil, err
	}
	out := make(map[string]pricetable.Class, len(pairs))
	for _, name := range slices.Sorted(maps.Keys(pairs)) {
		hourly, vcpus, ok := strings.Cut(pairs[name], "/")
		h, err1 := strconv.ParseFloat(hourly, 64)
		n, err2 := strconv.Atoi(vcpus)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("FLEET_COST_CLASSES entry %q must be name=hourly/vcpus, e.g. db.m6g.large=0.152/2", name+"="+pairs[name])
		}
		out[name] = pricetable.Class{HourlyUSD: h, VCPUs: n}
	}
	return out, nil
}

// parsePairs parses a comma-separated list of key=value pairs.
func parsePairs(key, v, form string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range SplitList(v) {
		k, val, ok := strings.Cut(item, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" || val == "" {
			return nil, fmt.Errorf("%s entry %q must be %s", key, item, form)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s names %q twice", key, k)
		}
		out[k] = val
	}
	return out, nil
}

func (c *Cost) applyDefaults() {
	c.DedicatedShare = cmp.Or(c.DedicatedShare, 0.3)
	c.SharedShare = cmp.Or(c.SharedShare, 0.05)
	c.MinWindow = cmp.Or(c.MinWindow, time.Hour)
	c.StorageGBMonthUSD = cmp.Or(c.StorageGBMonthUSD, pricetable.DefaultStorageGBMonthUSD)
	c.DefaultClass = cmp.Or(c.DefaultClass, pricetable.DefaultClass)
	if len(c.Classes) == 0 {
		c.Classes = pricetable.Examples()
	}
}

func (c Cost) validate(bad func(format string, args ...any)) {
	if !(c.DedicatedShare > 0 && c.DedicatedShare <= 1) {
		bad("FLEET_COST_DEDICATED_SHARE must be above 0 and at most 1, got %g", c.DedicatedShare)
	}
	if !(c.SharedShare > 0 && c.SharedShare < c.DedicatedShare && c.SharedShare < 1) {
		bad("FLEET_COST_SHARED_SHARE must be above 0 and below FLEET_COST_DEDICATED_SHARE (%g), got %g", c.DedicatedShare, c.SharedShare)
	}
	if c.MinWindow < time.Second {
		bad("FLEET_COST_MIN_WINDOW must be at least 1s, got %s", c.MinWindow)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Classes)) {
		if !classNamePattern.MatchString(name) {
			bad("FLEET_COST_CLASSES: class name %q must be 1-64 letters, digits, '.', '_', ':' or '-'", name)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.InstanceClasses)) {
		if !instanceIDPattern.MatchString(id) {
			bad("FLEET_COST_INSTANCE_CLASSES: %q is not an instance id", id)
		}
	}
	// The table's own rules (classes, references, prices) are
	// pricetable's, shared with the cost agent.
	if err := c.Prices().Validate(); err != nil {
		bad("FLEET_COST_* price table: %v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

// Prices is the configured price table (wiring hands it to the cost
// agent: cost.PricesFrom).
func (c Cost) Prices() pricetable.Table {
	return pricetable.Table{Classes: maps.Clone(c.Classes), InstanceClasses: maps.Clone(c.InstanceClasses), DefaultClass: c.DefaultClass,
		StorageGBMonthUSD: c.StorageGBMonthUSD, ReplicaHourlyUSD: c.ReplicaHourlyUSD}
}
