package restapi

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tenantfleet/tenantfleet/agents/alerts"
	"github.com/tenantfleet/tenantfleet/agents/batch"
	"github.com/tenantfleet/tenantfleet/agents/cost"
	"github.com/tenantfleet/tenantfleet/agents/intake"
	"github.com/tenantfleet/tenantfleet/agents/migrate"
	"github.com/tenantfleet/tenantfleet/agents/offboard"
	"github.com/tenantfleet/tenantfleet/agents/operators"
	"github.com/tenantfleet/tenantfleet/agents/provision"
	"github.com/tenantfleet/tenantfleet/infra/controlplane"
	"github.com/tenantfleet/tenantfleet/infra/controlplane/cptest"
	"github.com/tenantfleet/tenantfleet/infra/httpapi"
	"github.com/tenantfleet/tenantfleet/queue"
)

// openAPIPath is the committed API description.
const openAPIPath = "../../docs/openapi.yaml"

// node is a decoded YAML mapping.
type node = map[string]any

// loadOpenAPI parses docs/openapi.yaml.
func loadOpenAPI(t *testing.T) node {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var doc node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi version %q, want 3.x", v)
	}
	return doc
}

// child returns n[key] as a mapping, failing the test when it is not one.
func child(t *testing.T, n node, key string) node {
	t.Helper()
	c, ok := n[key].(node)
	if !ok {
		t.Fatalf("%q is not a mapping in %v", key, n)
	}
	return c
}

// resolve follows a local $ref ("#/components/schemas/Tenant").
func resolve(t *testing.T, doc, n node) node {
	t.Helper()
	ref, ok := n["$ref"].(string)
	if !ok {
		return n
	}
	cur := doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		next, ok := cur[part].(node)
		if !ok {
			t.Fatalf("$ref %s does not resolve", ref)
		}
		cur = next
	}
	return cur
}

// documentedRoutes returns every operation of the document as a Go mux
// pattern ("GET /api/v1/tenants/{id}").
func documentedRoutes(t *testing.T, doc node) []string {
	t.Helper()
	var out []string
	for path, item := range child(t, doc, "paths") {
		for method, op := range item.(node) {
			if !slices.Contains([]string{"get", "put", "post", "delete", "patch", "head", "options"}, method) {
				continue
			}
			out = append(out, strings.ToUpper(method)+" "+path)
			checkPathParameters(t, doc, path, op.(node))
		}
	}
	slices.Sort(out)
	return out
}

// checkPathParameters checks that op declares every {wildcard} of path as
// a required path parameter, and no other.
func checkPathParameters(t *testing.T, doc node, path string, op node) {
	t.Helper()
	var want, got []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			want = append(want, strings.Trim(seg, "{}"))
		}
	}
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		p := resolve(t, doc, p.(node))
		if p["in"] == "path" {
			if p["required"] != true {
				t.Errorf("%s: path parameter %v is not required", path, p["name"])
			}
			got = append(got, p["name"].(string))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: path parameters %v, want %v", path, got, want)
	}
}

// TestOpenAPIDocumentsEveryRoute: the routes Register mounts under /api/v1
// are exactly the documented operations, both ways.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	srv, err := httpapi.New(httpapi.Config{Addr: "127.0.0.1:0", Token: token, Logger: cptest.DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// Registration needs only non-nil dependencies; nothing is called.
	New(Config{
		Catalog: (*controlplane.Store)(nil), Onboarding: (*intake.Intake)(nil),
		Offboarding: (*offboard.Outbox)(nil), Migrations: (*migrate.Runner)(nil),
		Alerts: (*alerts.Engine)(nil), Cost: (*controlplane.Store)(nil), CostApply: cost.Applier{}, CostAnalyze: cost.Requester{},
		Isolation: (*provision.Agent)(nil), Batch: BatchSource{}, Health: (*controlplane.Store)(nil),
		Schedule: (*queue.Scheduler)(nil), Operators: (*operators.Service)(nil),
	}).Register(srv)
	var served []string
	for _, p := range srv.Routes() {
		if strings.Contains(p, " /api/v1/") {
			served = append(served, p)
		}
	}
	slices.Sort(served)
	documented := documentedRoutes(t, doc)
	for _, p := range served {
		if !slices.Contains(documented, p) {
			t.Errorf("route %s is served but not in %s", p, openAPIPath)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("%s documents %s, which is not served", openAPIPath, p)
		}
	}
	if len(served) != 36 {
		t.Errorf("served %d /api/v1 routes, want 36: %v", len(served), served)
	}
}

