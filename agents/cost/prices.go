package cost

import "github.com/tenantfleet/tenantfleet/infra/pricetable"

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
// (pricetable.Examples: single-AZ, on-demand, us-east-1 list prices as
// published in 2024). They are examples to start from, not quotes: set
// your own in Prices.Classes.
func DefaultClasses() map[string]Class {
	out := map[string]Class{}
	for name, c := range pricetable.Examples() {
		out[name] = Class(c)
	}
	return out
}

// Default price table values.
const (
	DefaultClassName         = pricetable.DefaultClass
	DefaultStorageGBMonthUSD = pricetable.DefaultStorageGBMonthUSD
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

// PricesFrom is the price table t (the configuration's, FLEET_COST_*) as
// Prices.
func PricesFrom(t pricetable.Table) Prices {
	var classes map[string]Class
	if t.Classes != nil {
		classes = map[string]Class{}
		for name, c := range t.Classes {
			classes[name] = Class(c)
		}
	}
	return Prices{Classes: classes, InstanceClasses: t.InstanceClasses, DefaultClass: t.DefaultClass,
		StorageGBMonthUSD: t.StorageGBMonthUSD, ReplicaHourlyUSD: t.ReplicaHourlyUSD}
}

// validate checks the table by pricetable's rules.
func (p Prices) validate() error {
	classes := map[string]pricetable.Class{}
	for name, c := range p.Classes {
		classes[name] = pricetable.Class(c)
	}
	return pricetable.Table{Classes: classes, InstanceClasses: p.InstanceClasses, DefaultClass: p.DefaultClass,
		StorageGBMonthUSD: p.StorageGBMonthUSD, ReplicaHourlyUSD: p.ReplicaHourlyUSD}.Validate()
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
