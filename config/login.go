package config

import (
	"cmp"
	"time"
)

// Login configures the dashboard's login (agents/operators), part of
// Config.
type Login struct {
	// SessionIdleTimeout ends a browser session not used for this long
	// (FLEET_SESSION_IDLE_TIMEOUT, yaml session_idle_timeout). Default 30m,
	// 1m to 24h.
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// SessionMaxAge ends a browser session this long after its login, used
	// or not (FLEET_SESSION_MAX_AGE, yaml session_max_age). Default 12h, at
	// least the idle timeout, at most 30 days.
	SessionMaxAge time.Duration `yaml:"session_max_age"`
	// LoginMaxFailuresPerUser failed logins of one user name within the
	// window refuse that name's logins, from anywhere
	// (FLEET_LOGIN_MAX_FAILURES_PER_USER, yaml
	// login_max_failures_per_user). Default 5, 1 to 1000.
	LoginMaxFailuresPerUser int `yaml:"login_max_failures_per_user"`
	// LoginMaxFailuresPerAddress failed logins from one client address
	// within the window refuse its logins
	// (FLEET_LOGIN_MAX_FAILURES_PER_ADDRESS, yaml
	// login_max_failures_per_address). Default 20, 1 to 10000.
	LoginMaxFailuresPerAddress int `yaml:"login_max_failures_per_address"`
	// LoginFailureWindow is the window of both counts
	// (FLEET_LOGIN_FAILURE_WINDOW, yaml login_failure_window). Default
	// 15m, 1m to 24h.
	LoginFailureWindow time.Duration `yaml:"login_failure_window"`
	// PasswordCost is the bcrypt cost of new password hashes
	// (FLEET_PASSWORD_COST, yaml password_cost). Default 11, 10 to 14
	// (4 to 14 is accepted, for tests; below 10 is too cheap to guess
	// against).
	PasswordCost int `yaml:"password_cost"`
}

func (l *Login) applyEnv(dur func(string, *time.Duration), integer func(string, *int)) {
	dur("FLEET_SESSION_IDLE_TIMEOUT", &l.SessionIdleTimeout)
	dur("FLEET_SESSION_MAX_AGE", &l.SessionMaxAge)
	integer("FLEET_LOGIN_MAX_FAILURES_PER_USER", &l.LoginMaxFailuresPerUser)
	integer("FLEET_LOGIN_MAX_FAILURES_PER_ADDRESS", &l.LoginMaxFailuresPerAddress)
	dur("FLEET_LOGIN_FAILURE_WINDOW", &l.LoginFailureWindow)
	integer("FLEET_PASSWORD_COST", &l.PasswordCost)
}

func (l *Login) applyDefaults() {
	l.SessionIdleTimeout = cmp.Or(l.SessionIdleTimeout, 30*time.Minute)
	l.SessionMaxAge = cmp.Or(l.SessionMaxAge, 12*time.Hour)
	l.LoginMaxFailuresPerUser = cmp.Or(l.LoginMaxFailuresPerUser, 5)
	l.LoginMaxFailuresPerAddress = cmp.Or(l.LoginMaxFailuresPerAddress, 20)
	l.LoginFailureWindow = cmp.Or(l.LoginFailureWindow, 15*time.Minute)
	l.PasswordCost = cmp.Or(l.PasswordCost, 11)
}

func (l Login) validate(bad func(format string, args ...any)) {
	if l.SessionIdleTimeout < time.Minute || l.SessionIdleTimeout > 24*time.Hour {
		bad("FLEET_SESSION_IDLE_TIMEOUT must be between 1m and 24h, got %s", l.SessionIdleTimeout)
	}
	if l.SessionMaxAge < l.SessionIdleTimeout || l.SessionMaxAge > 30*24*time.Hour {
		bad("FLEET_SESSION_MAX_AGE must be at least FLEET_SESSION_IDLE_TIMEOUT and at most 720h, got %s", l.SessionMaxAge)
	}
	if l.LoginMaxFailuresPerUser < 1 || l.LoginMaxFailuresPerUser > 1000 {
		bad("FLEET_LOGIN_MAX_FAILURES_PER_USER must be between 1 and 1000, got %d", l.LoginMaxFailuresPerUser)
	}
	if l.LoginMaxFailuresPerAddress < 1 || l.LoginMaxFailuresPerAddress > 10000 {
		bad("FLEET_LOGIN_MAX_FAILURES_PER_ADDRESS must be between 1 and 10000, got %d", l.LoginMaxFailuresPerAddress)
	}
	if l.LoginFailureWindow < time.Minute || l.LoginFailureWindow > 24*time.Hour {
		bad("FLEET_LOGIN_FAILURE_WINDOW must be between 1m and 24h, got %s", l.LoginFailureWindow)
	}
	if l.PasswordCost < 4 || l.PasswordCost > 14 {
		bad("FLEET_PASSWORD_COST must be between 4 and 14, got %d", l.PasswordCost)
	}
}