// schemaTypes pairs every object schema of the document with the Go type
// the API encodes or decodes for it. response: the API writes it, so a
// field without omitempty is always present and must be required.
var schemaTypes = map[string]struct {
	typ      reflect.Type
	response bool
}{
	"Tenant":                {reflect.TypeFor[TenantJSON](), true},
	"TenantList":            {reflect.TypeFor[TenantListJSON](), true},
	"Instance":              {reflect.TypeFor[InstanceJSON](), true},
	"InstanceList":          {reflect.TypeFor[InstanceListJSON](), true},
	"OnboardRequest":        {reflect.TypeFor[OnboardRequestBody](), false},
	"Onboarding":            {reflect.TypeFor[OnboardingJSON](), true},
	"OnboardingAccepted":    {reflect.TypeFor[OnboardingAcceptedJSON](), true},
	"OffboardRequest":       {reflect.TypeFor[OffboardRequestBody](), false},
	"Offboarding":           {reflect.TypeFor[OffboardingJSON](), true},
	"OffboardingAccepted":   {reflect.TypeFor[OffboardingAcceptedJSON](), true},
	"MigrationStart":        {reflect.TypeFor[MigrationStartBody](), false},
	"MigrationStarted":      {reflect.TypeFor[MigrationStartedJSON](), true},
	"MigrationRun":          {reflect.TypeFor[MigrationRunJSON](), true},
	"MigrationThresholds":   {reflect.TypeFor[MigrationThresholds](), true},
	"MigrationCounts":       {reflect.TypeFor[MigrationCounts](), true},
	"MigrationTenant":       {reflect.TypeFor[MigrationTenantJSON](), true},
	"MigrationRetried":      {reflect.TypeFor[MigrationRetriedJSON](), true},
	"EmptyObject":           {reflect.TypeFor[struct{}](), false},
	"Error":                 {reflect.TypeFor[ErrorJSON](), true},
	"Alert":                 {reflect.TypeFor[alerts.Alert](), true},
	"AlertList":             {reflect.TypeFor[AlertListJSON](), true},
	"AckRequest":            {reflect.TypeFor[AckRequestBody](), false},
	"Silence":               {reflect.TypeFor[alerts.Silence](), true},
	"SilenceList":           {reflect.TypeFor[SilenceListJSON](), true},
	"SilenceRequest":        {reflect.TypeFor[SilenceRequestBody](), false},
	"InvalidRequest":        {reflect.TypeFor[InvalidRequestJSON](), true},
	"Recommendation":        {reflect.TypeFor[RecommendationJSON](), true},
	"RecommendationApplied": {reflect.TypeFor[RecommendationAppliedJSON](), true},
	"RecommendationList":    {reflect.TypeFor[RecommendationListJSON](), true},
	"CostReport":            {reflect.TypeFor[CostReportJSON](), true},
	"CostAnalysisQueued":    {reflect.TypeFor[CostAnalysisQueuedJSON](), true},
	"CostAnalysisStatus":    {reflect.TypeFor[cost.AnalysisStatus](), true},
	"NotRetryable":          {reflect.TypeFor[NotRetryableJSON](), true},
	"IsolationRequest":      {reflect.TypeFor[IsolationRequestBody](), false},
	"BatchUpcoming":         {reflect.TypeFor[batch.Upcoming](), true},
	"BatchUpcomingList":     {reflect.TypeFor[BatchUpcomingListJSON](), true},
	"BatchRun":              {reflect.TypeFor[controlplane.BatchRun](), true},
	"BatchRunList":          {reflect.TypeFor[BatchRunListJSON](), true},
	"InstanceHealth":        {reflect.TypeFor[controlplane.InstanceHealth](), true},
	"TenantHealth":          {reflect.TypeFor[controlplane.TenantHealth](), true},
	"Drain":                 {reflect.TypeFor[controlplane.Drain](), true},
	"Health":                {reflect.TypeFor[HealthJSON](), true},
	"ScheduleEntry":         {reflect.TypeFor[queue.EntryInfo](), true},
	"Schedule":              {reflect.TypeFor[ScheduleJSON](), true},
	"User":                  {reflect.TypeFor[UserJSON](), true},
	"UserList":              {reflect.TypeFor[UserListJSON](), true},
	"UserRequest":           {reflect.TypeFor[UserRequestBody](), false},
	"Token":                 {reflect.TypeFor[TokenJSON](), true},
	"TokenList":             {reflect.TypeFor[TokenListJSON](), true},
	"TokenRequest":          {reflect.TypeFor[TokenRequestBody](), false},
	"TokenCreated":          {reflect.TypeFor[TokenCreatedJSON](), true},
}

