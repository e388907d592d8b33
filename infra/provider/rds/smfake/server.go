// Package smfake is an in-process fake of the AWS Secrets Manager API, so
// tests exercise the real aws-sdk-go-v2 secretsmanager client end to end:
// request signing, JSON serialization and error decoding.
//
// It speaks the wire protocol the SDK uses for Secrets Manager (awsJson1_1):
// a POST to / with Content-Type application/x-amz-json-1.1 and the
// operation in X-Amz-Target ("secretsmanager.GetSecretValue"), a JSON body,
// answered with JSON; errors are HTTP 400 (500 for InternalServiceError)
// with {"__type": "<Code>", "Message": "..."}. It implements CreateSecret,
// GetSecretValue, PutSecretValue and DeleteSecret with version stages
// (AWSCURRENT, AWSPREVIOUS), records every request, and lets the test inject
// errors. It does not check signatures.
//
// CreateManagedSecret makes the secret RDS makes for an instance created
// with ManageMasterUserPassword; rdsfake.Server.SetManagedSecrets takes it
// as its hook.
//
//	srv := smfake.New()
//	t.Cleanup(srv.Close)
//	client := secretsmanager.New(secretsmanager.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: aws.String(srv.URL()),
//		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
//	})
package smfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"
)

// Region and AccountID appear in the ARNs the fake makes.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// The version stages Secrets Manager moves on each new version.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// Server is a running fake Secrets Manager endpoint. It is safe for
// concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string]*secret // by ARN
	names    map[string]string  // name to ARN
	requests []Request
	faults   map[string][]Fault
}

type secret struct {
	arn, name string
	created   time.Time
	versions  []*version // oldest first
	deleted   bool
}

type version struct {
	id     string
	value  string
	stages []string
}

func (s *secret) byStage(stage string) *version {
	for _, v := range s.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// Request is one API call the fake received.
type Request struct {
	// Operation is the X-Amz-Target operation, e.g. "GetSecretValue".
	Operation string
	// Body is the decoded JSON body.
	Body map[string]any
}

// SecretID returns the request's SecretId (or Name, for CreateSecret).
func (r Request) SecretID() string {
	if v, ok := r.Body["SecretId"].(string); ok {
		return v
	}
	v, _ := r.Body["Name"].(string)
	return v
}

// Fault is an error the fake answers with, in Secrets Manager's format.
type Fault struct {
	// HTTPStatus is the response status; default 400.
	HTTPStatus int
	// Code is the error type the SDK exposes as smithy.APIError.ErrorCode.
	Code string
	// Message is the human-readable message.
	Message string
}

// Common faults for InjectFault.
var (
	// Throttling is what Secrets Manager answers above its request rate.
	Throttling = Fault{Code: "ThrottlingException", Message: "Rate exceeded"}
	// AccessDenied is what it answers when IAM denies the caller.
	AccessDenied = Fault{Code: "AccessDeniedException", Message: "User is not authorized to perform: secretsmanager:GetSecretValue"}
	// InternalServiceError is a server-side error.
	InternalServiceError = Fault{HTTPStatus: http.StatusInternalServerError, Code: "InternalServiceError", Message: "internal error"}
)

// New starts a fake Secrets Manager endpoint on the loopback interface.
// Close it when done.
func New() *Server {
	s := &Server{secrets: map[string]*secret{}, names: map[string]string{}, faults: map[string][]Fault{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to use as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the requests received so far for operation, in order;
// all requests when operation is "".
func (s *Server) Requests(operation string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if operation == "" || r.Operation == operation {
			out = append(out, r)
		}
	}
	return out
}

// InjectFault makes the next call to operation answer with f instead of
// being processed; queued faults are used one per call, in order. The SDK
// retries throttling and 5xx faults on its own.
func (s *Server) InjectFault(operation string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[operation] = append(s.faults[operation], f)
}

// CreateManagedSecret creates the secret RDS creates for the master user of
// a DB instance with ManageMasterUserPassword: named "rds!db-<uuid>",
// holding {"username": username, "password": <a generated password>}. It
// returns the secret's ARN. Its signature fits
// rdsfake.Server.SetManagedSecrets.
func (s *Server) CreateManagedSecret(identifier, username string) (string, error) {
	value, err := json.Marshal(map[string]string{"username": username, "password": NewPassword()})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ferr := s.create("rds!db-"+uuid(), string(value))
	if ferr != nil {
		return "", fmt.Errorf("smfake: create managed secret of %s: %s", identifier, ferr.Message)
	}
	return sec.arn, nil
}

// Current returns the AWSCURRENT value of the secret with ARN or name id,
// for the test to set up the server side (the password RDS would give the
// master user).
func (s *Server) Current(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ferr := s.lookup(id)
	if ferr != nil {
		return "", false
	}
	return sec.byStage(StageCurrent).value, true
}

// NewPassword returns a random 32-character password of letters and digits,
// the kind RDS generates.
func NewPassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
