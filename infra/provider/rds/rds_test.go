package rds_test

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/tenants"

	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdsfake"
)

// setup starts a fake RDS endpoint and a provider that talks to it through
// the real SDK client. Each call of the client is tried once, so injected
// faults surface without the SDK's backoff.
func setup(t *testing.T, mutate ...func(*rds.Config)) (*rds.Provider, *rdsfake.Server) {
	t.Helper()
	srv := rdsfake.New()
	t.Cleanup(srv.Close)
	cfg := rds.Config{
		AWS: awsclient.Settings{Region: "us-east-1", Endpoint: srv.URL(), AccessKeyID: "AKIDTEST",
			SecretAccessKey: "secret-test", RetryMaxAttempts: 1},
		Logger: cptest.DiscardLogger(),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := rds.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("rds.New: %v", err)
	}
	return p, srv
}

func spec(id string) provider.Spec {
	return provider.Spec{ID: id, Tier: tenants.Shared, Fleet: "tf", Tags: map[string]string{"team": "platform"}}
}

func TestCreateSendsEncryptedManagedPostgres(t *testing.T) {
	t.Parallel()
	p, srv := setup(t, func(c *rds.Config) {
		c.SecurityGroupIDs = []string{"sg-1", "sg-2"}
		c.SubnetGroup = "tenants-private"
		c.KMSKeyID = "alias/tenantfleet"
	})

	inst, err := p.Create(t.Context(), spec("shared-001"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if inst.Status != provider.StatusCreating || inst.ID != "shared-001" || inst.ProviderRef != "tf-shared-001" {
		t.Errorf("Create: got %+v, want creating shared-001 as tf-shared-001", inst)
	}
	if inst.Host != "" || inst.Port != 0 {
		t.Errorf("Create: got endpoint %s:%d while creating, want none", inst.Host, inst.Port)
	}

	reqs := srv.Requests("CreateDBInstance")
	if len(reqs) != 1 {
		t.Fatalf("got %d CreateDBInstance requests, want 1", len(reqs))
	}
	r := reqs[0]
	want := map[string]string{
		"Version":                  "2014-10-31",
		"DBInstanceIdentifier":     "tf-shared-001",
		"Engine":                   "postgres",
		"EngineVersion":            "15",
		"DBInstanceClass":          "db.t4g.medium",
		"AllocatedStorage":         "100",
		"StorageEncrypted":         "true",
		"ManageMasterUserPassword": "true",
		"MasterUsername":           "tenantfleet",
		"MasterUserPassword":       "",
		"PubliclyAccessible":       "false",
		"DBName":                   "tenants",
		"DBSubnetGroupName":        "tenants-private",
		"KmsKeyId":                 "alias/tenantfleet",
		"MasterUserSecretKmsKeyId": "alias/tenantfleet",
		"BackupRetentionPeriod":    "7",
	}
	for k, v := range want {
		if got := r.Get(k); got != v {
			t.Errorf("param %s: got %q, want %q", k, got, v)
		}
	}
	if got, want := r.List("VpcSecurityGroupIds.VpcSecurityGroupId"), []string{"sg-1", "sg-2"}; !slices.Equal(got, want) {
		t.Errorf("security groups: got %v, want %v", got, want)
	}
	wantTags := map[string]string{
		"tenantfleet-fleet":       "tf",
		"tenantfleet-tier":        "shared",
		"tenantfleet-instance-id": "shared-001",
		"team":                    "platform",
	}
	if got := r.Tags(); !maps.Equal(got, wantTags) {
		t.Errorf("tags: got %v, want %v", got, wantTags)
	}
}

func TestDescribeFollowsStatus(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	inst, err := p.Create(t.Context(), spec("shared-002"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ref := inst.ProviderRef

	got := describe(t, p, ref)
	if got.Status != provider.StatusCreating {
		t.Errorf("before available: got status %q, want creating", got.Status)
	}

	srv.SetStatus(ref, "available")
	got = describe(t, p, ref)
	if got.Status != provider.StatusReady || got.StatusReason != "" {
		t.Errorf("available: got %q (%q), want ready", got.Status, got.StatusReason)
	}
	fake, _ := srv.Instance(ref)
	if got.Host != fake.Address() || got.Port != 5432 {
		t.Errorf("endpoint: got %s:%d, want %s:5432", got.Host, got.Port, fake.Address())
	}
	if !strings.HasPrefix(got.SecretRef, "arn:aws:secretsmanager:") || got.SecretRef != fake.SecretArn {
		t.Errorf("secret ref: got %q, want the managed secret ARN %q", got.SecretRef, fake.SecretArn)
	}
	if got.StorageBytes != 100<<30 || got.MaxConnections != 400 || got.Database != "tenants" || got.ID != "shared-002" {
		t.Errorf("describe: got storage %d, max conns %d, database %q, id %q; want %d, 400, tenants, shared-002",
			got.StorageBytes, got.MaxConnections, got.Database, got.ID, int64(100<<30))
	}

	srv.SetStatus(ref, "backing-up")
	if got := describe(t, p, ref); got.Status != provider.StatusReady || !strings.Contains(got.StatusReason, "backing-up") {
		t.Errorf("backing-up: got %q (%q), want ready with the rds status as reason", got.Status, got.StatusReason)
	}

	for _, s := range []string{"failed", "storage-full", "incompatible-parameters"} {
		srv.SetStatus(ref, s)
		if got := describe(t, p, ref); got.Status != provider.StatusFailed || !strings.Contains(got.StatusReason, s) {
			t.Errorf("%s: got %q (%q), want failed with reason naming %s", s, got.Status, got.StatusReason, s)
		}
	}
}

func describe(t *testing.T, p *rds.Provider, ref string) provider.Instance {
	t.Helper()
	inst, err := p.Describe(t.Context(), ref)
	if err != nil {
		t.Fatalf("Describe %s: %v", ref, err)
	}
	return inst
}

func TestCreateExistingReturnsIt(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	first, err := p.Create(t.Context(), spec("dedicated-acme"))
	if err != nil {
		t.Fatalf("first Create: %v", err)
	}
	srv.SetStatus(first.ProviderRef, "available")

	second, err := p.Create(t.Context(), spec("dedicated-acme"))
	if err != nil {
		t.Fatalf("second Create: got %v, want the existing instance", err)
	}
	if second.ProviderRef != first.ProviderRef || second.Status != provider.StatusReady {
		t.Errorf("second Create: got %s %q, want %s ready", second.ProviderRef, second.Status, first.ProviderRef)
	}
	if got := len(srv.Requests("CreateDBInstance")); got != 2 {
		t.Errorf("got %d CreateDBInstance requests, want 2", got)
	}
	if got := srv.Identifiers(); len(got) != 1 {
		t.Errorf("fake holds %v, want one instance", got)
	}
}

func TestDescribeUnknownIsNotFound(t *testing.T) {
	t.Parallel()
	p, _ := setup(t)
	_, err := p.Describe(t.Context(), "tf-nope")
	if !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("Describe unknown: got %v, want ErrNotFound", err)
	}
	if provider.Retryable(err) {
		t.Errorf("Retryable(not found): got true, want false")
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	inst, err := p.Create(t.Context(), spec("shared-003"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	srv.SetStatus(inst.ProviderRef, "available")

	if err := p.Delete(t.Context(), inst.ProviderRef); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	reqs := srv.Requests("DeleteDBInstance")
	if len(reqs) != 1 {
		t.Fatalf("got %d DeleteDBInstance requests, want 1", len(reqs))
	}
	if got := reqs[0].Get("SkipFinalSnapshot"); got != "false" {
		t.Errorf("SkipFinalSnapshot: got %q, want false", got)
	}
	if got := reqs[0].Get("FinalDBSnapshotIdentifier"); !regexp.MustCompile(`^tf-shared-003-final-\d{14}$`).MatchString(got) {
		t.Errorf("FinalDBSnapshotIdentifier: got %q, want tf-shared-003-final-<timestamp>", got)
	}
	if got := describe(t, p, inst.ProviderRef); got.Status != provider.StatusDeleting {
		t.Errorf("after Delete: got %q, want deleting", got.Status)
	}

	if err := p.Delete(t.Context(), inst.ProviderRef); err != nil {
		t.Errorf("Delete while deleting: got %v, want nil", err)
	}
	if got := len(srv.Requests("DeleteDBInstance")); got != 1 {
		t.Errorf("Delete while deleting: got %d DeleteDBInstance requests, want still 1", got)
	}
	srv.Remove(inst.ProviderRef)
	if err := p.Delete(t.Context(), inst.ProviderRef); err != nil {
		t.Errorf("Delete when gone: got %v, want nil", err)
	}
	if _, err := p.Describe(t.Context(), inst.ProviderRef); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Describe when gone: got %v, want ErrNotFound", err)
	}
}

func TestDeleteSkipFinalSnapshot(t *testing.T) {
	t.Parallel()
	p, srv := setup(t, func(c *rds.Config) { c.SkipFinalSnapshot = true })
	srv.Put(rdsfake.Instance{Identifier: "tf-scratch", Engine: "postgres", AllocatedStorage: 20})
	if err := p.Delete(t.Context(), "tf-scratch"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	r := srv.Requests("DeleteDBInstance")[0]
	if r.Get("SkipFinalSnapshot") != "true" || r.Get("FinalDBSnapshotIdentifier") != "" {
		t.Errorf("got SkipFinalSnapshot=%q FinalDBSnapshotIdentifier=%q, want true and none",
			r.Get("SkipFinalSnapshot"), r.Get("FinalDBSnapshotIdentifier"))
	}
}

func TestDeleteReplicaTakesNoSnapshot(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	srv.Put(rdsfake.Instance{Identifier: "tf-src", Engine: "postgres", Tags: map[string]string{"tenantfleet-fleet": "tf"}})
	rep, err := p.CreateReadReplica(t.Context(), "tf-src", "src-r1")
	if err != nil {
		t.Fatalf("CreateReadReplica: %v", err)
	}
	srv.SetStatus(rep.ProviderRef, "available")
	if err := p.Delete(t.Context(), rep.ProviderRef); err != nil {
		t.Fatalf("Delete replica: %v", err)
	}
	r := srv.Requests("DeleteDBInstance")[0]
	if r.Get("SkipFinalSnapshot") != "true" || r.Get("FinalDBSnapshotIdentifier") != "" {
		t.Errorf("got SkipFinalSnapshot=%q FinalDBSnapshotIdentifier=%q, want true and none",
			r.Get("SkipFinalSnapshot"), r.Get("FinalDBSnapshotIdentifier"))
	}
}

// TestDeleteRaceIsSuccess: another worker's Delete lands between our
// Describe and DeleteDBInstance.
func TestDeleteRaceIsSuccess(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	srv.Put(rdsfake.Instance{Identifier: "tf-race", Engine: "postgres"})
	srv.OnNext("DeleteDBInstance", func() { srv.SetStatus("tf-race", rdsfake.StatusDeleting) })
	if err := p.Delete(t.Context(), "tf-race"); err != nil {
		t.Errorf("Delete racing another Delete: got %v, want nil", err)
	}
	if got := len(srv.Requests("DeleteDBInstance")); got != 1 {
		t.Errorf("got %d DeleteDBInstance requests, want 1", got)
	}
}

func TestDeleteInWrongStateIsInvalid(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	srv.Put(rdsfake.Instance{Identifier: "tf-busy", Engine: "postgres", Status: "modifying"})
	srv.InjectFault("DeleteDBInstance", rdsfake.Fault{Code: "InvalidDBInstanceState", Message: "Instance is modifying"})
	err := p.Delete(t.Context(), "tf-busy")
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Delete of a modifying instance: got %v, want ErrInvalid", err)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault     rdsfake.Fault
		want      error
		retryable bool
	}{
		{rdsfake.Throttling, provider.ErrThrottled, true},
		{rdsfake.InstanceQuotaExceeded, provider.ErrQuota, true},
		{rdsfake.InternalFailure, provider.ErrUnavailable, true},
		{rdsfake.Fault{Code: "InvalidParameterCombination", Message: "no"}, provider.ErrInvalid, false},
		{rdsfake.Fault{Code: "SomethingNew", Message: "?"}, provider.ErrInvalid, false},
	}
	for _, tc := range cases {
		t.Run(tc.fault.Code, func(t *testing.T) {
			t.Parallel()
			p, srv := setup(t)
			srv.InjectFault("CreateDBInstance", tc.fault)
			_, err := p.Create(t.Context(), spec("shared-004"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Create: got %v, want %v", err, tc.want)
			}
			if got := provider.Retryable(err); got != tc.retryable {
				t.Errorf("Retryable: got %v, want %v", got, tc.retryable)
			}
			if !strings.Contains(err.Error(), tc.fault.Code) {
				t.Errorf("error %q: want the RDS code %s kept", err, tc.fault.Code)
			}
			// Faults are one-shot: the retry succeeds.
			if _, err := p.Create(t.Context(), spec("shared-004")); err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	}
}

func TestSDKRetriesThrottling(t *testing.T) {
	t.Parallel()
	p, srv := setup(t, func(c *rds.Config) { c.AWS.RetryMaxAttempts = 2 })
	srv.InjectFault("DescribeDBInstances", rdsfake.Throttling)
	srv.Put(rdsfake.Instance{Identifier: "tf-x", Engine: "postgres"})
	if _, err := p.Describe(t.Context(), "tf-x"); err != nil {
		t.Fatalf("Describe after one throttle: %v", err)
	}
	if got := len(srv.Requests("DescribeDBInstances")); got != 2 {
		t.Errorf("got %d DescribeDBInstances requests, want 2", got)
	}
}

func TestCreateInvalidSpecSendsNothing(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	for _, s := range []provider.Spec{
		{ID: "", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "Bad_ID", Tier: tenants.Shared, Fleet: "tf"},
		{ID: "ok", Tier: "huge", Fleet: "tf"},
		{ID: "ok", Tier: tenants.Shared, Fleet: ""},
	} {
		if _, err := p.Create(t.Context(), s); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("Create(%+v): got %v, want ErrInvalid", s, err)
		}
	}
	if got := srv.Requests(""); len(got) != 0 {
		t.Errorf("got %d requests, want none", len(got))
	}
}

func TestCreateReadReplica(t *testing.T) {
	t.Parallel()
	p, srv := setup(t)
	src, err := p.Create(t.Context(), spec("shared-005"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	if _, err := p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-005-r1"); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("replica of a creating source: got %v, want ErrInvalid", err)
	}
	if _, err := p.CreateReadReplica(t.Context(), "tf-missing", "shared-005-r1"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("replica of a missing source: got %v, want ErrNotFound", err)
	}

	srv.SetStatus(src.ProviderRef, "available")
	rep, err := p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-005-r1")
	if err != nil {
		t.Fatalf("CreateReadReplica: %v", err)
	}
	if rep.ID != "shared-005-r1" || rep.ProviderRef != "tf-shared-005-r1" || rep.ReplicaOf != src.ProviderRef || rep.Status != provider.StatusCreating {
		t.Errorf("replica: got %+v, want shared-005-r1 as tf-shared-005-r1, replica of %s, creating", rep, src.ProviderRef)
	}
	reqs := srv.Requests("CreateDBInstanceReadReplica")
	r := reqs[len(reqs)-1]
	if r.Get("SourceDBInstanceIdentifier") != src.ProviderRef || r.Get("DBInstanceClass") != "db.t4g.medium" {
		t.Errorf("params: got source %q class %q, want %s db.t4g.medium", r.Get("SourceDBInstanceIdentifier"), r.Get("DBInstanceClass"), src.ProviderRef)
	}
	tags := r.Tags()
	if tags["tenantfleet-instance-id"] != "shared-005-r1" || tags["tenantfleet-replica-of"] != src.ProviderRef || tags["tenantfleet-fleet"] != "tf" {
		t.Errorf("replica tags: got %v", tags)
	}

	again, err := p.CreateReadReplica(t.Context(), src.ProviderRef, "shared-005-r1")
	if err != nil || again.ProviderRef != rep.ProviderRef {
		t.Errorf("CreateReadReplica again: got %s, %v; want the existing replica", again.ProviderRef, err)
	}
}

func TestIdentifier(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9]|-[a-zA-Z0-9]){0,62}$`)
	long := strings.Repeat("a", 40)
	cases := []struct{ fleet, id, want string }{
		{"tf", "shared-001", "tf-shared-001"},
		{"prod1", "acme-bank", "prod1-acme-bank"},
		{"tf", "9lives", "tf-9lives"},
		{"abcdefghijkl", long, "abcdefghijkl-" + long},
	}
	for _, tc := range cases {
		if got := rds.Identifier(tc.fleet, tc.id); got != tc.want {
			t.Errorf("Identifier(%q, %q): got %q, want %q", tc.fleet, tc.id, got, tc.want)
		}
	}
	a, b := rds.Identifier("tf", "a--b"), rds.Identifier("tf", "a-b")
	if a == b || !valid.MatchString(a) {
		t.Errorf("Identifier(tf, a--b) = %q: want a valid identifier distinct from %q", a, b)
	}
	if got := rds.Identifier("abcdefghijkl", strings.Repeat("a--", 13)+"a"); !valid.MatchString(got) {
		t.Errorf("Identifier of a long double-hyphen id: got invalid %q", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []rds.Config{
		{AWS: awsclient.Settings{Region: "us-east-1"}, AllocatedStorageGB: 5},
		{AWS: awsclient.Settings{Region: "us-east-1", AccessKeyID: "only-half"}},
		{AWS: awsclient.Settings{Region: "us-east-1"}, InstanceClass: "t4g.medium"},
		{AWS: awsclient.Settings{Region: "us-east-1", Endpoint: "localhost:1234"}},
		{AWS: awsclient.Settings{Region: "us-east-1"}, MaxAllocatedStorageGB: 50},
	} {
		if _, err := rds.New(context.Background(), cfg); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("New(%+v): got %v, want ErrInvalid", cfg, err)
		}
	}
}
