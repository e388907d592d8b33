// Command fleetbench measures the tenants package against its baselines,
// in a scratch database, Redis key prefix and fleet name of its own that it
// removes afterwards. It reads the same configuration as fleet
// (FLEET_DATABASE_URL, FLEET_REDIS_URL, FLEET_WORKER_CONCURRENCY, ...). Each
// scenario prints one JSON object as its last line.
//
//	fleetbench noisy [-tenants 18 -workers 4 -pool 20 -batch-ms 50 -duration 10s]
//	fleetbench scoped [-n 5000]
//	fleetbench onboard [-tenants 200 -rate 10]
//	fleetbench migrate [-tenants 1000 -concurrency 5]
//	fleetbench sweep [-tenants 10000 -instances 10]
//	fleetbench exhaust [-tenants 18 -workers 4 -pool 20 -batch-ms 50 -duration 40s]  (against a running fleet)
//	fleetbench cost [-tenants 50 -rows 20000 -calls 30 -skip-apply -instance-url URL -cpuprofile FILE]
//	fleetbench chaos [-tenants 300 -workers 3 -kill-every 2s -flush-redis-at 5s -migrate -offboard 30]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantfleet/tenantfleet/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
}

const usage = `usage: fleetbench noisy|scoped|onboard|migrate|chaos|sweep|exhaust|cost [flags]  (fleetbench <scenario> -h lists the flags)`

// run runs one scenario named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "noisy":
		return runNoisy(ctx, cfg, args[1:], stdout, stderr)
	case "scoped":
		return runScoped(ctx, cfg, args[1:], stdout, stderr)
	case "onboard":
		return runOnboard(ctx, cfg, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, cfg, args[1:], stdout, stderr)
	case "chaos":
		return runChaos(ctx, cfg, args[1:], stdout, stderr)
	case "sweep":
		return runSweep(ctx, cfg, args[1:], stdout, stderr)
	case "exhaust":
		return runExhaust(ctx, cfg, args[1:], stdout, stderr)
	case "cost":
		return runCost(ctx, cfg, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown scenario %q: %s", args[0], usage)
	}
}
