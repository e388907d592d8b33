package cloudwatch

import (
	"context"
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tenantfleet/tenantfleet/infra/load"
)

// unavailableCodes are CloudWatch error codes that mean "try later".
var unavailableCodes = map[string]bool{
	"Throttling":               true,
	"ThrottlingException":      true,
	"RequestLimitExceeded":     true,
	"TooManyRequestsException": true,
	"LimitExceeded":            true,
	"LimitExceededException":   true,
	"InternalServiceError":     true,
	"InternalServiceFault":     true,
	"InternalFailure":          true,
	"ServiceUnavailable":       true,
}

// translate wraps a CloudWatch client error: throttling, server faults and
// transport failures wrap load.ErrUnavailable; the rest (bad parameters,
// denied access) are returned as they are, wrapped with context.
func translate(target load.Target, err error) error {
	prefix := fmt.Sprintf("cloudwatch: load %s (%s)", target.ID, target.ProviderRef)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if unavailableCodes[ae.ErrorCode()] || ae.ErrorFault() == smithy.FaultServer || status(err) >= 500 {
			return fmt.Errorf("%s: %w: %w", prefix, load.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", prefix, err)
	}
	if s := status(err); s == 0 || s >= 500 {
		return fmt.Errorf("%s: %w: %w", prefix, load.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
