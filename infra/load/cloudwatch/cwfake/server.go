// Package cwfake is an in-process fake of the Amazon CloudWatch metrics
// API, so tests exercise the real aws-sdk-go-v2 CloudWatch client end to
// end.
//
// It speaks the wire protocol the current SDK uses for CloudWatch
// (smithy.protocols rpcv2Cbor, AWS-query-compatible): a CBOR POST to
// /service/GraniteServiceVersion20100801/operation/<Operation> with the
// Smithy-Protocol: rpc-v2-cbor header, answered in CBOR; errors carry
// __type and message in the body and the query error code in the
// X-Amzn-Query-Error header. It implements GetMetricData over datapoints
// the test puts, records every request, and injects faults. It does not
// check signatures, and it returns the datapoints as put, whatever the
// Stat and Period asked for.
package cwfake

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// pathPrefix is where the SDK sends operations.
const pathPrefix = "/service/GraniteServiceVersion20100801/operation/"

// Server is a running fake CloudWatch endpoint. It is safe for concurrent
// use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	points   map[series][]point
	requests []Request
	faults   []Fault
}

type series struct{ namespace, metric, instance string }

type point struct {
	at    time.Time
	value float64
}

// Request is one API call the fake received.
type Request struct {
	// Operation is e.g. "GetMetricData".
	Operation string
	// Body is the decoded CBOR input: maps are map[string]any, lists
	// []any, numbers int64 or float64, timestamps time.Time.
	Body map[string]any
	// Header holds the request headers.
	Header http.Header
}

// Fault is an error the fake answers with.
type Fault struct {
	// HTTPStatus is the response status; default 400.
	HTTPStatus int
	// Code is the AWS query error code, e.g. "Throttling".
	Code string
	// Message is the human-readable message.
	Message string
}

// Throttling is CloudWatch's rate-limit error.
var Throttling = Fault{HTTPStatus: http.StatusBadRequest, Code: "Throttling", Message: "Rate exceeded"}

// New starts a fake CloudWatch endpoint on the loopback interface. Close
// it when done.
func New() *Server {
	s := &Server{points: map[series][]point{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to use as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// PutRDS records a datapoint of an AWS/RDS metric (e.g. "CPUUtilization",
// "ReplicaLag") for the DB instance identifier.
func (s *Server) PutRDS(instance, metric string, at time.Time, value float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := series{"AWS/RDS", metric, instance}
	s.points[k] = append(s.points[k], point{at, value})
}

// InjectFault makes the next call answer with f; queued faults are used
// one per call, in order.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.URL.Path, pathPrefix)
	if r.Method != http.MethodPost || !ok || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		writeError(w, Fault{HTTPStatus: http.StatusBadRequest, Code: "InvalidAction", Message: "want an rpc-v2-cbor POST to " + pathPrefix + "<Operation>"})
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, Fault{Code: "MalformedInput", Message: err.Error()})
		return
	}
	body := map[string]any{}
	if len(raw) > 0 {
		v, err := cbor.Decode(raw)
		if err != nil {
			writeError(w, Fault{Code: "SerializationException", Message: err.Error()})
			return
		}
		m, ok := plain(v).(map[string]any)
		if !ok {
			writeError(w, Fault{Code: "SerializationException", Message: "input is not a map"})
			return
		}
		body = m
	}

	s.mu.Lock()
	s.requests = append(s.requests, Request{Operation: op, Body: body, Header: r.Header.Clone()})
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		s.mu.Unlock()
		writeError(w, f)
		return
	}
	var out cbor.Map
	var fault *Fault
	switch op {
	case "GetMetricData":
		out, fault = s.getMetricData(body)
	default:
		fault = &Fault{Code: "InvalidAction", Message: "operation " + op + " is not implemented by cwfake"}
	}
	s.mu.Unlock()

	if fault != nil {
		writeError(w, *fault)
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(cbor.Encode(out))
}

// getMetricData answers with s.mu held.
func (s *Server) getMetricData(in map[string]any) (cbor.Map, *Fault) {
	start, _ := in["StartTime"].(time.Time)
	end, _ := in["EndTime"].(time.Time)
	if start.IsZero() || end.IsZero() || !start.Before(end) {
		return nil, &Fault{Code: "InvalidParameterValue", Message: "StartTime must be before EndTime"}
	}
	desc := in["ScanBy"] == "TimestampDescending"
	queries, _ := in["MetricDataQueries"].([]any)
	if len(queries) == 0 {
		return nil, &Fault{Code: "MissingParameter", Message: "MetricDataQueries is required"}
	}
	results := cbor.List{}
	for _, q := range queries {
		qm, _ := q.(map[string]any)
		id, _ := qm["Id"].(string)
		k, err := seriesOf(qm)
		if err != "" {
			return nil, &Fault{Code: "InvalidParameterValue", Message: fmt.Sprintf("query %q: %s", id, err)}
		}
		var pts []point
		for _, p := range s.points[k] {
			if !p.at.Before(start) && p.at.Before(end) {
				pts = append(pts, p)
			}
		}
		sort.Slice(pts, func(i, j int) bool {
			if desc {
				return pts[i].at.After(pts[j].at)
			}
			return pts[i].at.Before(pts[j].at)
		})
		ts, vs := cbor.List{}, cbor.List{}
		for _, p := range pts {
			ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(p.at.UnixMilli()) / 1e3)})
			vs = append(vs, cbor.Float64(p.value))
		}
		results = append(results, cbor.Map{
			"Id":         cbor.String(id),
			"Label":      cbor.String(k.metric),
			"StatusCode": cbor.String("Complete"),
			"Timestamps": ts,
			"Values":     vs,
		})
	}
	return cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}, nil
}

// seriesOf reads MetricStat.Metric of a query; it returns a reason when
// the query is not one the fake understands.
func seriesOf(q map[string]any) (series, string) {
	stat, _ := q["MetricStat"].(map[string]any)
	metric, _ := stat["Metric"].(map[string]any)
	if metric == nil {
		return series{}, "only MetricStat queries are supported"
	}
	if _, ok := stat["Period"].(int64); !ok {
		return series{}, "MetricStat.Period is required"
	}
	if s, _ := stat["Stat"].(string); s == "" {
		return series{}, "MetricStat.Stat is required"
	}
	k := series{}
	k.namespace, _ = metric["Namespace"].(string)
	k.metric, _ = metric["MetricName"].(string)
	dims, _ := metric["Dimensions"].([]any)
	for _, d := range dims {
		dm, _ := d.(map[string]any)
		if dm["Name"] == "DBInstanceIdentifier" {
			k.instance, _ = dm["Value"].(string)
		}
	}
	if k.namespace == "" || k.metric == "" {
		return series{}, "Namespace and MetricName are required"
	}
	return k, ""
}

// writeError answers in the rpcv2Cbor error format of an
// AWS-query-compatible service.
func writeError(w http.ResponseWriter, f Fault) {
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusBadRequest
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-Query-Error", f.Code+";"+fault)
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{
		"__type":  cbor.String("com.amazonaws.cloudwatch#" + f.Code),
		"message": cbor.String(f.Message),
	}))
}

// plain converts a decoded CBOR value to ordinary Go values.
func plain(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = plain(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plain(e)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Uint:
		return int64(v)
	case cbor.NegInt:
		return -int64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case cbor.Slice:
		return []byte(v)
	case *cbor.Tag:
		if t, err := cbor.AsTime(v); err == nil {
			return t.UTC()
		}
		return plain(v.Value)
	default:
		return nil
	}
}
