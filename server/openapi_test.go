package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cmo-dev/cmo/playbooks"
	"github.com/cmo-dev/cmo/report"
	"github.com/cmo-dev/cmo/server"
	"github.com/cmo-dev/cmo/store"
	"github.com/cmo-dev/cmo/workflows"
)

// undocumented are the registered paths the document leaves out, under
// every method. /sandbox/* is the sandbox platform's own API, a stand-in
// for an external network with its own bearer tokens rather than part of
// cmo's API; it is mounted as a catch-all under every method Echo knows
// (PROPFIND and REPORT among them, which OpenAPI cannot describe).
var undocumented = map[string]bool{"/sandbox/*": true}

// quietLog keeps the tests' request logs out of their output.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func init() {
	// Text answers the document describes, so response validation reads
	// them as strings.
	for _, ct := range []string{"text/calendar", "text/markdown", "text/html"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// loadOpenAPI parses the embedded document and validates its structure;
// examples are TestOpenAPIExamplesMatchSchemas's, so that a bad example
// fails that test alone.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPI())
	require.NoError(t, err, "server/openapi.yaml does not load")
	if err := doc.Validate(loader.Context, openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("server/openapi.yaml is not a valid OpenAPI document: %s", firstLine(err))
	}
	return doc
}

// firstLine drops the schema dump that follows kin-openapi's message.
func firstLine(err error) string { return strings.SplitN(err.Error(), "\n", 2)[0] }

// briefError says where and why a value broke a schema, without the schema
// dumps kin-openapi's messages carry.
func briefError(err error) string {
	var multi openapi3.MultiError
	if errors.As(err, &multi) {
		parts := make([]string, len(multi))
		for i, e := range multi {
			parts[i] = briefError(e)
		}
		return strings.Join(parts, "; ")
	}
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) && re.Err != nil {
		return re.Reason + ": " + briefError(re.Err)
	}
	var rbe *openapi3filter.RequestError
	if errors.As(err, &rbe) && rbe.Err != nil {
		return rbe.Reason + ": " + briefError(rbe.Err)
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return "at /" + strings.Join(se.JSONPointer(), "/") + ": " + se.Reason
	}
	return err.Error()
}

// oasPath turns an Echo route path into an OpenAPI one (:id → {id}).
func oasPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// docOperations indexes the document's operations by "METHOD /path".
func docOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestOpenAPIDocumentIsValidAndServed(t *testing.T) {
	doc := loadOpenAPI(t)
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.0."), "the document is OpenAPI %s; keep it 3.0.x", doc.OpenAPI)
	// The whole document, examples included, as a client's tools see it.
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("server/openapi.yaml is not a valid OpenAPI document: %s", firstLine(err))
	}

	// Served without a key, as written.
	api := server.New(server.Deps{Store: testStore(t), Log: quietLog})
	rec := httptest.NewRecorder()
	api.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, "application/yaml", rec.Header().Get("Content-Type"))
	require.Equal(t, server.OpenAPI(), rec.Body.Bytes())
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	api := server.New(server.Deps{Store: testStore(t)})
	ops := docOperations(doc)
	registered := map[string]bool{}
	excluded := map[string]bool{}
	var undocumentedRoutes []string
	for _, r := range api.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if undocumented[path] {
			excluded[path] = true
			continue
		}
		key := method + " " + oasPath(path)
		registered[key] = true
		if ops[key] == nil {
			undocumentedRoutes = append(undocumentedRoutes, key)
		}
	}
	for path := range undocumented {
		require.True(t, excluded[path], "%s is left out of the document but is no longer registered: drop it from undocumented", path)
	}
	var unregistered []string
	for key := range ops {
		if !registered[key] {
			unregistered = append(unregistered, key)
		}
	}
	sort.Strings(undocumentedRoutes)
	sort.Strings(unregistered)
	if len(undocumentedRoutes) > 0 {
		t.Errorf("registered routes missing from server/openapi.yaml:\n  %s", strings.Join(undocumentedRoutes, "\n  "))
	}
	if len(unregistered) > 0 {
		t.Errorf("server/openapi.yaml documents routes that are not registered:\n  %s", strings.Join(unregistered, "\n  "))
	}
}

