// Package rds is the Amazon RDS for PostgreSQL instance provider, on
// aws-sdk-go-v2's service/rds. Instances are created with encrypted storage,
// an RDS-managed master password (kept in Secrets Manager; the provider
// only ever sees the secret's ARN) and tenantfleet tags. Creation takes
// minutes: Create returns at once with the instance creating, and callers
// poll Describe.
//
// The Connector logs in to the instances: as the master user, with the
// password it reads from the instance's managed secret in Secrets Manager,
// and always over TLS with the server's certificate verified
// (sslmode=verify-full against the RDS CA bundle).
//
// Package rdsfake serves the RDS API and smfake the Secrets Manager API
// locally for tests; rdstest joins them to a private TLS-only PostgreSQL
// server.
package rds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// Name is the provider's name.
const Name = "rds"

// TagReplicaOf is the tag that names a read replica's source identifier.
const TagReplicaOf = "tenantfleet-replica-of"

// api is the part of the RDS client the provider uses.
type api interface {
	CreateDBInstance(ctx context.Context, in *awsrds.CreateDBInstanceInput, opts ...func(*awsrds.Options)) (*awsrds.CreateDBInstanceOutput, error)
	DescribeDBInstances(ctx context.Context, in *awsrds.DescribeDBInstancesInput, opts ...func(*awsrds.Options)) (*awsrds.DescribeDBInstancesOutput, error)
	DeleteDBInstance(ctx context.Context, in *awsrds.DeleteDBInstanceInput, opts ...func(*awsrds.Options)) (*awsrds.DeleteDBInstanceOutput, error)
	CreateDBInstanceReadReplica(ctx context.Context, in *awsrds.CreateDBInstanceReadReplicaInput, opts ...func(*awsrds.Options)) (*awsrds.CreateDBInstanceReadReplicaOutput, error)
}

var _ api = (*awsrds.Client)(nil)

// Provider creates PostgreSQL instances on Amazon RDS. It is safe for
// concurrent use.
type Provider struct {
	cfg    Config
	client api
	log    *slog.Logger
	now    func() time.Time
}

var _ provider.Provider = (*Provider)(nil)

// New validates cfg, fills its defaults and builds the RDS client: with
// static credentials when cfg.AWS.AccessKeyID is set, else from the default AWS
// credential chain. It makes no API call.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	awsCfg, err := awsclient.Load(ctx, cfg.AWS)
	if errors.Is(err, awsclient.ErrNoRegion) {
		return nil, fmt.Errorf("%w: rds provider config: %w", provider.ErrInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("rds: %w", err)
	}
	client := awsrds.NewFromConfig(awsCfg, func(o *awsrds.Options) { o.BaseEndpoint = cfg.AWS.BaseEndpoint() })
	return &Provider{cfg: cfg, client: client, log: cfg.Logger, now: time.Now}, nil
}

// Name returns "rds".
func (p *Provider) Name() string { return Name }

