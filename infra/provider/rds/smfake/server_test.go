package smfake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/tenantfleet/tenantfleet/infra/provider/rds/smfake"
)

func setup(t *testing.T) (*smfake.Server, *secretsmanager.Client) {
	t.Helper()
	srv := smfake.New()
	t.Cleanup(srv.Close)
	client := secretsmanager.New(secretsmanager.Options{
		Region:           smfake.Region,
		BaseEndpoint:     aws.String(srv.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret-test", ""),
		RetryMaxAttempts: 1,
	})
	return srv, client
}

func TestSecretLifecycleThroughSDK(t *testing.T) {
	t.Parallel()
	srv, client := setup(t)
	ctx := t.Context()

	created, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String(`{"v":1}`)})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	arn := aws.ToString(created.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-") || aws.ToString(created.VersionId) == "" {
		t.Errorf("CreateSecret: got ARN %q version %q", arn, aws.ToString(created.VersionId))
	}
	_, err = client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})
	var exists *types.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Errorf("CreateSecret twice: got %v, want ResourceExistsException", err)
	}

	// By ARN and by name.
	for _, id := range []string{arn, "app/db"} {
		got, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue %s: %v", id, err)
		}
		if aws.ToString(got.SecretString) != `{"v":1}` || aws.ToString(got.ARN) != arn || got.CreatedDate == nil ||
			len(got.VersionStages) != 1 || got.VersionStages[0] != smfake.StageCurrent {
			t.Errorf("GetSecretValue %s: got %q %q %v %v", id, aws.ToString(got.SecretString), aws.ToString(got.ARN), got.CreatedDate, got.VersionStages)
		}
	}

	// A rotation: the new value is current, the old one previous.
	put, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(`{"v":2}`)})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	if aws.ToString(put.VersionId) == aws.ToString(created.VersionId) {
		t.Errorf("PutSecretValue: got the old version id")
	}
	for stage, want := range map[string]string{smfake.StageCurrent: `{"v":2}`, smfake.StagePrevious: `{"v":1}`} {
		got, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
		if err != nil || aws.ToString(got.SecretString) != want {
			t.Errorf("GetSecretValue %s: got %q, %v; want %s", stage, aws.ToString(got.SecretString), err, want)
		}
	}
	got, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionId: created.VersionId})
	if err != nil || aws.ToString(got.SecretString) != `{"v":1}` {
		t.Errorf("GetSecretValue by version id: got %q, %v", aws.ToString(got.SecretString), err)
	}
	if v, _ := srv.Current(arn); v != `{"v":2}` {
		t.Errorf("Current: got %q", v)
	}

	if _, err := client.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(arn)}); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
	_, err = client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	var invalid *types.InvalidRequestException
	if !errors.As(err, &invalid) {
		t.Errorf("GetSecretValue after DeleteSecret: got %v, want InvalidRequestException", err)
	}
	_, err = client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("GetSecretValue of an unknown secret: got %v, want ResourceNotFoundException", err)
	}
	if got := len(srv.Requests("GetSecretValue")); got != 7 {
		t.Errorf("recorded %d GetSecretValue requests, want 7", got)
	}
}

func TestManagedSecretIsWhatRDSMakes(t *testing.T) {
	t.Parallel()
	srv, client := setup(t)
	arn, err := srv.CreateManagedSecret("tf-shared-001", "tenantfleet")
	if err != nil {
		t.Fatalf("CreateManagedSecret: %v", err)
	}
	got, err := client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if !strings.HasPrefix(aws.ToString(got.Name), "rds!db-") {
		t.Errorf("name: got %q, want rds!db-<uuid>", aws.ToString(got.Name))
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(got.SecretString)), &v); err != nil {
		t.Fatalf("value is not JSON: %v", err)
	}
	if len(v) != 2 || v["username"] != "tenantfleet" || len(v["password"]) != 32 {
		t.Errorf("value: got keys %d, username %q, password of %d characters; want username and a 32-character password", len(v), v["username"], len(v["password"]))
	}
	other, _ := srv.CreateManagedSecret("tf-shared-002", "tenantfleet")
	if ov, _ := srv.Current(other); ov == aws.ToString(got.SecretString) {
		t.Error("two managed secrets share a password")
	}
}

func TestInjectedFaultsReachTheSDK(t *testing.T) {
	t.Parallel()
	srv, client := setup(t)
	arn, _ := srv.CreateManagedSecret("tf-x", "tenantfleet")
	srv.InjectFault("GetSecretValue", smfake.Throttling)
	_, err := client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("throttled: got %v, want ThrottlingException", err)
	}
	if _, err := client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}); err != nil {
		t.Errorf("faults are one-shot: %v", err)
	}
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t)
	post := func(target, contentType, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const ct = "application/x-amz-json-1.1"
	if code, body := post("secretsmanager.GetSecretValue", ct, `{"SecretId":"nope"}`); code != 400 || !strings.Contains(body, `"__type":"ResourceNotFoundException"`) {
		t.Errorf("not found: got %d %s", code, body)
	}
	if code, body := post("secretsmanager.RotateSecret", ct, `{}`); code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Errorf("unsupported operation: got %d %s", code, body)
	}
	if code, body := post("kms.Decrypt", ct, `{}`); code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Errorf("another service's target: got %d %s", code, body)
	}
	if code, body := post("secretsmanager.GetSecretValue", "application/json", `{}`); code != 400 || !strings.Contains(body, "SerializationException") {
		t.Errorf("wrong content type: got %d %s", code, body)
	}
	if code, body := post("secretsmanager.GetSecretValue", ct, `[1]`); code != 400 || !strings.Contains(body, "SerializationException") {
		t.Errorf("not an object: got %d %s", code, body)
	}
}