// TestOpenAPIRolesAgreeWithAccess checks each operation's security, roles
// and public reason against the access table, and that every keyed route
// documents the answers the guard gives.
func TestOpenAPIRolesAgreeWithAccess(t *testing.T) {
	doc := loadOpenAPI(t)
	require.Equal(t, openapi3.SecurityRequirements{{"apiKey": []string{}}}, doc.Security, "the API key must be the global default")
	scheme := doc.Components.SecuritySchemes["apiKey"]
	require.NotNil(t, scheme, "components.securitySchemes.apiKey is missing")
	require.Equal(t, "http", scheme.Value.Type)
	require.Equal(t, "bearer", scheme.Value.Scheme)

	api := server.New(server.Deps{Store: testStore(t)})
	ops := docOperations(doc)
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, key+": "+fmt.Sprintf(format, args...))
	}
	for _, r := range api.Access() {
		if undocumented[r.Path] {
			continue
		}
		key := r.Method + " " + oasPath(r.Path)
		op := ops[key]
		if op == nil {
			continue // TestOpenAPICoversEveryRoute reports it
		}
		public, _ := op.Extensions["x-cmo-public"].(string)
		roles := extensionStrings(op.Extensions["x-cmo-roles"])
		if r.Public != "" {
			if op.Security == nil || len(*op.Security) != 0 {
				bad(key, "public route must have security: []")
			}
			if public != r.Public {
				bad(key, "x-cmo-public is %q, the access table says %q", public, r.Public)
			}
			if roles != nil {
				bad(key, "public route must not list x-cmo-roles")
			}
			continue
		}
		if op.Security != nil {
			bad(key, "keyed route must use the global security, not its own")
		}
		if public != "" {
			bad(key, "x-cmo-public is set but the access table gives roles %v", r.Roles)
		}
		want := make([]string, len(r.Roles))
		for i, role := range r.Roles {
			want[i] = string(role)
		}
		if !slices.Equal(roles, want) {
			bad(key, "x-cmo-roles is %v, the access table says %v", roles, want)
		}
		if line := "Roles: " + strings.Join(want, ", ") + "."; !strings.Contains(op.Description, line) {
			bad(key, "description must say %q", line)
		}
		// The guard's own answers: no or a bad key, a role or brand it
		// may not use, over the rate limit, the key store unreachable.
		for _, code := range []int{401, 403, 429, 503} {
			if op.Responses.Status(code) == nil {
				bad(key, "keyed route must document %d", code)
			}
		}
		if tooMany := op.Responses.Status(429); tooMany != nil && tooMany.Value.Headers["Retry-After"] == nil {
			bad(key, "429 must carry the Retry-After header")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("server/openapi.yaml disagrees with the access table (server/access.go):\n  %s", strings.Join(problems, "\n  "))
	}
}

// problemExceptions are the error answers that are not problem
// documents: a playbook's positioned errors, and readiness's checks.
var problemExceptions = map[string]bool{
	"POST /v1/playbooks/validate 422": true,
	"GET /readyz 503":                 true,
}

