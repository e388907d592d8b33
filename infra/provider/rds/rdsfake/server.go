// Package rdsfake is an in-process fake of the Amazon RDS Query API, so
// tests exercise the real aws-sdk-go-v2 RDS client end to end: request
// signing, form serialization, XML deserialization and error decoding.
//
// It speaks the wire protocol the current SDK uses for RDS (aws.protocols
// awsQuery): a form-encoded POST to / with Action and Version=2014-10-31,
// answered with XML in the http://rds.amazonaws.com/doc/2014-10-31/
// namespace, and errors as <ErrorResponse><Error>…</Error></ErrorResponse>
// with HTTP 400 or 404. It implements CreateDBInstance,
// DescribeDBInstances, DeleteDBInstance and CreateDBInstanceReadReplica,
// records every request's parameters, keeps instance state, and lets the
// test drive each instance's status and inject errors. It does not check
// signatures.
//
// Two hooks join it to real servers: SetManagedSecrets creates each managed
// master secret in a Secrets Manager fake (smfake), and SetEndpoint points
// an instance's reported endpoint at a PostgreSQL server the test runs
// (rdstest wires both).
//
// Point a client at it with the endpoint override:
//
//	srv := rdsfake.New()
//	t.Cleanup(srv.Close)
//	client := rds.New(rds.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: aws.String(srv.URL()),
//		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
//	})
package rdsfake

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
)

// Namespace is the XML namespace of RDS API version 2014-10-31.
const Namespace = "http://rds.amazonaws.com/doc/2014-10-31/"

// APIVersion is the only Version the fake accepts.
const APIVersion = "2014-10-31"

// Region is the region the fake pretends to be in; it appears in endpoint
// addresses and ARNs.
const Region = "us-east-1"

// accountID appears in ARNs.
const accountID = "123456789012"

// Server is a running fake RDS endpoint. It is safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	instances map[string]*Instance
	requests  []Request
	faults    map[string][]Fault
	hooks     map[string][]func()
	seq       int
	// managedSecrets creates the master secret of a new instance with
	// ManageMasterUserPassword; nil: a made-up ARN with no secret behind.
	managedSecrets func(identifier, username string) (arn string, err error)
}

// Request is one API call the fake received.
type Request struct {
	// Action is the API operation, e.g. "CreateDBInstance".
	Action string
	// Params are all form parameters, Action and Version included, keyed
	// the way the SDK serialized them (e.g. "Tags.Tag.1.Key").
	Params url.Values
}

// Get returns the first value of the parameter key, or "".
func (r Request) Get(key string) string { return r.Params.Get(key) }

// Tags returns the Tags.Tag.N.Key/Value parameters as a map.
func (r Request) Tags() map[string]string {
	tags := map[string]string{}
	for i := 1; ; i++ {
		k, ok := r.Params[fmt.Sprintf("Tags.Tag.%d.Key", i)]
		if !ok {
			return tags
		}
		tags[k[0]] = r.Params.Get(fmt.Sprintf("Tags.Tag.%d.Value", i))
	}
}

// List returns the values of a list parameter serialized as
// prefix.N (e.g. "VpcSecurityGroupIds.VpcSecurityGroupId"), in order.
func (r Request) List(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := r.Params[fmt.Sprintf("%s.%d", prefix, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// Fault is an error the fake answers with, in RDS's error format.
type Fault struct {
	// HTTPStatus is the response status; default 400.
	HTTPStatus int
	// Code is the error code the SDK exposes as smithy.APIError.ErrorCode,
	// e.g. "Throttling", "DBInstanceNotFound".
	Code string
	// Message is the human-readable message.
	Message string
	// Type is "Sender" (default) or "Receiver".
	Type string
}

// Common faults for InjectFault.
var (
	// Throttling is what RDS answers when the API rate limit is hit.
	Throttling = Fault{HTTPStatus: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"}
	// InstanceQuotaExceeded is what RDS answers when the account may
	// create no more DB instances.
	InstanceQuotaExceeded = Fault{HTTPStatus: http.StatusBadRequest, Code: "InstanceQuotaExceeded", Message: "DB instance quota exceeded"}
	// InternalFailure is a server-side error.
	InternalFailure = Fault{HTTPStatus: http.StatusInternalServerError, Code: "InternalFailure", Message: "internal failure", Type: "Receiver"}
)

// New starts a fake RDS endpoint on the loopback interface. Close it when
// done.
func New() *Server {
	s := &Server{instances: map[string]*Instance{}, faults: map[string][]Fault{}, hooks: map[string][]func(){}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to use as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// Requests returns the requests received so far for action, in order; all
// requests when action is "".
func (s *Server) Requests(action string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if action == "" || r.Action == action {
			out = append(out, Request{Action: r.Action, Params: cloneValues(r.Params)})
		}
	}
	return out
}

// InjectFault makes the next call to action (e.g. "CreateDBInstance")
// answer with f instead of being processed; queued faults are used one per
// call, in order. The SDK retries throttling and 5xx faults on its own, so
// inject as many as the client's attempts to see one surface.
func (s *Server) InjectFault(action string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[action] = append(s.faults[action], f)
}

// OnNext runs fn when the next call to action arrives, before the fake
// processes it, to stage a race (another worker changing the instance
// between two of the client's calls). fn runs without the server's lock,
// so it may call the Server's methods. Hooks are used one per call.
func (s *Server) OnNext(action string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[action] = append(s.hooks[action], fn)
}

// Instance returns a copy of the instance with the given identifier.
func (s *Server) Instance(id string) (Instance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[id]
	if !ok {
		return Instance{}, false
	}
	return inst.clone(), true
}

// Put adds or replaces an instance, for tests that start from existing
// state. Empty Status defaults to "available".
func (s *Server) Put(inst Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst.Status == "" {
		inst.Status = StatusAvailable
	}
	c := inst.clone()
	s.instances[inst.Identifier] = &c
}

// SetStatus sets an instance's DBInstanceStatus, e.g. StatusAvailable to
// finish a creation or StatusFailed to fail it. It reports false when there
// is no such instance.
func (s *Server) SetStatus(id, status string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[id]
	if ok {
		inst.Status = status
	}
	return ok
}

// SetEndpoint points the reported endpoint of an instance at host and port,
// for example a private PostgreSQL server the test runs, so clients that
// connect to what Describe reports reach it. It reports false when there
// is no such instance.
func (s *Server) SetEndpoint(id, host string, port int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[id]
	if ok {
		inst.Host, inst.Port = host, port
	}
	return ok
}

// SetManagedSecrets makes CreateDBInstance with ManageMasterUserPassword
// call create(identifier, masterUsername) to create the instance's master
// secret, as RDS does in Secrets Manager, and report the ARN it returns as
// MasterUserSecret.SecretArn. smfake.Server.CreateManagedSecret fits. create
// runs with the fake's lock held: it must not call the Server's methods. An
// error answers the request with InternalFailure.
func (s *Server) SetManagedSecrets(create func(identifier, username string) (arn string, err error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.managedSecrets = create
}

// Remove forgets an instance, as RDS does when a deletion completes. It
// reports false when there was no such instance.
func (s *Server) Remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.instances[id]
	delete(s.instances, id)
	return ok
}

// Identifiers returns the identifiers of all instances, sorted.
func (s *Server) Identifiers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.instances))
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
