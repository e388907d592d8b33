package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeConfig runs `docker-compose config` (no Docker engine needed) on
// docker-compose.yml with the given FLEET_API_TOKEN (unset when empty) and
// returns its output and error. .ci/run installs docker-compose, so in CI a
// missing command is a failure, not a skip.
func composeConfig(t *testing.T, token string, args ...string) ([]byte, error) {
	t.Helper()
	path, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed; .ci/run should install it")
		}
		t.Skip("docker-compose not installed (apt-get install docker-compose); CI runs this check")
	}
	cmd := exec.Command(path, append([]string{"-f", "../../docker-compose.yml", "config"}, args...)...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "FLEET_API_TOKEN=") })
	if token != "" {
		cmd.Env = append(cmd.Env, "FLEET_API_TOKEN="+token)
	}
	return cmd.CombinedOutput()
}

// TestComposeFileIsValid checks docker-compose.yml with `docker-compose
// config -q`.
func TestComposeFileIsValid(t *testing.T) {
	if out, err := composeConfig(t, "compose-test-token-123", "-q"); err != nil {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
}

// TestComposeRequiresTokenAndPublishesOnLoopback: without FLEET_API_TOKEN
// the file does not start (no default token opens the API and Asynqmon),
// and the fleet's port is published on loopback only.
func TestComposeRequiresTokenAndPublishesOnLoopback(t *testing.T) {
	out, err := composeConfig(t, "", "-q")
	if err == nil {
		t.Fatalf("docker-compose config without FLEET_API_TOKEN succeeded, want it refused\n%s", out)
	}
	if !strings.Contains(string(out), "FLEET_API_TOKEN") {
		t.Errorf("the refusal does not name FLEET_API_TOKEN:\n%s", out)
	}

	out, err = composeConfig(t, "compose-test-token-123")
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var resolved struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Ports       []any             `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &resolved); err != nil {
		t.Fatalf("parse docker-compose config output: %v\n%s", err, out)
	}
	fleet, ok := resolved.Services["fleet"]
	if !ok {
		t.Fatalf("no fleet service in:\n%s", out)
	}
	if got := fleet.Environment["FLEET_API_TOKEN"]; got != "compose-test-token-123" {
		t.Errorf("FLEET_API_TOKEN = %q, want the one from the environment", got)
	}
	if len(fleet.Ports) == 0 {
		t.Fatal("the fleet service publishes no port")
	}
	for _, p := range fleet.Ports {
		// Short syntax "127.0.0.1:8080:8080/tcp", or the long form with host_ip.
		s, isString := p.(string)
		long, isMap := p.(map[string]any)
		loopback := (isString && strings.HasPrefix(s, "127.0.0.1:")) || (isMap && long["host_ip"] == "127.0.0.1")
		if !loopback {
			t.Errorf("port %v is not published on loopback only", p)
		}
	}
	for name, svc := range resolved.Services {
		if name != "fleet" && len(svc.Ports) > 0 {
			t.Errorf("service %s publishes ports %v; only the fleet's (on loopback) should be", name, svc.Ports)
		}
	}
}
