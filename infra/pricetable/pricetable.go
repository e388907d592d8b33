// Package pricetable is the cost agent's price table as data: instance
// classes with an hourly price and vCPUs, storage and replica prices, the
// example defaults and the rules a table keeps. It imports nothing of the
// fleet, so the configuration (config, FLEET_COST_*) and the cost agent
// (agents/cost) share one table of examples and one validation.
package pricetable

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Class is the price and size of an instance class.
type Class struct {
	// HourlyUSD is the on-demand price of one instance an hour.
	HourlyUSD float64 `json:"hourly_usd" yaml:"hourly_usd"`
	// VCPUs is the class's vCPU count.
	VCPUs int `json:"vcpus" yaml:"vcpus"`
}

// Examples are example prices of common RDS for PostgreSQL classes
// (single-AZ, on-demand, us-east-1 list prices as published in 2024). They
// are examples to start from, not quotes: set your own.
func Examples() map[string]Class {
	return map[string]Class{
		"db.t4g.medium":  {HourlyUSD: 0.065, VCPUs: 2},
		"db.t4g.large":   {HourlyUSD: 0.129, VCPUs: 2},
		"db.m6g.large":   {HourlyUSD: 0.152, VCPUs: 2},
		"db.m6g.xlarge":  {HourlyUSD: 0.304, VCPUs: 4},
		"db.m6g.2xlarge": {HourlyUSD: 0.608, VCPUs: 8},
		"db.r6g.large":   {HourlyUSD: 0.215, VCPUs: 2},
		"db.r6g.xlarge":  {HourlyUSD: 0.430, VCPUs: 4},
	}
}

// Default table values (examples, like Examples).
const (
	DefaultClass             = "db.m6g.large"
	DefaultStorageGBMonthUSD = 0.115
)

// Table is a price table.
type Table struct {
	Classes           map[string]Class
	InstanceClasses   map[string]string
	DefaultClass      string
	StorageGBMonthUSD float64
	ReplicaHourlyUSD  float64
}

// Validate checks the table: the default class and every instance's class
// are in it, every class has a name, a finite price >= 0 and at least one
// vCPU, and the storage and replica prices are finite and >= 0. It
// reports every problem at once.
func (t Table) Validate() error {
	var errs []error
	if _, ok := t.Classes[t.DefaultClass]; !ok {
		errs = append(errs, fmt.Errorf("default class %q is not in the price table", t.DefaultClass))
	}
	for _, id := range slices.Sorted(maps.Keys(t.InstanceClasses)) {
		if _, ok := t.Classes[t.InstanceClasses[id]]; !ok {
			errs = append(errs, fmt.Errorf("instance %q: class %q is not in the price table", id, t.InstanceClasses[id]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Classes)) {
		if c := t.Classes[name]; name == "" || !finite(c.HourlyUSD) || c.VCPUs < 1 {
			errs = append(errs, fmt.Errorf("class %q: want a name, a finite hourly price >= 0 and at least 1 vCPU", name))
		}
	}
	if !finite(t.StorageGBMonthUSD) {
		errs = append(errs, fmt.Errorf("storage price per GB-month %g: want a finite price >= 0", t.StorageGBMonthUSD))
	}
	if !finite(t.ReplicaHourlyUSD) {
		errs = append(errs, fmt.Errorf("replica price per hour %g: want a finite price >= 0", t.ReplicaHourlyUSD))
	}
	return errors.Join(errs...)
}

// finite reports whether v is a usable price: finite and >= 0.
func finite(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }
