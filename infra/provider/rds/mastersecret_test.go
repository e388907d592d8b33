package rds_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/provider"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds"
	"github.com/tenantfleet/tenantfleet/infra/provider/rds/smfake"
)

// TestConnectorSecretErrors: a master secret that cannot be read or used
// fails Admin with a classified error, before any connection, and the
// secret's text never reaches the error.
func TestConnectorSecretErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sm := smfake.New()
	t.Cleanup(sm.Close)
	settings := awsclient.Settings{Region: "us-east-1", Endpoint: sm.URL(), AccessKeyID: "AKIDTEST",
		SecretAccessKey: "secret-test", RetryMaxAttempts: 1}
	client := secretsmanager.New(secretsmanager.Options{Region: settings.Region, BaseEndpoint: aws.String(sm.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(settings.AccessKeyID, settings.SecretAccessKey, "")})
	create := func(name, value string) string {
		out, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatalf("CreateSecret %s: %v", name, err)
		}
		return aws.ToString(out.ARN)
	}
	notJSON := create("not-json", "hunter2-not-json")
	noPassword := create("no-password", `{"username":"tenantfleet","pass":"hunter2-misnamed"}`)
	good := create("good", `{"username":"tenantfleet","password":"hunter2-good"}`)

	c, err := rds.NewConnector(ctx, rds.ConnectorConfig{AWS: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ep := func(ref string) provider.Endpoint {
		// Port 1 is never served: reaching it would be a connection error,
		// which these cases must not get to.
		return provider.Endpoint{InstanceID: "shared-001", Host: "127.0.0.1", Port: 1, Database: "tenants", SecretRef: ref}
	}

	cases := []struct {
		name      string
		ref       string
		fault     *smfake.Fault
		want      error
		retryable bool
	}{
		{name: "not JSON", ref: notJSON, want: provider.ErrInvalid},
		{name: "no password", ref: noPassword, want: provider.ErrInvalid},
		{name: "missing", ref: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-abcdef", want: provider.ErrInvalid},
		{name: "throttled", ref: good, fault: &smfake.Throttling, want: provider.ErrThrottled, retryable: true},
		{name: "access denied", ref: good, fault: &smfake.AccessDenied, want: provider.ErrInvalid},
		{name: "internal error", ref: good, fault: &smfake.InternalServiceError, want: provider.ErrUnavailable, retryable: true},
	}
	for _, tc := range cases {
		if tc.fault != nil {
			sm.InjectFault("GetSecretValue", *tc.fault)
		}
		_, err := c.Admin(ctx, ep(tc.ref))
		if !errors.Is(err, tc.want) || provider.Retryable(err) != tc.retryable {
			t.Errorf("%s: got %v (retryable %v), want %v (retryable %v)", tc.name, err, provider.Retryable(err), tc.want, tc.retryable)
		}
		noSecretIn(t, err, "hunter2")
	}

	// The good secret is read and its credentials tried: the error is the
	// connection's, and holds no password either.
	_, err = c.Admin(ctx, ep(good))
	if err == nil || errors.Is(err, provider.ErrInvalid) {
		t.Errorf("good secret, no server: got %v, want a connection error", err)
	}
	noSecretIn(t, err, "hunter2")

	before := len(sm.Requests(""))
	if _, err := c.Admin(ctx, ep("")); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("endpoint without a secret: got %v, want ErrInvalid", err)
	}
	if _, err := c.Admin(context.Background(), provider.Endpoint{InstanceID: "creating", SecretRef: good}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("endpoint without a host: got %v, want ErrInvalid", err)
	}
	if got := len(sm.Requests("")); got != before {
		t.Errorf("invalid endpoints sent %d requests, want none", got-before)
	}
}