// TestOpenAPIErrorAnswers checks that operations document the error
// answers the shared code gives: problem documents for every error, 500
// on every /v1 route, and 400, 413 and 422 wherever a JSON body is read.
func TestOpenAPIErrorAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	var problems []string
	for key, op := range docOperations(doc) {
		for code, resp := range op.Responses.Map() {
			if code[0] != '4' && code[0] != '5' || problemExceptions[key+" "+code] {
				continue
			}
			var types []string
			for ct := range resp.Value.Content {
				types = append(types, ct)
			}
			if !slices.Equal(types, []string{"application/problem+json"}) {
				problems = append(problems, fmt.Sprintf("%s %s: error answers are application/problem+json only, not %v", key, code, types))
			}
		}
		_, path, _ := strings.Cut(key, " ")
		if strings.HasPrefix(path, "/v1/") && op.Responses.Status(500) == nil {
			problems = append(problems, key+": must document 500")
		}
		if op.RequestBody != nil && op.RequestBody.Value.Content.Get("application/json") != nil {
			for _, code := range []int{400, 413, 422} {
				if op.Responses.Status(code) == nil {
					problems = append(problems, fmt.Sprintf("%s: reads a JSON body, so must document %d", key, code))
				}
			}
		}
	}
	// Every problem type the package can answer is one clients are told of.
	documented := map[string]bool{}
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["type"].Value.Enum {
		documented[v.(string)] = true
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range problemType.FindAllString(string(src), -1) {
			if typ := strings.Trim(m, `"`); !documented[typ] {
				problems = append(problems, fmt.Sprintf("%s: problem type %s is not in the Problem schema's enum", f, typ))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("error answers in server/openapi.yaml:\n  %s", strings.Join(problems, "\n  "))
	}
}

var problemType = regexp.MustCompile(`"urn:cmo:problem:[a-z-]+"`)

func extensionStrings(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := []string{}
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// mainOperations must carry examples for their body and every answer.
var mainOperations = []string{
	"POST /v1/campaigns",
	"POST /v1/campaigns/{id}/approvals",
	"GET /v1/campaigns/{id}",
	"POST /v1/mentions",
	"POST /v1/crises/{id}/ack",
	"POST /v1/crises/{id}/resolve",
	"POST /v1/crises/{id}/statement",
	"POST /v1/inbox/{id}/reply",
	"POST /v1/keys",
	"GET /v1/audit",
	"PUT /v1/brands/{brand}/listening",
}

// TestOpenAPIExamplesMatchSchemas validates every example against its
// schema, and checks that the main operations and every problem answer
// have examples.
func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	var problems []string
	seen := 0
	check := func(where string, schema *openapi3.SchemaRef, example any) {
		seen++
		if schema == nil || schema.Value == nil {
			problems = append(problems, where+": example without a schema")
			return
		}
		if err := schema.Value.VisitJSON(example, openapi3.EnableFormatValidation(), openapi3.MultiErrors()); err != nil {
			problems = append(problems, where+": "+briefError(err))
		}
	}
	examples := func(mt *openapi3.MediaType) []any {
		var out []any
		if mt.Example != nil {
			out = append(out, mt.Example)
		}
		for _, ex := range mt.Examples {
			if ex != nil && ex.Value != nil {
				out = append(out, ex.Value.Value)
			}
		}
		return out
	}
	checkContent := func(where string, content openapi3.Content, needed bool) {
		for ct, mt := range content {
			exs := examples(mt)
			if len(exs) == 0 && (needed || ct == "application/problem+json") {
				problems = append(problems, fmt.Sprintf("%s %s: no example", where, ct))
			}
			for i, ex := range exs {
				check(fmt.Sprintf("%s %s example %d", where, ct, i), mt.Schema, ex)
			}
		}
	}
	ops := docOperations(doc)
	for key, op := range ops {
		main := slices.Contains(mainOperations, key)
		if op.RequestBody != nil {
			checkContent(key+" request", op.RequestBody.Value.Content, main)
		}
		for code, resp := range op.Responses.Map() {
			checkContent(key+" "+code, resp.Value.Content, main)
			for name, h := range resp.Value.Headers {
				if h.Value.Example != nil {
					check(key+" "+code+" header "+name, h.Value.Schema, h.Value.Example)
				}
			}
		}
		for _, p := range op.Parameters {
			if p.Value.Example != nil {
				check(key+" parameter "+p.Value.Name, p.Value.Schema, p.Value.Example)
			}
		}
	}
	for name, resp := range doc.Components.Responses {
		checkContent("components.responses."+name, resp.Value.Content, true)
	}
	for name, p := range doc.Components.Parameters {
		if p.Value.Example != nil {
			check("components.parameters."+name, p.Value.Schema, p.Value.Example)
		}
	}
	for _, key := range mainOperations {
		if ops[key] == nil {
			problems = append(problems, key+": main operation is not documented")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("examples in server/openapi.yaml:\n  %s", strings.Join(problems, "\n  "))
	}
	require.Greater(t, seen, 50, "too few examples were checked; is the walk broken?")
}

// apiCheck sends requests to a running API and validates both the
// request and the answer against the document, so the document and the
// handlers cannot drift apart unnoticed.
type apiCheck struct {
	t    *testing.T
	doc  *openapi3.T
	base string
	// invalid marks requests that break the document on purpose, to see
	// the error answer: only the answer is checked.
	invalid bool
}

// bad is the check for requests that break the document on purpose.
func (a apiCheck) bad() apiCheck { a.invalid = true; return a }

// call sends method to path (which may carry a query), checks it against
// the operation at tmpl, and returns the status and body.
func (a apiCheck) call(method, tmpl, path, contentType, body string, header ...string) (int, []byte) {
	t := a.t
	t.Helper()
	item := a.doc.Paths.Value(tmpl)
	require.NotNil(t, item, "%s is not in the document", tmpl)
	op := item.GetOperation(method)
	require.NotNil(t, op, "%s %s is not in the document", method, tmpl)
	u, err := url.Parse(a.base + path)
	require.NoError(t, err)
	params := templateParams(tmpl, u.Path)
	route := &routers.Route{Spec: a.doc, Path: tmpl, PathItem: item, Method: method, Operation: op}

	newReq := func() *http.Request {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, u.String(), r)
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return req
	}
	in := &openapi3filter.RequestValidationInput{Request: newReq(), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if !a.invalid {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Fatalf("%s %s: the request does not match the document: %s", method, path, briefError(err))
		}
	}

	req := newReq()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s answered %d, which does not match the document: %s\n%s", method, path, resp.StatusCode, briefError(err), raw)
	}
	// Schemas accept fields they do not name, so a field the handler adds
	// without documenting it would pass; look for those too.
	if ref := op.Responses.Status(resp.StatusCode); ref != nil && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		mt := ref.Value.Content.Get(resp.Header.Get("Content-Type"))
		var v any
		require.NoError(t, json.Unmarshal(raw, &v))
		var extra []string
		if mt != nil && mt.Schema != nil {
			undeclared(mt.Schema.Value, v, "", &extra)
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			t.Fatalf("%s %s answered %d with fields the document does not describe: %s\n%s", method, path, resp.StatusCode,
				strings.Join(extra, ", "), raw)
		}
	}
	return resp.StatusCode, raw
}

