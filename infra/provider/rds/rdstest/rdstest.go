// Package rdstest runs a local stand-in for Amazon RDS for tests: the RDS
// API (rdsfake) and Secrets Manager (smfake), both driven through the real
// SDK, and a private PostgreSQL 15 server that, like an RDS instance with
// TLS enforced, accepts only TLS connections authenticated with
// scram-sha-256, with a server certificate signed by a CA of the test's
// own.
//
// The flow mirrors RDS: the rds provider creates an instance through
// rdsfake, which creates its managed master secret in smfake
// ({"username", "password"} with a generated password); FinishCreate then
// does what RDS does when creation completes: it creates the master user
// with that password and the instance's database on the private server,
// points the instance's endpoint there and makes it available. The master
// user is what RDS's is, not a superuser: LOGIN CREATEROLE CREATEDB and the
// owner of the instance's database.
//
// An Env's server hosts one RDS instance (one master user, one database);
// start one Env per instance.
package rdstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/pgtest"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdsfake"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/smfake"
	"github.com/tenantfleet/tenantfleet/infra/testca"
)

// Host is the address the private server's certificate names (with
// "localhost") and instances' endpoints report.
const Host = "127.0.0.1"

// OtherHost is a loopback address the server also listens on that its
// certificate does not name: connecting there must fail host name
// verification.
const OtherHost = "127.0.0.2"

// HBA is the private server's pg_hba.conf: the superuser over the Unix
// socket without a password (the test's own back door), every TCP
// connection without TLS rejected, every TLS one authenticated with
// scram-sha-256.
const HBA = `local all postgres trust
hostnossl all all 0.0.0.0/0 reject
hostssl all all 127.0.0.0/8 scram-sha-256
`

// Env is a running RDS stand-in.
type Env struct {
	// RDS serves the RDS API; its managed secrets are created in Secrets.
	RDS *rdsfake.Server
	// Secrets serves the Secrets Manager API.
	Secrets *smfake.Server
	// Server is the private PostgreSQL server instances' endpoints point at.
	Server *pgtest.Cluster
	// CA signed the server's certificate.
	CA *testca.CA
	// CABundle is a PEM file holding CA's certificate, what
	// ConnectorConfig.CABundle names.
	CABundle string

	secrets *secretsmanager.Client
}

// Start starts the fakes and the private server; all stop when the test
// ends.
func Start(t testing.TB) *Env {
	t.Helper()
	ca := testca.New(t, "rdstest CA")
	e := &Env{
		RDS:     rdsfake.New(),
		Secrets: smfake.New(),
		CA:      ca,
		Server: pgtest.Start(t, pgtest.Options{
			TLS:             ca.Issue(t, Host, "localhost"),
			HBA:             HBA,
			ListenAddresses: Host + "," + OtherHost,
		}),
		CABundle: ca.WriteBundle(t),
	}
	t.Cleanup(e.RDS.Close)
	t.Cleanup(e.Secrets.Close)
	e.RDS.SetManagedSecrets(e.Secrets.CreateManagedSecret)
	sm := e.AWS(e.Secrets.URL())
	e.secrets = secretsmanager.New(secretsmanager.Options{
		Region:       sm.Region,
		BaseEndpoint: aws.String(sm.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(sm.AccessKeyID, sm.SecretAccessKey, ""),
	})
	return e
}

// AWS returns client settings for endpoint (e.RDS.URL() or
// e.Secrets.URL()): static test credentials, one attempt per call so
// injected faults surface at once.
func (e *Env) AWS(endpoint string) awsclient.Settings {
	return awsclient.Settings{Region: rdsfake.Region, Endpoint: endpoint, AccessKeyID: "AKIDRDSTEST",
		SecretAccessKey: "rdstest-secret", RetryMaxAttempts: 1}
}

// ProviderConfig is an rds provider configuration on the RDS fake.
func (e *Env) ProviderConfig() rds.Config {
	return rds.Config{AWS: e.AWS(e.RDS.URL()), SkipFinalSnapshot: true, Logger: cptest.DiscardLogger()}
}

// ConnectorConfig is an rds connector configuration on the Secrets
// Manager fake that trusts the private server's CA.
func (e *Env) ConnectorConfig() rds.ConnectorConfig {
	return rds.ConnectorConfig{AWS: e.AWS(e.Secrets.URL()), CABundle: e.CABundle, Logger: cptest.DiscardLogger()}
}

// FinishCreate completes the creation of the RDS instance identifier (the
// DB instance identifier, Instance.ProviderRef) as RDS would: the master
// user with its secret's password and the instance's database on the
// private server, the endpoint there, status available.
func (e *Env) FinishCreate(t testing.TB, identifier string) {
	t.Helper()
	if err := e.finishCreate(testContext(t), identifier); err != nil {
		t.Fatal(err)
	}
}

// CompleteCreations makes every instance creation complete by itself, for
// tests that drive an agent which creates an instance and polls it: from
// now on, each DescribeDBInstances call first finishes (FinishCreate) the
// instances still creating. Failures fail the test. Call it once per Env.
func (e *Env) CompleteCreations(t testing.TB) {
	t.Helper()
	ctx := testContext(t)
	var hook func()
	hook = func() {
		for _, id := range e.RDS.Identifiers() {
			if inst, ok := e.RDS.Instance(id); ok && inst.Status == rdsfake.StatusCreating {
				if err := e.finishCreate(ctx, id); err != nil {
					t.Error(err)
				}
			}
		}
		e.RDS.OnNext("DescribeDBInstances", hook)
	}
	e.RDS.OnNext("DescribeDBInstances", hook)
}

func (e *Env) finishCreate(ctx context.Context, identifier string) error {
	inst, ok := e.RDS.Instance(identifier)
	if !ok {
		return fmt.Errorf("rdstest: no RDS instance %s", identifier)
	}
	if inst.SecretArn == "" || inst.DBName == "" {
		return fmt.Errorf("rdstest: instance %s has no managed secret or no database", identifier)
	}
	user, password, err := e.masterCredentials(identifier)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, e.Server.SocketDSN("postgres"))
	if err != nil {
		return fmt.Errorf("rdstest: connect as superuser: %w", err)
	}
	defer conn.Close(context.Background())
	role := pgx.Identifier{user}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN CREATEROLE CREATEDB"); err != nil {
		return fmt.Errorf("rdstest: create master user of %s: %w", identifier, err)
	}
	if err := setPassword(ctx, conn, user, password); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{inst.DBName}.Sanitize()+" OWNER "+role); err != nil {
		return fmt.Errorf("rdstest: create database of %s: %w", identifier, err)
	}
	e.RDS.SetEndpoint(identifier, Host, e.Server.Port)
	e.RDS.SetStatus(identifier, rdsfake.StatusAvailable)
	return nil
}

