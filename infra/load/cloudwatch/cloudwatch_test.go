package cloudwatch_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"

	"github.com/tenantfleet/tenantfleet/infra/load"
	"github.com/tenantfleet/tenantfleet/infra/load/cloudwatch"
	"github.com/tenantfleet/tenantfleet/infra/load/cloudwatch/cwfake"
)

// now is the fixed clock of the tests; datapoints sit before it.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// setup starts a fake CloudWatch endpoint and a source that talks to it
// through the real SDK client, trying each call once.
func setup(t *testing.T) (*cloudwatch.Source, *cwfake.Server) {
	t.Helper()
	srv := cwfake.New()
	t.Cleanup(srv.Close)
	src, err := cloudwatch.New(t.Context(), cloudwatch.Config{
		AWS: awsclient.Settings{Region: "us-east-1", Endpoint: srv.URL(), AccessKeyID: "AKIDTEST",
			SecretAccessKey: "secret-test", RetryMaxAttempts: 1},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("cloudwatch.New: %v", err)
	}
	return src, srv
}

func TestLoadReadsLatestCPUAndReplicaLag(t *testing.T) {
	t.Parallel()
	src, srv := setup(t)
	srv.PutRDS("tf-shared-001", "CPUUtilization", now.Add(-3*time.Minute), 35)
	srv.PutRDS("tf-shared-001", "CPUUtilization", now.Add(-2*time.Minute), 72.5)
	srv.PutRDS("tf-shared-001", "CPUUtilization", now.Add(-20*time.Minute), 99) // outside the window
	srv.PutRDS("tf-shared-001-r1", "ReplicaLag", now.Add(-2*time.Minute), 4)
	srv.PutRDS("tf-shared-001-r1", "ReplicaLag", now.Add(-5*time.Minute), 30)
	srv.PutRDS("tf-shared-001-r2", "ReplicaLag", now.Add(-2*time.Minute), 1.5)
	srv.PutRDS("tf-other", "CPUUtilization", now.Add(-time.Minute), 5)

	r, err := src.Load(t.Context(), load.Target{
		ID: "shared-001", ProviderRef: "tf-shared-001",
		Replicas: []string{"tf-shared-001-r1", "tf-shared-001-r2"},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := load.Reading{CPUPercent: 72.5, ReplicaLag: 4 * time.Second, At: now.Add(-2 * time.Minute)}
	if r.CPUPercent != want.CPUPercent || r.ReplicaLag != want.ReplicaLag || !r.At.Equal(want.At) {
		t.Errorf("Load: got %+v, want %+v", r, want)
	}

	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Operation != "GetMetricData" {
		t.Fatalf("requests: got %v, want one GetMetricData", reqs)
	}
	body := reqs[0].Body
	if body["ScanBy"] != "TimestampDescending" {
		t.Errorf("ScanBy: got %v, want TimestampDescending", body["ScanBy"])
	}
	if got, want := body["StartTime"], now.Add(-10*time.Minute); got != want {
		t.Errorf("StartTime: got %v, want %v", got, want)
	}
	queries := body["MetricDataQueries"].([]any)
	if len(queries) != 3 {
		t.Fatalf("queries: got %d, want 3 (cpu and two replicas)", len(queries))
	}
	q := queries[0].(map[string]any)
	stat := q["MetricStat"].(map[string]any)
	metric := stat["Metric"].(map[string]any)
	dim := metric["Dimensions"].([]any)[0].(map[string]any)
	if q["Id"] != "cpu" || stat["Stat"] != "Average" || stat["Period"] != int64(60) ||
		metric["Namespace"] != "AWS/RDS" || metric["MetricName"] != "CPUUtilization" ||
		dim["Name"] != "DBInstanceIdentifier" || dim["Value"] != "tf-shared-001" {
		t.Errorf("cpu query: got %v", q)
	}
	lag := queries[1].(map[string]any)["MetricStat"].(map[string]any)
	if lag["Stat"] != "Maximum" || lag["Metric"].(map[string]any)["MetricName"] != "ReplicaLag" {
		t.Errorf("lag query: got %v", lag)
	}
}

func TestLoadWithoutReplicasHasNoLag(t *testing.T) {
	t.Parallel()
	src, srv := setup(t)
	srv.PutRDS("tf-a", "CPUUtilization", now.Add(-time.Minute), 10)
	r, err := src.Load(t.Context(), load.Target{ID: "a", ProviderRef: "tf-a"})
	if err != nil || r.CPUPercent != 10 || r.ReplicaLag != 0 {
		t.Errorf("Load: got %+v, %v; want 10%% and no lag", r, err)
	}
}

func TestLoadNoDatapointsIsNoData(t *testing.T) {
	t.Parallel()
	src, _ := setup(t)
	_, err := src.Load(t.Context(), load.Target{ID: "new", ProviderRef: "tf-new"})
	if !errors.Is(err, load.ErrNoData) {
		t.Errorf("Load of an instance without metrics: got %v, want ErrNoData", err)
	}
}

func TestLoadThrottledIsUnavailable(t *testing.T) {
	t.Parallel()
	src, srv := setup(t)
	srv.PutRDS("tf-a", "CPUUtilization", now.Add(-time.Minute), 10)
	srv.InjectFault(cwfake.Throttling)
	_, err := src.Load(t.Context(), load.Target{ID: "a", ProviderRef: "tf-a"})
	if !errors.Is(err, load.ErrUnavailable) {
		t.Fatalf("Load throttled: got %v, want ErrUnavailable", err)
	}
	if _, err := src.Load(t.Context(), load.Target{ID: "a", ProviderRef: "tf-a"}); err != nil {
		t.Errorf("Load after the fault: %v", err)
	}
}

func TestLoadBadRequestIsNotUnavailable(t *testing.T) {
	t.Parallel()
	src, srv := setup(t)
	srv.InjectFault(cwfake.Fault{Code: "InvalidParameterValue", Message: "bad"})
	_, err := src.Load(t.Context(), load.Target{ID: "a", ProviderRef: "tf-a"})
	if err == nil || errors.Is(err, load.ErrUnavailable) {
		t.Errorf("Load with a bad request: got %v, want an error that is not ErrUnavailable", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []cloudwatch.Config{
		{AWS: awsclient.Settings{Region: "us-east-1"}, Period: 1500 * time.Millisecond},
		{AWS: awsclient.Settings{Region: "us-east-1"}, Period: time.Minute, Window: time.Minute},
		{AWS: awsclient.Settings{Region: "us-east-1", AccessKeyID: "half"}},
		{AWS: awsclient.Settings{Region: "us-east-1", Endpoint: "localhost:1"}},
	} {
		if _, err := cloudwatch.New(t.Context(), cfg); err == nil {
			t.Errorf("New(%+v): got nil error", cfg)
		}
	}
}