// undeclared lists the fields of v, at any depth, that schema s does not
// name. Objects that declare no properties, or say additionalProperties,
// are open.
func undeclared(s *openapi3.Schema, v any, at string, out *[]string) {
	if s == nil {
		return
	}
	// Of alternatives, follow the one the value matches.
	for _, alt := range s.OneOf {
		if alt.Value.VisitJSON(v) == nil {
			undeclared(alt.Value, v, at, out)
			return
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props := map[string]*openapi3.SchemaRef{}
		for name, p := range s.Properties {
			props[name] = p
		}
		for _, part := range s.AllOf {
			for name, p := range part.Value.Properties {
				props[name] = p
			}
		}
		addl := s.AdditionalProperties
		open := len(props) == 0 || addl.Schema != nil || (addl.Has != nil && *addl.Has)
		for name, x := range v {
			switch p, ok := props[name]; {
			case ok:
				undeclared(p.Value, x, at+"/"+name, out)
			case addl.Schema != nil:
				undeclared(addl.Schema.Value, x, at+"/"+name, out)
			case !open:
				*out = append(*out, at+"/"+name)
			}
		}
	case []any:
		if s.Items != nil {
			for i, x := range v {
				undeclared(s.Items.Value, x, fmt.Sprintf("%s/%d", at, i), out)
			}
		}
	}
}

// templateParams reads the {params} of tmpl from path.
func templateParams(tmpl, path string) map[string]string {
	out := map[string]string{}
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	for i, s := range ts {
		if i < len(ps) && strings.HasPrefix(s, "{") {
			v, _ := url.PathUnescape(ps[i])
			out[strings.Trim(s, "{}")] = v
		}
	}
	return out
}

// oasTemporal stands in for Temporal with workflows in believable
// states, so that the answers built from workflow state are checked too:
// campaign "spring-launch" waits for approval, crisis workflows answer a
// crisis state, and every update succeeds.
type oasTemporal struct {
	client.Client
	mu      sync.Mutex
	started map[string]bool
}

var oasNow = time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC)

type oasRun struct{ client.WorkflowRun }

func (oasRun) GetID() string    { return "wf" }
func (oasRun) GetRunID() string { return "0195a3c2-7d41-7b8e-9f10-2c3d4e5f6a7b" }

func (f *oasTemporal) ExecuteWorkflow(_ context.Context, opts client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started[opts.ID] {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "")
	}
	f.started[opts.ID] = true
	return oasRun{}, nil
}

func (f *oasTemporal) SignalWithStartWorkflow(context.Context, string, string, any, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	return oasRun{}, nil
}

func (f *oasTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}

func (f *oasTemporal) SignalWorkflow(context.Context, string, string, string, any) error { return nil }

func oasPayload(v string) *commonpb.Payload {
	p, _ := converter.GetDefaultDataConverter().ToPayload(v)
	return p
}

func (f *oasTemporal) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	attrs := map[string]*commonpb.Payload{"Brand": oasPayload("acme")}
	switch {
	case id == workflows.CampaignWorkflowID("spring-launch"):
		attrs["Status"] = oasPayload(workflows.StatusAwaitingApproval)
	case strings.HasPrefix(id, "crisis:"):
		attrs["Status"], attrs["Severity"] = oasPayload("acknowledged"), oasPayload("high")
	default:
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution:        &commonpb.WorkflowExecution{WorkflowId: id, RunId: "r1"},
		Status:           enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime:        timestamppb.New(oasNow.Add(-time.Hour)),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: attrs},
	}}, nil
}

func (f *oasTemporal) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	d, _ := f.DescribeWorkflowExecution(context.Background(), workflows.CampaignWorkflowID("spring-launch"), "")
	info := d.WorkflowExecutionInfo
	info.Memo = &commonpb.Memo{Fields: map[string]*commonpb.Payload{"title": oasPayload("First campaign — Acme")}}
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{info}, NextPageToken: []byte{1}}, nil
}

// oasValue is a query answer or an update result, passed through JSON
// as Temporal's data converter would.
type oasValue struct{ v any }

func (v oasValue) HasValue() bool { return v.v != nil }

