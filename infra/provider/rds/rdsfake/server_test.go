package rdsfake_test

import (
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
