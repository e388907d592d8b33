package rdsfake_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantfleet/tenantfleet/infra/provider/rds/rdsfake"
)

func post(t *testing.T, srv *rdsfake.Server, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.Post(srv.URL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv := rdsfake.New()
	t.Cleanup(srv.Close)

	code, body := post(t, srv, url.Values{"Action": {"DescribeDBInstances"}, "Version": {"2014-10-31"}, "DBInstanceIdentifier": {"nope"}})
	if code != http.StatusNotFound || !strings.Contains(body, "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">") ||
		!strings.Contains(body, "<Code>DBInstanceNotFound</Code>") || !strings.Contains(body, "<Type>Sender</Type>") {
		t.Errorf("not found: got %d %s", code, body)
	}

	code, body = post(t, srv, url.Values{
		"Action": {"CreateDBInstance"}, "Version": {"2014-10-31"}, "DBInstanceIdentifier": {"db-1"},
		"DBInstanceClass": {"db.t4g.micro"}, "Engine": {"postgres"}, "ManageMasterUserPassword": {"true"},
		"Tags.Tag.1.Key": {"a"}, "Tags.Tag.1.Value": {"b"},
	})
	if code != http.StatusOK || !strings.Contains(body, "<CreateDBInstanceResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><CreateDBInstanceResult><DBInstance>") ||
		!strings.Contains(body, "<DBInstanceStatus>creating</DBInstanceStatus>") ||
		!strings.Contains(body, "<TagList><Tag><Key>a</Key><Value>b</Value></Tag></TagList>") ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Errorf("create: got %d %s", code, body)
	}
	if strings.Contains(body, "<Endpoint>") {
		t.Errorf("create: endpoint reported while creating: %s", body)
	}
}

func TestRejectsWhatRDSRejects(t *testing.T) {
	t.Parallel()
	srv := rdsfake.New()
	t.Cleanup(srv.Close)
	base := url.Values{"Action": {"CreateDBInstance"}, "Version": {"2014-10-31"}, "DBInstanceClass": {"db.t4g.micro"}, "Engine": {"postgres"}, "ManageMasterUserPassword": {"true"}}
	for _, id := range []string{"1starts-with-digit", "double--hyphen", "trailing-", strings.Repeat("a", 64)} {
		form := url.Values{}
		for k, v := range base {
			form[k] = v
		}
		form.Set("DBInstanceIdentifier", id)
		if code, body := post(t, srv, form); code != http.StatusBadRequest || !strings.Contains(body, "InvalidParameterValue") {
			t.Errorf("identifier %q: got %d %s, want 400 InvalidParameterValue", id, code, body)
		}
	}
	if code, body := post(t, srv, url.Values{"Action": {"RebootDBInstance"}, "Version": {"2014-10-31"}}); code != http.StatusBadRequest || !strings.Contains(body, "InvalidAction") {
		t.Errorf("unknown action: got %d %s", code, body)
	}
	if code, _ := post(t, srv, url.Values{"Action": {"DescribeDBInstances"}, "Version": {"2013-01-10"}}); code != http.StatusBadRequest {
		t.Errorf("old version: got %d, want 400", code)
	}
	if got := len(srv.Requests("")); got != 6 {
		t.Errorf("recorded %d requests, want 6", got)
	}
}

func TestManagedSecretsHookAndEndpoint(t *testing.T) {
	t.Parallel()
	srv := rdsfake.New()
	t.Cleanup(srv.Close)
	var calls []string
	srv.SetManagedSecrets(func(identifier, username string) (string, error) {
		calls = append(calls, identifier+"/"+username)
		if identifier == "db-broken" {
			return "", errors.New("secret store down")
		}
		return "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-made-by-hook", nil
	})
	create := url.Values{"Action": {"CreateDBInstance"}, "Version": {"2014-10-31"}, "DBInstanceIdentifier": {"db-1"},
		"DBInstanceClass": {"db.t4g.micro"}, "Engine": {"postgres"}, "ManageMasterUserPassword": {"true"}, "MasterUsername": {"master"}}
	if code, body := post(t, srv, create); code != http.StatusOK || !strings.Contains(body, "<SecretArn>arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-made-by-hook</SecretArn>") {
		t.Errorf("create: got %d %s, want the hook's ARN", code, body)
	}
	create.Set("DBInstanceIdentifier", "db-broken")
	if code, body := post(t, srv, create); code != http.StatusInternalServerError || !strings.Contains(body, "<Code>InternalFailure</Code>") {
		t.Errorf("create with a failing hook: got %d %s, want 500 InternalFailure", code, body)
	}
	if len(calls) != 2 || calls[0] != "db-1/master" {
		t.Errorf("hook calls: got %v", calls)
	}
	if _, ok := srv.Instance("db-broken"); ok {
		t.Error("an instance whose secret could not be made was kept")
	}

	if !srv.SetEndpoint("db-1", "127.0.0.1", 6543) || srv.SetEndpoint("nope", "127.0.0.1", 1) {
		t.Error("SetEndpoint: want true for db-1, false for an unknown instance")
	}
	srv.SetStatus("db-1", rdsfake.StatusAvailable)
	_, body := post(t, srv, url.Values{"Action": {"DescribeDBInstances"}, "Version": {"2014-10-31"}, "DBInstanceIdentifier": {"db-1"}})
	if !strings.Contains(body, "<Endpoint><Address>127.0.0.1</Address><Port>6543</Port>") {
		t.Errorf("describe after SetEndpoint: got %s", body)
	}
}
