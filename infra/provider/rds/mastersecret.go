package rds

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/singleflight"

	"github.com/tenantfleet/tenantfleet/infra/provider"
)

// secretsAPI is the part of the Secrets Manager client the connector uses.
type secretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ secretsAPI = (*secretsmanager.Client)(nil)

// credentials are the master user's, as one version of its secret holds
// them.
type credentials struct {
	username, password string
	// version is the secret version they came from, so a failure with
	// old credentials cannot make a fresh read stale again.
	version string
}

// masterSecrets reads RDS managed master secrets and caches them by ARN
// until an authentication failure marks them stale. It is safe for
// concurrent use.
type masterSecrets struct {
	client secretsAPI
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]*cachedSecret
	reads singleflight.Group
}

type cachedSecret struct {
	creds credentials
	stale bool
}

// get returns the credentials of secret ref: the cached ones, or freshly
// read when there are none or they were marked stale.
func (s *masterSecrets) get(ctx context.Context, ref string) (credentials, error) {
	s.mu.Lock()
	c, ok := s.cache[ref]
	s.mu.Unlock()
	if ok && !c.stale {
		return c.creds, nil
	}
	// Concurrent callers share one read; the first caller's ctx bounds it.
	v, err, _ := s.reads.Do(ref, func() (any, error) {
		s.mu.Lock()
		c, fresh := s.cache[ref]
		s.mu.Unlock()
		if fresh && !c.stale {
			// Another caller's read finished since this one looked.
			return c.creds, nil
		}
		creds, err := s.read(ctx, ref)
		if err != nil {
			return credentials{}, err
		}
		s.mu.Lock()
		if s.cache == nil {
			s.cache = map[string]*cachedSecret{}
		}
		s.cache[ref] = &cachedSecret{creds: creds}
		s.mu.Unlock()
		if ok {
			s.log.InfoContext(ctx, "rds master secret re-read after an authentication failure",
				slog.String("secret", ref), slog.String("version", creds.version))
		}
		return creds, nil
	})
	if err != nil {
		return credentials{}, err
	}
	return v.(credentials), nil
}

// invalidate marks the cached credentials of ref stale when they are still
// those of version: the next get re-reads the secret. Each failure with a
// version so causes at most one read.
func (s *masterSecrets) invalidate(ref, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[ref]; ok && c.creds.version == version {
		c.stale = true
	}
}

// forget drops the cached credentials of ref.
func (s *masterSecrets) forget(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, ref)
}

// read fetches the AWSCURRENT version of secret ref. RDS managed master
// secrets hold {"username": ..., "password": ...}. Neither the secret's
// text nor a parse error quoting it ever reaches an error.
func (s *masterSecrets) read(ctx context.Context, ref string) (credentials, error) {
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref)})
	if err != nil {
		return credentials{}, translate("read master secret "+ref, err)
	}
	var v struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &v) != nil || v.Username == "" || v.Password == "" {
		return credentials{}, fmt.Errorf("rds: master secret %s: %w: want a JSON object with a username and a password", ref, provider.ErrInvalid)
	}
	return credentials{username: v.Username, password: v.Password, version: aws.ToString(out.VersionId)}, nil
}
