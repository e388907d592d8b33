package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

func init() {
	commands["probe"] = command{
		summary: "GET a URL and exit 0 on 200 (container health checks without curl)",
		run:     runProbe,
	}
}

func runProbe(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: fleet probe URL", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The URL is the operator's own health check target.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil) //nolint:gosec // G704: operator-supplied URL

	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: operator-supplied URL
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
