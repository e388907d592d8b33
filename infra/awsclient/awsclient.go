// Package awsclient builds the aws.Config the fleet's AWS adapters (the RDS
// provider, the CloudWatch load source) share: region, endpoint override,
// static or default-chain credentials, HTTP client and retries.
package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Settings are an AWS client's settings.
type Settings struct {
	// Region is the AWS region. Default: the default chain's (AWS_REGION,
	// shared config), or us-east-1 when Endpoint is set and none is found.
	Region string
	// Endpoint overrides the service endpoint (BaseEndpoint), for local
	// emulators and tests. Default: the regional AWS endpoint.
	Endpoint string
	// AccessKeyID, SecretAccessKey and SessionToken are static
	// credentials. Default: the default AWS credential chain. Never logged.
	AccessKeyID, SecretAccessKey, SessionToken string
	// HTTPClient sends the requests. Default: the SDK's.
	HTTPClient *http.Client
	// RetryMaxAttempts caps the SDK's attempts per call. Default 0: the
	// SDK's own (3).
	RetryMaxAttempts int
}

// Validate reports settings that cannot work: half a static credential
// pair, an endpoint that is not an http(s) URL, negative retries.
func (s Settings) Validate() error {
	var errs []error
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		errs = append(errs, errors.New("static credentials: set both access key id and secret access key, or neither"))
	}
	if s.Endpoint != "" && !strings.HasPrefix(s.Endpoint, "http://") && !strings.HasPrefix(s.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("endpoint %q: want an http:// or https:// URL", s.Endpoint))
	}
	if s.RetryMaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("retry max attempts %d: must not be negative", s.RetryMaxAttempts))
	}
	return errors.Join(errs...)
}

// ErrNoRegion means no region was configured anywhere and no endpoint
// override makes one unnecessary.
var ErrNoRegion = errors.New("no AWS region (set the region or AWS_REGION)")

// Load builds the aws.Config of s. It makes no API call. Apply Endpoint to
// the service client with BaseEndpoint.
func Load(ctx context.Context, s Settings) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	if s.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, s.SessionToken)))
	}
	if s.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(s.HTTPClient))
	}
	if s.RetryMaxAttempts > 0 {
		opts = append(opts, awsconfig.WithRetryMaxAttempts(s.RetryMaxAttempts))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		if s.Endpoint == "" {
			return aws.Config{}, ErrNoRegion
		}
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// BaseEndpoint returns the endpoint override as the SDK's option value,
// nil when there is none.
func (s Settings) BaseEndpoint() *string {
	if s.Endpoint == "" {
		return nil
	}
	return aws.String(s.Endpoint)
}
