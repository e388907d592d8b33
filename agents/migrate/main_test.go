package migrate_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// quietRedisLog drops go-redis's own log lines: it prints every failed dial,
// which TestRedisOutageMidRun makes by the hundred.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChildWorker())
	}
	redis.SetLogger(quietRedisLog{})
	goleak.VerifyTestMain(m)
}