func (v oasValue) Get(ptr any) error {
	if ptr == nil {
		return nil
	}
	raw, err := json.Marshal(v.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, ptr)
}

func (f *oasTemporal) QueryWorkflow(_ context.Context, id, _, _ string, _ ...any) (converter.EncodedValue, error) {
	switch {
	case id == workflows.CampaignWorkflowID("spring-launch"):
		return oasValue{campaignState()}, nil
	case strings.HasPrefix(id, "crisis:"):
		return oasValue{crisisState()}, nil
	}
	return nil, serviceerror.NewNotFound("workflow not found")
}

type oasUpdate struct {
	client.WorkflowUpdateHandle
	result any
}

func (u oasUpdate) Get(_ context.Context, ptr any) error { return oasValue{u.result}.Get(ptr) }

func (f *oasTemporal) UpdateWorkflow(_ context.Context, opts client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if req, ok := opts.Args[0].(workflows.ApprovalRequest); ok {
		return oasUpdate{result: workflows.ApprovalResult{StepID: "review", Decision: req.Decision, Actor: req.Actor,
			Comment: req.Comment, ContentHash: "9c1f0e5b2a7d", At: oasNow}}, nil
	}
	return oasUpdate{}, nil
}

func campaignState() workflows.CampaignState {
	started := oasNow.Add(-time.Hour)
	return workflows.CampaignState{CampaignID: "spring-launch", Brand: "acme", Playbook: "first-campaign", PlaybookHash: "5e0c2f4d",
		Title: "First campaign", Status: workflows.StatusAwaitingApproval, CurrentStep: "review",
		Steps: []workflows.StepState{
			{ID: "draft", Kind: "content", Status: workflows.StepDone, StartedAt: &started, EndedAt: &started},
			{ID: "review", Kind: "approval", Status: workflows.StepRunning, StartedAt: &started},
		},
		Content: map[string]workflows.ContentState{"draft": {Hash: "9c1f0e5b2a7d",
			Rendered: []playbooks.Rendered{{ChannelID: "ch_acme_main", Channel: "main", Platform: "sandbox", Text: "Acme Rocket Skates is here!"}}}},
	}
}

func crisisState() workflows.CrisisState {
	acked := oasNow.Add(-50 * time.Minute)
	return workflows.CrisisState{CrisisID: "cr1", Brand: "acme", Playbook: "negative-spike", Title: "Negative sentiment spike",
		Scope: "brand", Status: "acknowledged", Severity: "high", OpenedAt: oasNow.Add(-time.Hour), Tier: 1,
		Pages:   []workflows.Page{{Tier: 1, Round: 1, Targets: []string{"slack:community-oncall"}, At: oasNow.Add(-time.Hour)}},
		AckedBy: "pat@acme.example", AckedAt: &acked, Frozen: true,
		Statements: []workflows.StatementVersion{{Version: 1, Text: "We hear you.", At: oasNow.Add(-time.Hour), By: "template", Hash: "7d3f9a0c"}},
		Events:     []workflows.Event{{At: acked, Kind: workflows.EventAck, Actor: "pat@acme.example", Detail: "acknowledged 10m0s after detection"}},
	}
}

