package rds

import (
	"context"
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// errorCodes maps RDS API error codes (smithy.APIError.ErrorCode) to the
// provider's sentinels. Secrets Manager's (read by the connector) need no
// entry: ThrottlingException is here, the rest are classified by status.
var errorCodes = map[string]error{
	"DBInstanceNotFound":      provider.ErrNotFound,
	"DBInstanceNotFoundFault": provider.ErrNotFound,

	"DBInstanceAlreadyExists":      provider.ErrAlreadyExists,
	"DBInstanceAlreadyExistsFault": provider.ErrAlreadyExists,

	"InstanceQuotaExceeded":          provider.ErrQuota,
	"StorageQuotaExceeded":           provider.ErrQuota,
	"InsufficientDBInstanceCapacity": provider.ErrQuota,
	"SnapshotQuotaExceeded":          provider.ErrQuota,

	"Throttling":                             provider.ErrThrottled,
	"ThrottlingException":                    provider.ErrThrottled,
	"RequestLimitExceeded":                   provider.ErrThrottled,
	"TooManyRequestsException":               provider.ErrThrottled,
	"RequestThrottled":                       provider.ErrThrottled,
	"RequestThrottledException":              provider.ErrThrottled,
	"ProvisionedThroughputExceededException": provider.ErrThrottled,

	"InternalFailure":    provider.ErrUnavailable,
	"ServiceUnavailable": provider.ErrUnavailable,

	"InvalidParameterValue":       provider.ErrInvalid,
	"InvalidParameterCombination": provider.ErrInvalid,
	"MissingParameter":            provider.ErrInvalid,
	"InvalidDBInstanceState":      provider.ErrInvalid,
	"InvalidDBInstanceStateFault": provider.ErrInvalid,
	"DBSubnetGroupNotFoundFault":  provider.ErrInvalid,
	"DBSnapshotAlreadyExists":     provider.ErrInvalid,
	"KMSKeyNotAccessibleFault":    provider.ErrInvalid,
	"InvalidVPCNetworkStateFault": provider.ErrInvalid,
	"InvalidAction":               provider.ErrInvalid,
}

// translate wraps an error from an AWS client in the matching provider
// sentinel, keeping the original in the chain. Context cancellation is
// returned as is; an API error with an unknown code is classified by its
// HTTP status (5xx unavailable, else invalid); a transport failure after
// the SDK's retries is unavailable.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rds: %s: %w", op, err)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if sentinel, ok := errorCodes[ae.ErrorCode()]; ok {
			return fmt.Errorf("rds: %s: %w: %w", op, sentinel, err)
		}
		if ae.ErrorFault() == smithy.FaultServer || httpStatus(err) >= 500 {
			return fmt.Errorf("rds: %s: %w: %w", op, provider.ErrUnavailable, err)
		}
		return fmt.Errorf("rds: %s: %w: %w", op, provider.ErrInvalid, err)
	}
	if s := httpStatus(err); s >= 500 || s == 0 {
		// No API error: the request never got a well-formed answer
		// (connection refused, reset, a bare 5xx).
		return fmt.Errorf("rds: %s: %w: %w", op, provider.ErrUnavailable, err)
	}
	return fmt.Errorf("rds: %s: %w", op, err)
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// errorCode returns the RDS API error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