// jsonField is one field of a Go struct as encoding/json writes it.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, jsonField{name: name, omitempty: strings.Contains(opts, "omitempty"), typ: f.Type})
	}
	return out
}

// openAPIType is the OpenAPI type of a Go type as encoding/json writes it.
func openAPIType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "string"
	case t == reflect.TypeFor[json.RawMessage]():
		return "object" // the JSON objects the API stores and returns as they are
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice:
		return "array"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return "object"
	}
	return "unknown " + t.String()
}

// TestOpenAPISchemasMatchViews: each object schema's properties are the
// JSON fields of its Go type, both ways, with matching types; a response
// schema requires exactly the fields always written.
func TestOpenAPISchemasMatchViews(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	schemas := child(t, child(t, doc, "components"), "schemas")
	for name, s := range schemas {
		if _, ok := schemaTypes[name]; !ok && s.(node)["type"] == "object" {
			t.Errorf("schema %s has no Go type in schemaTypes", name)
		}
	}
	for name, st := range schemaTypes {
		s, ok := schemas[name].(node)
		if !ok {
			t.Errorf("schema %s is missing from %s", name, openAPIPath)
			continue
		}
		props, _ := s["properties"].(node)
		fields := jsonFields(st.typ)
		var wantRequired []string
		for _, f := range fields {
			p, ok := props[f.name].(node)
			if !ok {
				t.Errorf("%s: field %s of %s is not a property", name, f.name, st.typ)
				continue
			}
			if got, want := resolve(t, doc, p)["type"], openAPIType(f.typ); got != want {
				t.Errorf("%s.%s: type %v, want %s (from %s)", name, f.name, got, want, f.typ)
			}
			if f.typ.Kind() == reflect.Pointer && f.typ.Elem() != reflect.TypeFor[time.Time]() && !f.omitempty && p["nullable"] != true {
				t.Errorf("%s.%s: written as null when unset, but not nullable", name, f.name)
			}
			if !f.omitempty {
				wantRequired = append(wantRequired, f.name)
			}
		}
		for prop := range props {
			if !slices.ContainsFunc(fields, func(f jsonField) bool { return f.name == prop }) {
				t.Errorf("%s: property %s is no field of %s", name, prop, st.typ)
			}
		}
		if !st.response {
			continue
		}
		var required []string
		for _, r := range s["required"].([]any) {
			required = append(required, r.(string))
		}
		slices.Sort(required)
		slices.Sort(wantRequired)
		if !slices.Equal(required, wantRequired) {
			t.Errorf("%s: required %v, want the fields without omitempty %v", name, required, wantRequired)
		}
	}
}

// TestOpenAPIRefsResolve: every $ref of the document points somewhere.
func TestOpenAPIRefsResolve(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch v := v.(type) {
		case node:
			if _, ok := v["$ref"]; ok {
				resolve(t, doc, v)
				n++
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Fatal("no $ref found: the document did not parse as expected")
	}
}
