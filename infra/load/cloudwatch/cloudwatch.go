// Package cloudwatch is the load source for RDS instances: the AWS/RDS
// CPUUtilization of the instance and the ReplicaLag of its read replicas,
// read with one GetMetricData call on aws-sdk-go-v2's service/cloudwatch.
//
// Package cwfake serves the CloudWatch API locally for tests.
package cloudwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/tenantfleet/tenantfleet/infra/awsclient"
	"github.com/tenantfleet/tenantfleet/infra/load"
)

// Config configures a Source.
type Config struct {
	// AWS are the client settings: region, endpoint override (a cwfake
	// server in tests), static credentials or the default chain, HTTP
	// client, retries. Defaults as documented on awsclient.Settings.
	AWS awsclient.Settings
	// Period is the metrics' aggregation period. Default 60s, RDS's basic
	// monitoring resolution.
	Period time.Duration
	// Window is how far back to look for the latest datapoint. Default 10
	// minutes; it must be at least two periods, since CloudWatch publishes
	// a period after it ends.
	Window time.Duration
	// Now is the clock that places the window. Default time.Now.
	Now func() time.Time
}

// api is the part of the CloudWatch client the source uses.
type api interface {
	GetMetricData(ctx context.Context, in *cw.GetMetricDataInput, opts ...func(*cw.Options)) (*cw.GetMetricDataOutput, error)
}

// Source reads RDS load from CloudWatch. It is safe for concurrent use.
type Source struct {
	client api
	period time.Duration
	window time.Duration
	now    func() time.Time
}

var _ load.Source = (*Source)(nil)

// New validates cfg and builds the CloudWatch client. It makes no API call.
func New(ctx context.Context, cfg Config) (*Source, error) {
	cfg.Period = cmp.Or(cfg.Period, time.Minute)
	cfg.Window = cmp.Or(cfg.Window, 10*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if cfg.Period < time.Second || cfg.Period%time.Second != 0 {
		errs = append(errs, fmt.Errorf("period %s: want a whole number of seconds", cfg.Period))
	}
	if cfg.Window < 2*cfg.Period {
		errs = append(errs, fmt.Errorf("window %s: want at least two periods (%s)", cfg.Window, 2*cfg.Period))
	}
	if err := cfg.AWS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cloudwatch source config: %w", err)
	}

	awsCfg, err := awsclient.Load(ctx, cfg.AWS)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch source config: %w", err)
	}
	client := cw.NewFromConfig(awsCfg, func(o *cw.Options) { o.BaseEndpoint = cfg.AWS.BaseEndpoint() })
	return &Source{client: client, period: cfg.Period, window: cfg.Window, now: cfg.Now}, nil
}

// Load reads the latest CPUUtilization (Average) of target.ProviderRef and
// the latest ReplicaLag (Maximum) of each of target.Replicas within the
// window. No CPU datapoint in the window returns load.ErrNoData; a replica
// without a datapoint counts as no lag. Reading.At is the CPU datapoint's
// time.
func (s *Source) Load(ctx context.Context, target load.Target) (load.Reading, error) {
	if target.ProviderRef == "" {
		return load.Reading{}, fmt.Errorf("cloudwatch: load %s: no DB instance identifier", target.ID)
	}
	queries := []types.MetricDataQuery{s.query("cpu", target.ProviderRef, "CPUUtilization", "Average")}
	for i, r := range target.Replicas {
		queries = append(queries, s.query(fmt.Sprintf("lag%d", i), r, "ReplicaLag", "Maximum"))
	}
	end := s.now().Truncate(time.Second)
	in := &cw.GetMetricDataInput{
		StartTime:         aws.Time(end.Add(-s.window)),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampDescending,
		MetricDataQueries: queries,
	}
	latest := map[string]float64{}
	var at time.Time
	p := cw.NewGetMetricDataPaginator(s.client, in)
	for p.HasMorePages() && len(latest) < len(queries) {
		out, err := p.NextPage(ctx)
		if err != nil {
			return load.Reading{}, translate(target, err)
		}
		for _, res := range out.MetricDataResults {
			id := aws.ToString(res.Id)
			if _, seen := latest[id]; seen || len(res.Values) == 0 {
				continue
			}
			// ScanBy TimestampDescending: the first value is the latest.
			latest[id] = res.Values[0]
			if id == "cpu" && len(res.Timestamps) > 0 {
				at = res.Timestamps[0]
			}
		}
	}
	cpu, ok := latest["cpu"]
	if !ok {
		return load.Reading{}, fmt.Errorf("cloudwatch: load %s (%s): %w: no CPUUtilization in the last %s", target.ID, target.ProviderRef, load.ErrNoData, s.window)
	}
	r := load.Reading{CPUPercent: cpu, At: at}
	for i := range target.Replicas {
		lag := latest[fmt.Sprintf("lag%d", i)]
		r.ReplicaLag = max(r.ReplicaLag, time.Duration(lag*float64(time.Second)))
	}
	return r, nil
}

func (s *Source) query(id, instance, metric, stat string) types.MetricDataQuery {
	return types.MetricDataQuery{
		Id:         aws.String(id),
		ReturnData: aws.Bool(true),
		MetricStat: &types.MetricStat{
			Period: aws.Int32(int32(s.period / time.Second)),
			Stat:   aws.String(stat),
			Metric: &types.Metric{
				Namespace:  aws.String("AWS/RDS"),
				MetricName: aws.String(metric),
				Dimensions: []types.Dimension{{Name: aws.String("DBInstanceIdentifier"), Value: aws.String(instance)}},
			},
		},
	}
}