// exampleBody is the document's example of an operation's JSON request body.
func exampleBody(t *testing.T, doc *openapi3.T, method, tmpl string) string {
	t.Helper()
	op := doc.Paths.Value(tmpl).GetOperation(method)
	mt := op.RequestBody.Value.Content.Get("application/json")
	require.NotNil(t, mt, "%s %s has no JSON body", method, tmpl)
	v := mt.Example
	for _, ex := range mt.Examples {
		if v == nil {
			v = ex.Value.Value
		}
	}
	require.NotNil(t, v, "%s %s has no example body", method, tmpl)
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

// TestOpenAPIMatchesHandlers sends requests, the main operations' example
// bodies among them, to the API and checks every request and answer
// against the document.
func TestOpenAPIMatchesHandlers(t *testing.T) {
	doc := loadOpenAPI(t)
	st := testStore(t)
	lib, err := playbooks.Shipped()
	require.NoError(t, err)
	ctx := context.Background()
	api := server.New(server.Deps{Store: st, Playbooks: lib, Temporal: &oasTemporal{started: map[string]bool{}}, Now: func() time.Time { return oasNow },
		Log: quietLog, RateLimit: -1})
	keyed := apiCheck{t: t, doc: doc, base: serveAPI(t, st, api.Handler()).URL}
	raw := httptest.NewServer(api.Handler())
	t.Cleanup(raw.Close)
	bare := apiCheck{t: t, doc: doc, base: raw.URL}
	expect := func(want int) func(int, []byte) {
		return func(got int, body []byte) {
			t.Helper()
			require.Equal(t, want, got, "%s", body)
		}
	}
	const js = "application/json"

	// Public routes and the guard's answers.
	expect(200)(bare.call("GET", "/healthz", "/healthz", "", ""))
	expect(200)(bare.call("GET", "/openapi.yaml", "/openapi.yaml", "", ""))
	expect(200)(bare.call("GET", "/metrics", "/metrics", "", ""))
	expect(200)(bare.call("GET", "/readyz", "/readyz", "", ""))
	expect(401)(bare.call("GET", "/v1/whoami", "/v1/whoami", "", ""))
	expect(401)(bare.bad().call("GET", "/v1/whoami", "/v1/whoami", "", "", "Authorization", "Bearer cmo_unknown"))
	expect(404)(bare.call("GET", "/l/{code}", "/l/nope", "", ""))
	expect(401)(bare.bad().call("GET", "/v1/calendar.ics", "/v1/calendar.ics", "", ""))
	expect(401)(bare.call("POST", "/v1/hooks/mentions/{source}", "/v1/hooks/mentions/nobody", js, "[]",
		"X-Cmo-Timestamp", "1773218520", "X-Cmo-Signature", "v1=00"))

	// Access and playbooks.
	expect(200)(keyed.call("GET", "/v1/whoami", "/v1/whoami", "", ""))
	expect(200)(keyed.call("GET", "/v1/playbooks", "/v1/playbooks", "", ""))
	expect(200)(keyed.call("GET", "/v1/playbooks/{name}", "/v1/playbooks/negative-spike", "", ""))
	expect(404)(keyed.call("GET", "/v1/playbooks/{name}", "/v1/playbooks/no-such-playbook", "", ""))
	expect(200)(keyed.call("POST", "/v1/playbooks/validate", "/v1/playbooks/validate", "application/yaml",
		"apiVersion: cmo/v1\nkind: Campaign\nname: tiny\nsteps:\n  - id: report\n    report: {}\n"))
	expect(422)(keyed.call("POST", "/v1/playbooks/validate", "/v1/playbooks/validate?file=bad.yaml", "application/yaml",
		"apiVersion: cmo/v1\nkind: Campaign\nname: Not A Name\n"))

	// Brands, channels, routes.
	expect(201)(keyed.call("POST", "/v1/brands", "/v1/brands", js, exampleBody(t, doc, "POST", "/v1/brands")))
	expect(422)(keyed.bad().call("POST", "/v1/brands", "/v1/brands", js, `{"id":"Acme!","name":"Acme"}`))
	expect(422)(keyed.bad().call("POST", "/v1/brands", "/v1/brands", js, `{"id":"acme","name":"Acme","colour":"red"}`))
	expect(201)(keyed.call("POST", "/v1/brands/{brand}/channels", "/v1/brands/acme/channels", js,
		`{"name":"main","platform":"sandbox","handle":"acme","credentials":{"token":"sandbox-token"}}`))
	expect(200)(keyed.call("GET", "/v1/brands", "/v1/brands", "", ""))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/channels", "/v1/brands/acme/channels", "", ""))
	expect(404)(keyed.call("GET", "/v1/brands/{brand}/channels", "/v1/brands/nobody/channels", "", ""))
	expect(200)(keyed.call("POST", "/v1/channels/{id}/disable", "/v1/channels/ch_acme_main/disable", "", ""))
	expect(200)(keyed.call("POST", "/v1/channels/{id}/enable", "/v1/channels/ch_acme_main/enable", "", ""))
	expect(201)(keyed.call("PUT", "/v1/brands/{brand}/routes/{target}", "/v1/brands/acme/routes/slack:press", js,
		exampleBody(t, doc, "PUT", "/v1/brands/{brand}/routes/{target}")))
	for _, want := range []int{201, 200} { // made, then replaced
		expect(want)(keyed.call("PUT", "/v1/brands/{brand}/routes/{target}", "/v1/brands/acme/routes/email:press", js,
			`{"addresses":["press@acme.example"]}`))
	}
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/routes", "/v1/brands/acme/routes", "", ""))
	expect(204)(keyed.call("DELETE", "/v1/brands/{brand}/routes/{target}", "/v1/brands/acme/routes/slack:press", "", ""))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/notifications", "/v1/brands/acme/notifications?status=pending", "", ""))

	// Keys and the audit trail.
	expect(201)(keyed.call("POST", "/v1/keys", "/v1/keys", js, exampleBody(t, doc, "POST", "/v1/keys")))
	expect(400)(keyed.bad().call("POST", "/v1/keys", "/v1/keys", js, `{"actor":`))
	expect(200)(keyed.call("GET", "/v1/keys", "/v1/keys", "", ""))
	expect(404)(keyed.call("DELETE", "/v1/keys/{id}", "/v1/keys/key_000000000000", "", ""))
	expect(200)(keyed.call("GET", "/v1/audit", "/v1/audit?brand=acme&limit=10", "", ""))
	expect(422)(keyed.bad().call("GET", "/v1/audit", "/v1/audit?since=yesterday", "", ""))

	// Campaigns, through the stand-in Temporal.
	expect(201)(keyed.call("POST", "/v1/campaigns", "/v1/campaigns", js, exampleBody(t, doc, "POST", "/v1/campaigns")))
	expect(409)(keyed.call("POST", "/v1/campaigns", "/v1/campaigns", js, exampleBody(t, doc, "POST", "/v1/campaigns")))
	expect(422)(keyed.call("POST", "/v1/campaigns", "/v1/campaigns", js, `{"brand":"acme","playbook":"first-campaign","params":{"colour":"red"}}`))
	expect(200)(keyed.call("GET", "/v1/campaigns", "/v1/campaigns?brand=acme", "", ""))
	expect(200)(keyed.call("GET", "/v1/campaigns/{id}", "/v1/campaigns/spring-launch", "", ""))
	expect(404)(keyed.call("GET", "/v1/campaigns/{id}", "/v1/campaigns/spring-lunch", "", ""))
	expect(200)(keyed.call("POST", "/v1/campaigns/{id}/approvals", "/v1/campaigns/spring-launch/approvals", js,
		exampleBody(t, doc, "POST", "/v1/campaigns/{id}/approvals")))
	expect(404)(keyed.call("GET", "/v1/campaigns/{id}/report", "/v1/campaigns/spring-launch/report", "", ""))
	rep, err := json.Marshal(report.Report{CampaignID: "spring-launch", Brand: "acme", Playbook: "first-campaign", GeneratedAt: oasNow})
	require.NoError(t, err)
	require.NoError(t, st.SaveReport(ctx, "spring-launch", "acme", "first-campaign", rep))
	for _, format := range []string{"json", "markdown", "html"} {
		expect(200)(keyed.call("GET", "/v1/campaigns/{id}/report", "/v1/campaigns/spring-launch/report?format="+format, "", ""))
	}
	_, err = st.EnsureTrackedLink(ctx, store.TrackedLink{Code: "k3Xa9Q", CampaignID: "spring-launch", BrandID: "acme",
		ChannelID: "ch_acme_main", Target: "https://acme.example/skates", Destination: "https://acme.example/skates?utm_campaign=spring-launch"})
	require.NoError(t, err)
	expect(302)(bare.call("GET", "/l/{code}", "/l/k3Xa9Q", "", ""))
	expect(200)(keyed.call("GET", "/v1/campaigns/{id}/links", "/v1/campaigns/spring-launch/links", "", ""))
	expect(201)(keyed.call("POST", "/v1/campaigns/{id}/costs", "/v1/campaigns/spring-launch/costs", js,
		exampleBody(t, doc, "POST", "/v1/campaigns/{id}/costs")))
	expect(200)(keyed.call("GET", "/v1/campaigns/{id}/costs", "/v1/campaigns/spring-launch/costs", "", ""))
	expect(201)(keyed.call("POST", "/v1/campaigns/{id}/conversions", "/v1/campaigns/spring-launch/conversions", js,
		exampleBody(t, doc, "POST", "/v1/campaigns/{id}/conversions")))
	expect(200)(keyed.call("GET", "/v1/calendar", "/v1/calendar?brand=acme", "", ""))
	expect(200)(keyed.call("GET", "/v1/calendar/tokens", "/v1/calendar/tokens", "", ""))
	code, body := keyed.call("POST", "/v1/calendar/tokens", "/v1/calendar/tokens", js, exampleBody(t, doc, "POST", "/v1/calendar/tokens"))
	expect(201)(code, body)
	var tok struct{ ID, Feed string }
	require.NoError(t, json.Unmarshal(body, &tok))
	expect(200)(bare.call("GET", "/v1/calendar.ics", tok.Feed, "", ""))
	expect(204)(keyed.call("DELETE", "/v1/calendar/tokens/{id}", "/v1/calendar/tokens/"+tok.ID, "", ""))

	// Listening and mentions.
	expect(200)(keyed.call("PUT", "/v1/brands/{brand}/listening", "/v1/brands/acme/listening", js,
		exampleBody(t, doc, "PUT", "/v1/brands/{brand}/listening")))
	expect(422)(keyed.call("PUT", "/v1/brands/{brand}/listening", "/v1/brands/acme/listening", js, `{"crisis_playbooks":["first-campaign"]}`))
	expect(200)(keyed.call("PUT", "/v1/brands/{brand}/inbox/setup", "/v1/brands/acme/inbox/setup", js,
		exampleBody(t, doc, "PUT", "/v1/brands/{brand}/inbox/setup")))
	expect(200)(keyed.call("POST", "/v1/mentions", "/v1/mentions", js, exampleBody(t, doc, "POST", "/v1/mentions")))
	expect(200)(keyed.call("POST", "/v1/mentions", "/v1/mentions?brand=acme", "text/csv",
		"source,external_id,text,created_at\nforum,f-1,Where can I buy the skates?,2026-03-11T08:50:00Z\n"))
	expect(422)(keyed.bad().call("POST", "/v1/mentions", "/v1/mentions", js, `[{"brand":"acme","source":"forum","text":"hi","created_at":"2026-03-11T08:50:00Z"}]`))
	expect(200)(keyed.call("GET", "/v1/mentions", "/v1/mentions?brand=acme&sentiment=negative", "", ""))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/listening", "/v1/brands/acme/listening", "", ""))
	expect(201)(keyed.call("POST", "/v1/brands/{brand}/sources", "/v1/brands/acme/sources", js,
		exampleBody(t, doc, "POST", "/v1/brands/{brand}/sources")))
	expect(200)(keyed.call("POST", "/v1/simulations", "/v1/simulations", js, exampleBody(t, doc, "POST", "/v1/simulations")))
	expect(422)(keyed.bad().call("POST", "/v1/simulations", "/v1/simulations", js, `{"playbook":"negative-spike","mentions":[]}`))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/influencers", "/v1/brands/acme/influencers", "", ""))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/influencers/{handle}", "/v1/brands/acme/influencers/"+
		url.PathEscape("@skater@mastodon.example"), "", ""))
	expect(200)(keyed.call("GET", "/v1/sandbox/posts", "/v1/sandbox/posts?limit=5", "", ""))

	// Customer care: the negative mention above opened an item, whose
	// workflow has not started in this test.
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/inbox/setup", "/v1/brands/acme/inbox/setup", "", ""))
	expect(200)(keyed.call("GET", "/v1/brands/{brand}/inbox/kpis", "/v1/brands/acme/inbox/kpis", "", ""))
	code, body = keyed.call("GET", "/v1/brands/{brand}/inbox", "/v1/brands/acme/inbox?status=active", "", "")
	expect(200)(code, body)
	var inbox struct{ Items []struct{ ID string } }
	require.NoError(t, json.Unmarshal(body, &inbox))
	require.NotEmpty(t, inbox.Items, "the example mentions should open an inbox item: %s", body)
	item := "/v1/inbox/" + inbox.Items[0].ID
	expect(200)(keyed.call("GET", "/v1/inbox/{id}", item, "", ""))
	expect(409)(keyed.call("POST", "/v1/inbox/{id}/reply", item+"/reply", js, exampleBody(t, doc, "POST", "/v1/inbox/{id}/reply")))

	// Crises, through the stand-in Temporal.
	_, err = st.RecordCrisis(ctx, store.Crisis{ID: "cr1", Brand: "acme", Playbook: "negative-spike", Scope: "brand",
		WorkflowID: "crisis:acme:negative-spike", RunID: "r1", OpenedAt: oasNow.Add(-time.Hour)})
	require.NoError(t, err)
	expect(200)(keyed.call("GET", "/v1/crises", "/v1/crises?brand=acme&status=open", "", ""))
	expect(200)(keyed.call("GET", "/v1/crises/{id}", "/v1/crises/cr1", "", ""))
	expect(404)(keyed.call("GET", "/v1/crises/{id}", "/v1/crises/cr2", "", ""))
	expect(200)(keyed.call("GET", "/v1/crises/{id}/timeline", "/v1/crises/cr1/timeline", "", ""))
	for _, d := range []string{"ack", "resolve", "statement", "escalate", "deescalate", "freeze"} {
		tmpl := "/v1/crises/{id}/" + d
		expect(200)(keyed.call("POST", tmpl, "/v1/crises/cr1/"+d, js, exampleBody(t, doc, "POST", tmpl)))
	}

	// The rate limit's answer.
	limited := server.New(server.Deps{Store: st, Playbooks: lib, Log: quietLog, RateLimit: 0.001, RateBurst: 1})
	slow := apiCheck{t: t, doc: doc, base: serveAPI(t, st, limited.Handler()).URL}
	expect(200)(slow.call("GET", "/v1/whoami", "/v1/whoami", "", ""))
	expect(429)(slow.call("GET", "/v1/whoami", "/v1/whoami", "", ""))
}