// MasterCredentials returns the master user and password held by the
// current version of instance identifier's managed secret.
func (e *Env) MasterCredentials(t testing.TB, identifier string) (user, password string) {
	t.Helper()
	user, password, err := e.masterCredentials(identifier)
	if err != nil {
		t.Fatal(err)
	}
	return user, password
}

func (e *Env) masterCredentials(identifier string) (user, password string, err error) {
	inst, _ := e.RDS.Instance(identifier)
	raw, ok := e.Secrets.Current(inst.SecretArn)
	if !ok {
		return "", "", fmt.Errorf("rdstest: no managed secret for instance %s", identifier)
	}
	var v struct{ Username, Password string }
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return "", "", fmt.Errorf("rdstest: managed secret of %s is not JSON", identifier)
	}
	return v.Username, v.Password, nil
}

// RotateMasterPassword does what a rotation of the managed secret does: a
// new password becomes the secret's AWSCURRENT version (PutSecretValue
// through the SDK) and the master user's password on the server.
func (e *Env) RotateMasterPassword(t testing.TB, identifier string) {
	t.Helper()
	inst, _ := e.RDS.Instance(identifier)
	user, _ := e.MasterCredentials(t, identifier)
	password := smfake.NewPassword()
	value, _ := json.Marshal(map[string]string{"username": user, "password": password})
	ctx := testContext(t)
	if _, err := e.secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(inst.SecretArn), SecretString: aws.String(string(value)),
	}); err != nil {
		t.Fatalf("rdstest: put secret value: %v", err)
	}
	if err := setPassword(ctx, e.Superuser(t, "postgres"), user, password); err != nil {
		t.Fatal(err)
	}
}

// Superuser connects to database as the superuser over the Unix socket;
// the connection is closed when the test ends.
func (e *Env) Superuser(t testing.TB, database string) *pgx.Conn {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, e.Server.SocketDSN(database))
	if err != nil {
		t.Fatalf("rdstest: connect as superuser: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// setPassword sets role's password, quoted by the server (format %L), so
// no password is spliced into SQL by hand nor shown in an error.
func setPassword(ctx context.Context, conn *pgx.Conn, role, password string) error {
	var stmt string
	if err := conn.QueryRow(ctx, "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", role, password).Scan(&stmt); err != nil {
		return fmt.Errorf("rdstest: build ALTER ROLE: %w", err)
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("rdstest: set password of %s: %s", role, strings.ReplaceAll(err.Error(), password, "(password)"))
	}
	return nil
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
