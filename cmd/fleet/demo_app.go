package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// exampleApp is the example application (cmd/exampleapp) running as a
// child process beside the demo fleet, as an application runs beside a
// fleet: its own process, its own pools, publishing their statistics to
// the fleet's Redis.
type exampleApp struct {
	cmd  *exec.Cmd
	done chan struct{}
	base string
}

// startExampleApp starts the binary o.exampleApp with the demo's settings
// (its control plane, Redis database and fleet name) and waits until it
// answers /healthz. Its log goes to stderr.
func startExampleApp(ctx context.Context, o demoOptions, ns *demoNamespace, stderr io.Writer) (*exampleApp, error) {
	// Not cancelled with ctx: stop shuts it down gracefully.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), o.exampleApp, //nolint:gosec // G204: the operator's own exampleapp binary
		"-addr", o.appAddr, "-pool", "20", "-acquire-timeout", "5s")
	// Only what the application needs, not the user's FLEET_* settings.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "EXAMPLEAPP_TOKEN=" + ns.appToken}
	for _, k := range []string{"FLEET_DATABASE_URL", "FLEET_REDIS_URL", "FLEET_REDIS_CA_FILE", "FLEET_REDIS_CERT_FILE", "FLEET_REDIS_KEY_FILE", "FLEET_NAME"} {
		if v := ns.settings[k]; v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the example application: %w", err)
	}
	a := &exampleApp{cmd: cmd, done: make(chan struct{}), base: "http://" + o.appAddr}
	go func() { _ = cmd.Wait(); close(a.done) }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("the example application exited: %v (is %s free?)", cmd.ProcessState, o.appAddr)
		case <-ctx.Done():
			a.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("the example application did not answer at %s/healthz within 30s", a.base)
		}
	}
}

// stop asks the application to shut down (SIGINT: it drains its requests
// and closes its pools) and kills it if it has not exited after 10s.
func (a *exampleApp) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// url is the application's URL of path.
func (a *exampleApp) url(path string) string { return a.base + path }

// authorize sets the application's bearer token on a request.
func (a *exampleApp) authorize(req *http.Request, token string) {
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
}
