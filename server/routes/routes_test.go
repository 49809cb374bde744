package routes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/scopes"
)

const sample = `# the workflows service and the models service
- method: GET
  path: /workflows/export
  scope: workflow:export
- method: [POST, PUT]
  path: /workflows
  scope: workflow:deploy
- method: DELETE
  path: /workflows
  scope: workflow:undeploy
- path: /models
  scope: model:deploy
- method: GET
  path: /
  scope: workflow:export
`

func mustParse(t *testing.T, text string) *Map {
	t.Helper()
	m, err := Parse("routes.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFirstMatchWins: the first route whose methods and path prefix match
// gives the scope; a request that matches none has none.
func TestFirstMatchWins(t *testing.T) {
	m := mustParse(t, sample)
	for _, tt := range []struct {
		method, path string
		want         scopes.ID // "": no route
	}{
		{"GET", "/workflows/export/42", scopes.WorkflowExport},
		{"HEAD", "/workflows/export", scopes.WorkflowExport},
		{"POST", "/workflows/export", scopes.WorkflowDeploy},
		{"PUT", "/workflows", scopes.WorkflowDeploy},
		{"DELETE", "/workflows/7", scopes.WorkflowUndeploy},
		{"PATCH", "/workflows/7", ""},
		{"PATCH", "/models/x", scopes.ModelDeploy},
		{"GET", "/modelsx", scopes.WorkflowExport},
		{"POST", "/modelsx", ""},
		{"GET", "/anything", scopes.WorkflowExport},
		{"get", "/anything", ""},
		{"POST", "/", ""},
	} {
		p, err := Clean(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := m.Match(tt.method, p)
		if ok != (tt.want != "") || r.Scope != tt.want {
			t.Errorf("%s %s: route %+v %v, want scope %q", tt.method, tt.path, r, ok, tt.want)
		}
	}
}

// TestRoutesFileRefusals: a routes file with anything that could be
// misread is refused, naming its line.
func TestRoutesFileRefusals(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		line       int
		says       string
	}{
		{"unknown scope", "- path: /a\n  scope: workflow:deploy\n- path: /b\n  scope: model:explode\n", 4, "unknown scope"},
		{"no scope", "- path: /a\n  method: GET\n", 1, "no scope"},
		{"no path", "- scope: model:deploy\n", 1, "no path"},
		{"unknown member", "- path: /a\n  scope: model:deploy\n  scopes: model:export\n", 3, "unknown member"},
		{"repeated member", "- path: /a\n  scope: model:deploy\n  scope: model:export\n", 3, "twice"},
		{"lower-case method", "- method: get\n  path: /a\n  scope: model:deploy\n", 1, "upper-case"},
		{"empty methods", "- method: []\n  path: /a\n  scope: model:deploy\n", 1, "empty list"},
		{"star among methods", "- method: [GET, '*']\n  path: /a\n  scope: model:deploy\n", 1, "every method"},
		{"relative path", "- path: admin\n  scope: model:deploy\n", 1, "start with /"},
		{"dot segments", "- path: /a/../b\n  scope: model:deploy\n", 1, "write the path as requests are compared to it: /b"},
		{"encoded slash", "- path: /a%2Fb\n  scope: model:deploy\n", 1, "encoded"},
		{"query", "- path: /a?x=1\n  scope: model:deploy\n", 1, "query"},
		{"parameters", "- path: /a;b\n  scope: model:deploy\n", 1, "parameters"},
		{"number path", "- path: 12\n  scope: model:deploy\n", 1, "string"},
		{"hidden by a shorter prefix", "- path: /workflows\n  scope: workflow:export\n- method: POST\n  path: /workflows/deploy\n  scope: workflow:deploy\n", 3, "line 1 comes first"},
		{"hidden by the same methods", "- method: [GET, POST]\n  path: /a\n  scope: model:deploy\n- method: POST\n  path: /a/b\n  scope: model:export\n", 4, "line 1"},
		{"HEAD hidden by GET", "- method: GET\n  path: /a\n  scope: model:deploy\n- method: HEAD\n  path: /a\n  scope: model:export\n", 4, "line 1"},
		{"not a list", "path: /a\nscope: model:deploy\n", 1, "list of routes"},
		{"not a mapping", "- /a\n", 1, "mapping"},
		{"not YAML", "- path: [\n", 0, "not YAML"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("routes.yaml", []byte(tt.text))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a LineError", err)
			}
			if tt.line != 0 && le.Line != tt.line {
				t.Errorf("line %d, want %d: %v", le.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.says) || !strings.HasPrefix(err.Error(), "routes.yaml:") {
				t.Errorf("err = %v, want it to say %q after the file's name", err, tt.says)
			}
		})
	}
	for _, text := range []string{"", "# nothing\n", "[]\n"} {
		if _, err := Parse("routes.yaml", []byte(text)); !errors.Is(err, ErrNoRoutes) {
			t.Errorf("%q: err = %v, want ErrNoRoutes", text, err)
		}
	}
	if _, err := Parse("routes.yaml", []byte("- path: /a\n  scope: aps_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000\n")); err == nil ||
		strings.Contains(err.Error(), "AAAAAAAAAAAA") {
		t.Errorf("a key-shaped scope is repeated: %v", err)
	}
}

// TestReloadKeepsTheLastGoodRoutes: Reload puts an edited file in force,
// and a file turned bad leaves the routes in force as they were.
func TestReloadKeepsTheLastGoodRoutes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("- path: /a\n  scope: model:deploy\n")
	tab, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Clean("/a")
	scope := func() scopes.ID { r, _ := tab.Match("GET", a); return r.Scope }
	if scope() != scopes.ModelDeploy {
		t.Fatal(scope())
	}
	write("- path: /a\n  scope: model:export\n")
	if err := tab.Reload(); err != nil || scope() != scopes.ModelExport {
		t.Fatalf("after reload: %v, %s", err, scope())
	}
	write("- path: /a\n  scope: model:nope\n")
	if err := tab.Reload(); err == nil || !strings.Contains(err.Error(), "routes.yaml:2") || scope() != scopes.ModelExport {
		t.Fatalf("a bad file: %v, %s", err, scope())
	}
	os.Remove(path)
	if err := tab.Reload(); err == nil || scope() != scopes.ModelExport {
		t.Fatalf("a missing file: %v, %s", err, scope())
	}
	if _, err := Open(path); err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
}