// Create starts a CreateDBInstance for spec: engine postgres at
// Config.EngineVersion, encrypted storage, an RDS-managed master password,
// not publicly accessible, tagged with spec.AllTags. The identifier is
// Identifier(spec.Fleet, spec.ID). When it already exists, Create returns
// the existing instance.
func (p *Provider) Create(ctx context.Context, spec provider.Spec) (provider.Instance, error) {
	if err := spec.Validate(); err != nil {
		return provider.Instance{}, fmt.Errorf("rds: create: %w", err)
	}
	ident := Identifier(spec.Fleet, spec.ID)
	in := &awsrds.CreateDBInstanceInput{
		DBInstanceIdentifier:     aws.String(ident),
		DBInstanceClass:          aws.String(p.cfg.InstanceClass),
		Engine:                   aws.String("postgres"),
		EngineVersion:            aws.String(p.cfg.EngineVersion),
		AllocatedStorage:         aws.Int32(p.cfg.AllocatedStorageGB),
		DBName:                   aws.String(p.cfg.DBName),
		Port:                     aws.Int32(p.cfg.Port),
		MasterUsername:           aws.String(p.cfg.MasterUsername),
		ManageMasterUserPassword: aws.Bool(true),
		StorageEncrypted:         aws.Bool(true),
		PubliclyAccessible:       aws.Bool(false),
		MultiAZ:                  aws.Bool(p.cfg.MultiAZ),
		BackupRetentionPeriod:    aws.Int32(p.cfg.BackupRetentionDays),
		CopyTagsToSnapshot:       aws.Bool(true),
		Tags:                     toTags(spec.AllTags()),
	}
	if p.cfg.MaxAllocatedStorageGB > 0 {
		in.MaxAllocatedStorage = aws.Int32(p.cfg.MaxAllocatedStorageGB)
	}
	if p.cfg.SubnetGroup != "" {
		in.DBSubnetGroupName = aws.String(p.cfg.SubnetGroup)
	}
	if len(p.cfg.SecurityGroupIDs) > 0 {
		in.VpcSecurityGroupIds = slices.Clone(p.cfg.SecurityGroupIDs)
	}
	if p.cfg.KMSKeyID != "" {
		in.KmsKeyId = aws.String(p.cfg.KMSKeyID)
		in.MasterUserSecretKmsKeyId = aws.String(p.cfg.KMSKeyID)
	}
	out, err := p.client.CreateDBInstance(ctx, in)
	if errorCode(err) == "DBInstanceAlreadyExists" {
		p.log.InfoContext(ctx, "rds instance already exists", slog.String("instance", spec.ID), slog.String("identifier", ident))
		return p.Describe(ctx, ident)
	}
	if err != nil {
		return provider.Instance{}, translate("create "+ident, err)
	}
	p.log.InfoContext(ctx, "rds instance creating", slog.String("instance", spec.ID), slog.String("identifier", ident),
		slog.String("class", p.cfg.InstanceClass), slog.String("tier", string(spec.Tier)))
	return p.instance(out.DBInstance), nil
}

// Describe reports the instance with identifier ref.
func (p *Provider) Describe(ctx context.Context, ref string) (provider.Instance, error) {
	db, err := p.describe(ctx, ref)
	if err != nil {
		return provider.Instance{}, err
	}
	return p.instance(db), nil
}

func (p *Provider) describe(ctx context.Context, ref string) (*types.DBInstance, error) {
	if ref == "" {
		// An empty identifier would list every instance in the account.
		return nil, fmt.Errorf("rds: describe: %w: empty identifier", provider.ErrInvalid)
	}
	out, err := p.client.DescribeDBInstances(ctx, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(ref)})
	if err != nil {
		return nil, translate("describe "+ref, err)
	}
	if len(out.DBInstances) == 0 {
		return nil, fmt.Errorf("rds: describe %s: %w", ref, provider.ErrNotFound)
	}
	return &out.DBInstances[0], nil
}

// Delete starts a DeleteDBInstance of ref, with a final snapshot unless
// Config.SkipFinalSnapshot or ref is a read replica (RDS takes no final
// snapshot of a replica). An instance that does not exist or is already
// being deleted is not an error.
func (p *Provider) Delete(ctx context.Context, ref string) error {
	db, err := p.describe(ctx, ref)
	switch {
	case errors.Is(err, provider.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("rds: delete: %w", err)
	case aws.ToString(db.DBInstanceStatus) == "deleting":
		return nil
	}
	skip := p.cfg.SkipFinalSnapshot || aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier) != ""
	in := &awsrds.DeleteDBInstanceInput{
		DBInstanceIdentifier:   aws.String(ref),
		SkipFinalSnapshot:      aws.Bool(skip),
		DeleteAutomatedBackups: aws.Bool(false),
	}
	if !skip {
		in.FinalDBSnapshotIdentifier = aws.String(finalSnapshotID(ref, p.now()))
	}
	_, err = p.client.DeleteDBInstance(ctx, in)
	switch errorCode(err) {
	case "":
		if err != nil {
			return translate("delete "+ref, err)
		}
		p.log.InfoContext(ctx, "rds instance deleting", slog.String("identifier", ref),
			slog.Bool("final_snapshot", !skip))
		return nil
	case "DBInstanceNotFound":
		return nil
	case "InvalidDBInstanceState":
		// A concurrent Delete won the race: already deleting is success.
		db, derr := p.describe(ctx, ref)
		if errors.Is(derr, provider.ErrNotFound) || (derr == nil && aws.ToString(db.DBInstanceStatus) == "deleting") {
			return nil
		}
	}
	return translate("delete "+ref, err)
}

