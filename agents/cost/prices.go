package cost

import (
	"errors"
	"fmt"
	"math"
)

// HoursPerMonth is the month the prices use (365 * 24 / 12).
const HoursPerMonth = 730.0

// Class is the price and size of an instance class.
type Class struct {
	// HourlyUSD is the on-demand price of one instance an hour.
	HourlyUSD float64 `json:"hourly_usd" yaml:"hourly_usd"`
	// VCPUs is the class's vCPU count: an instance offers VCPUs seconds of
	// query time a second.
	VCPUs int `json:"vcpus" yaml:"vcpus"`
}

// Prices is the price table money is computed from.
type Prices struct {
	// Classes maps an instance class name to its price. Default
	// DefaultClasses.
	Classes map[string]Class `json:"classes" yaml:"classes"`
	// InstanceClasses maps an instance id to its class. An instance not in
	// it has DefaultClass (the catalog does not record classes yet).
	InstanceClasses map[string]string `json:"instance_classes" yaml:"instance_classes"`
	// DefaultClass is the class of instances not in InstanceClasses.
	// Default "db.m6g.large".
	DefaultClass string `json:"default_class" yaml:"default_class"`
	// StorageGBMonthUSD is the price of a GB of storage a month. Default
	// 0.115 (gp3).
	StorageGBMonthUSD float64 `json:"storage_gb_month_usd" yaml:"storage_gb_month_usd"`
	// ReplicaHourlyUSD is the price of a read replica an hour; default 0:
	// the same as its instance's class.
	ReplicaHourlyUSD float64 `json:"replica_hourly_usd" yaml:"replica_hourly_usd"`
}

// DefaultClasses are example prices of common RDS for PostgreSQL classes
// (single-AZ, on-demand, us-east-1 list prices as published in 2024). They
// are examples to start from, not quotes: set your own in Prices.Classes.
func DefaultClasses() map[string]Class {
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

// Default price table values.
const (
	DefaultClassName         = "db.m6g.large"
	DefaultStorageGBMonthUSD = 0.115
)

func (p Prices) withDefaults() Prices {
	if p.Classes == nil {
		p.Classes = DefaultClasses()
	}
	if p.DefaultClass == "" {
		p.DefaultClass = DefaultClassName
	}
	if p.StorageGBMonthUSD == 0 {
		p.StorageGBMonthUSD = DefaultStorageGBMonthUSD
	}
	return p
}

func (p Prices) validate() error {
	var errs []error
	if _, ok := p.Classes[p.DefaultClass]; !ok {
		errs = append(errs, fmt.Errorf("default class %q is not in the price table", p.DefaultClass))
	}
	for id, c := range p.InstanceClasses {
		if _, ok := p.Classes[c]; !ok {
			errs = append(errs, fmt.Errorf("instance %s: class %q is not in the price table", id, c))
		}
	}
	for name, c := range p.Classes {
		if !(c.HourlyUSD >= 0) || math.IsInf(c.HourlyUSD, 0) || c.VCPUs < 1 {
			errs = append(errs, fmt.Errorf("class %q: want a finite hourly price >= 0 and at least 1 vCPU", name))
		}
	}
	if !(p.StorageGBMonthUSD >= 0) || !(p.ReplicaHourlyUSD >= 0) {
		errs = append(errs, errors.New("storage and replica prices must be >= 0"))
	}
	return errors.Join(errs...)
}

// classOf returns the class name and price of an instance.
func (p Prices) classOf(instanceID string) (string, Class) {
	name := p.DefaultClass
	if c, ok := p.InstanceClasses[instanceID]; ok {
		name = c
	}
	return name, p.Classes[name]
}

// computeMonthlyUSD is an instance's compute price a month.
func (c Class) computeMonthlyUSD() float64 { return c.HourlyUSD * HoursPerMonth }

// storageMonthlyUSD prices bytes of storage for a month.
func (p Prices) storageMonthlyUSD(bytes int64) float64 {
	return float64(bytes) / (1 << 30) * p.StorageGBMonthUSD
}

// timeMonthlyUSD prices query time: ms of time a month on an instance of
// class c, as the fraction of its vCPU time it takes of its compute price.
func (c Class) timeMonthlyUSD(msPerMonth float64) float64 {
	capacity := float64(c.VCPUs) * HoursPerMonth * 3600 * 1000
	return msPerMonth / capacity * c.computeMonthlyUSD()
}
