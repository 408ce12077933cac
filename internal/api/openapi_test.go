package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// openapiDoc is the part of the OpenAPI document the tests read.
type openapiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Parameters  []map[string]any           `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func loadDoc(t *testing.T) (openapiDoc, map[string]any) {
	t.Helper()
	var doc openapiDoc
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(OpenAPI, &raw); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc, raw
}

// resolve follows a local $ref ("#/components/schemas/Job").
func resolve(t *testing.T, raw map[string]any, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = raw
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cm, _ := cur.(map[string]any)
			cur = cm[part]
		}
		if cur == nil {
			t.Fatalf("openapi.json: $ref %s does not resolve", ref)
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// TestOpenAPIDocument checks the document's own consistency: version,
// unique operation ids, every $ref resolves, every operation has responses.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc, raw := loadDoc(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["$ref"]; ok {
				resolve(t, raw, x)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(raw)
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		for m, body := range item {
			if !slices.Contains(httpMethods, m) {
				continue
			}
			var op operation
			if err := json.Unmarshal(body, &op); err != nil {
				t.Fatalf("%s %s: %v", m, path, err)
			}
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s %s: operationId %q missing or repeated", m, path, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) == 0 {
				t.Errorf("%s %s: no responses", m, path)
			}
		}
	}
}

// TestOpenAPIMatchesRoutes walks every documented path and method against
// a real server on a SQLite store: each must be served (no 404 or 405 from
// routing) and answer a documented status with a body that has the
// documented required fields; and every served route must be documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.server(Auth{})
	a, err := New(Options{Service: f.svc})
	if err != nil {
		t.Fatal(err)
	}
	doc, raw := loadDoc(t)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(httpMethods, m) {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range a.Routes() {
		key := rt.Method + " " + rt.Pattern
		served[key] = true
		if !documented[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}

	keys := make([]string, 0, len(documented))
	for k := range documented {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		method, path, _ := strings.Cut(key, " ")
		if !served[key] {
			t.Errorf("openapi.json documents %s, which no route serves", key)
		}
		var op operation
		if err := json.Unmarshal(doc.Paths[path][strings.ToLower(method)], &op); err != nil {
			t.Fatal(err)
		}
		url := srv.URL + strings.NewReplacer("{name}", "backup", "{id}", strconv.FormatInt(f.queued, 10)).Replace(path)
		if strings.HasSuffix(path, "/runs/{id}/cancel") {
			url = srv.URL + fmt.Sprintf("/api/v1/runs/%d/cancel", f.running) // still cancelable
		}
		if strings.HasPrefix(path, Prefix+"/backfills/{id}") {
			b, err := f.svc.Backfill(context.Background(), "backup", BackfillRequest{From: "1h", To: "45m"})
			if err != nil {
				t.Fatal(err)
			}
			url = srv.URL + strings.Replace(path, "{id}", strconv.FormatInt(b.ID, 10), 1)
		}
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 404 || resp.StatusCode == 405 {
			t.Errorf("%s (%s): %d %s", key, url, resp.StatusCode, body)
			continue
		}
		code := strconv.Itoa(resp.StatusCode)
		respDoc, ok := op.Responses[code]
		if !ok {
			t.Errorf("%s answered %d, which openapi.json does not document", key, resp.StatusCode)
			continue
		}
		var rd map[string]any
		if err := json.Unmarshal(respDoc, &rd); err != nil {
			t.Fatal(err)
		}
		rd = resolve(t, raw, rd)
		content, _ := rd["content"].(map[string]any)
		js, _ := content["application/json"].(map[string]any)
		if js == nil {
			continue
		}
		var got any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body is not JSON: %v", key, err)
			continue
		}
		checkRequired(t, raw, key, js["schema"], got)
	}
}

// checkRequired checks that got has the required properties of schema,
// recursively through objects and arrays.
func checkRequired(t *testing.T, raw map[string]any, where string, schema, got any) {
	t.Helper()
	s := resolve(t, raw, schema)
	if s == nil {
		return
	}
	switch v := got.(type) {
	case map[string]any:
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				t.Errorf("%s: body lacks required %q", where, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for name, ps := range props {
			if c, ok := v[name]; ok && c != nil {
				checkRequired(t, raw, where+"."+name, ps, c)
			}
		}
		for name := range v {
			if props != nil && props[name] == nil {
				t.Errorf("%s: body has undocumented field %q", where, name)
			}
		}
	case []any:
		if len(v) > 0 {
			checkRequired(t, raw, where+"[0]", s["items"], v[0])
		}
	}
}

// TestOpenAPIRunQueryParams keeps the documented filters of GET /runs equal
// to the ones ParseRunQuery accepts.
func TestOpenAPIRunQueryParams(t *testing.T) {
	t.Parallel()
	_, raw := loadDoc(t)
	paths := raw["paths"].(map[string]any)
	get := paths["/api/v1/runs"].(map[string]any)["get"].(map[string]any)
	var names []string
	for _, p := range get["parameters"].([]any) {
		pm := resolve(t, raw, p)
		if pm["in"] == "query" {
			names = append(names, pm["name"].(string))
		}
	}
	sort.Strings(names)
	want := slices.Clone(RunQueryParams)
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("documented /runs parameters %v, ParseRunQuery accepts %v", names, want)
	}
}
