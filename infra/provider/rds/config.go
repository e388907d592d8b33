package rds

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
)

// Config configures the RDS provider. The zero value of every field but
// the network placement (SubnetGroup, SecurityGroupIDs) is usable; New
// fills defaults.
type Config struct {
	// AWS are the client settings: region, endpoint override (an rdsfake
	// server in tests), static credentials or the default chain, HTTP
	// client, retries. Defaults as documented on awsclient.Settings.
	AWS awsclient.Settings

	// InstanceClass is the DB instance class of new instances. Default
	// db.t4g.medium.
	InstanceClass string
	// AllocatedStorageGB is the initial storage of new instances in GiB.
	// Default 100.
	AllocatedStorageGB int32
	// MaxAllocatedStorageGB enables storage autoscaling up to this many
	// GiB. Default 0: no autoscaling.
	MaxAllocatedStorageGB int32
	// EngineVersion is the PostgreSQL engine version. Default "15" (RDS
	// picks the latest 15.x minor).
	EngineVersion string
	// MasterUsername is the master user of new instances; its password is
	// generated and kept by RDS in Secrets Manager
	// (ManageMasterUserPassword). Default "tenantfleet".
	MasterUsername string
	// DBName is the database created on each instance to hold tenant data.
	// Default "tenants".
	DBName string
	// Port is the PostgreSQL port. Default 5432.
	Port int32
	// SubnetGroup is the DB subnet group name. Default empty: the
	// account's default VPC.
	SubnetGroup string
	// SecurityGroupIDs are the VPC security groups of new instances.
	// Default none: the VPC's default group.
	SecurityGroupIDs []string
	// KMSKeyID encrypts storage and the managed master secret. Default
	// empty: the AWS-managed keys. Storage is always encrypted.
	KMSKeyID string
	// MultiAZ creates Multi-AZ instances. Default false.
	MultiAZ bool
	// BackupRetentionDays is the automated backup retention. Default 7;
	// negative means 0 (no automated backups).
	BackupRetentionDays int32
	// SkipFinalSnapshot deletes instances without a final snapshot.
	// Default false: Delete takes a final snapshot named
	// "<identifier>-final-<UTC timestamp>".
	SkipFinalSnapshot bool
	// MaxConnections is the connection limit reported for capacity.
	// Default 400, about what RDS's default max_connections
	// (DBInstanceClassMemory/9531392) gives a db.t4g.medium.
	MaxConnections int

	// Logger receives one line per create and delete. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.InstanceClass = cmp.Or(c.InstanceClass, "db.t4g.medium")
	c.AllocatedStorageGB = cmp.Or(c.AllocatedStorageGB, 100)
	c.EngineVersion = cmp.Or(c.EngineVersion, "15")
	c.MasterUsername = cmp.Or(c.MasterUsername, "tenantfleet")
	c.DBName = cmp.Or(c.DBName, "tenants")
	c.Port = cmp.Or(c.Port, 5432)
	c.BackupRetentionDays = cmp.Or(c.BackupRetentionDays, 7)
	if c.BackupRetentionDays < 0 {
		c.BackupRetentionDays = 0
	}
	c.MaxConnections = cmp.Or(c.MaxConnections, 400)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.AllocatedStorageGB < 20 {
		errs = append(errs, fmt.Errorf("allocated storage %d GiB: RDS for PostgreSQL needs at least 20", c.AllocatedStorageGB))
	}
	if c.MaxAllocatedStorageGB != 0 && c.MaxAllocatedStorageGB <= c.AllocatedStorageGB {
		errs = append(errs, fmt.Errorf("max allocated storage %d GiB: must exceed allocated storage %d GiB", c.MaxAllocatedStorageGB, c.AllocatedStorageGB))
	}
	if !strings.HasPrefix(c.InstanceClass, "db.") {
		errs = append(errs, fmt.Errorf("instance class %q: want db.<family>.<size>", c.InstanceClass))
	}
	if c.Port <= 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d: out of range", c.Port))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max connections %d: must not be negative", c.MaxConnections))
	}
	if err := c.AWS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rds provider config: %w", err)
	}
	return nil
}
