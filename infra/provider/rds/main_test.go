package rds_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the connector's pools and the SDK clients leave no
// goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// pgxpool's background health check winds down asynchronously
		// after Close.
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"),
	)
}