// finalSnapshotID names the final snapshot of identifier taken at t.
func finalSnapshotID(identifier string, t time.Time) string {
	return identifier + "-final-" + t.UTC().Format("20060102150405")
}

// CreateReadReplica starts a CreateDBInstanceReadReplica of sourceRef. The
// replica's identifier is Identifier(fleet, replicaID), where fleet comes
// from the source's tenantfleet-fleet tag; it carries the source's tags
// with its own instance id and a tenantfleet-replica-of tag. An existing
// replica with that identifier is returned as is. The source must be
// available (an RDS rule), else the error wraps provider.ErrInvalid.
func (p *Provider) CreateReadReplica(ctx context.Context, sourceRef, replicaID string) (provider.Instance, error) {
	if err := provider.ValidateID(replicaID); err != nil {
		return provider.Instance{}, fmt.Errorf("rds: create replica: %w", err)
	}
	src, err := p.describe(ctx, sourceRef)
	if err != nil {
		return provider.Instance{}, fmt.Errorf("rds: create replica: source: %w", err)
	}
	tags := fromTags(src.TagList)
	fleet := tags[provider.TagFleet]
	if fleet == "" {
		return provider.Instance{}, fmt.Errorf("rds: create replica of %s: %w: source has no %s tag", sourceRef, provider.ErrInvalid, provider.TagFleet)
	}
	tags[provider.TagInstanceID] = replicaID
	tags[TagReplicaOf] = sourceRef
	ident := Identifier(fleet, replicaID)
	in := &awsrds.CreateDBInstanceReadReplicaInput{
		DBInstanceIdentifier:       aws.String(ident),
		SourceDBInstanceIdentifier: aws.String(sourceRef),
		DBInstanceClass:            src.DBInstanceClass,
		PubliclyAccessible:         aws.Bool(false),
		CopyTagsToSnapshot:         aws.Bool(true),
		Tags:                       toTags(tags),
	}
	if len(p.cfg.SecurityGroupIDs) > 0 {
		in.VpcSecurityGroupIds = slices.Clone(p.cfg.SecurityGroupIDs)
	}
	out, err := p.client.CreateDBInstanceReadReplica(ctx, in)
	if errorCode(err) == "DBInstanceAlreadyExists" {
		return p.Describe(ctx, ident)
	}
	if err != nil {
		return provider.Instance{}, translate("create replica "+ident, err)
	}
	p.log.InfoContext(ctx, "rds read replica creating", slog.String("instance", replicaID),
		slog.String("identifier", ident), slog.String("source", sourceRef))
	return p.instance(out.DBInstance), nil
}

// instance converts an RDS DBInstance to a provider.Instance.
func (p *Provider) instance(db *types.DBInstance) provider.Instance {
	if db == nil {
		return provider.Instance{}
	}
	status, reason := mapStatus(aws.ToString(db.DBInstanceStatus))
	tags := fromTags(db.TagList)
	inst := provider.Instance{
		ID:             tags[provider.TagInstanceID],
		ProviderRef:    aws.ToString(db.DBInstanceIdentifier),
		Status:         status,
		StatusReason:   reason,
		Database:       aws.ToString(db.DBName),
		MaxConnections: p.cfg.MaxConnections,
		StorageBytes:   int64(aws.ToInt32(db.AllocatedStorage)) << 30,
		ReplicaOf:      aws.ToString(db.ReadReplicaSourceDBInstanceIdentifier),
	}
	if inst.ID == "" {
		inst.ID = inst.ProviderRef
	}
	if db.Endpoint != nil {
		inst.Host = aws.ToString(db.Endpoint.Address)
		inst.Port = int(aws.ToInt32(db.Endpoint.Port))
	}
	if db.MasterUserSecret != nil {
		inst.SecretRef = aws.ToString(db.MasterUserSecret.SecretArn)
	}
	if status == provider.StatusFailed {
		for _, si := range db.StatusInfos {
			if msg := aws.ToString(si.Message); msg != "" {
				inst.StatusReason += ": " + msg
			}
		}
	}
	return inst
}

func toTags(m map[string]string) []types.Tag {
	keys := slices.Sorted(maps.Keys(m))
	tags := make([]types.Tag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return tags
}

func fromTags(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}
