// Package routes maps a gateway's requests to the scope each needs: the
// --routes file of `apiscopes serve`, a YAML list of {method, path, scope}
// read by /v1/auth and Envoy's Check. Paths are compared in one canonical
// form (Clean), a route's path is a prefix on segment boundaries, the first
// route that matches wins, and a request no route matches has no scope: it
// is refused, never allowed by default.
package routes

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// ErrNoRoutes is a routes file that lists no route: every request would be
// refused, which is never what was meant.
var ErrNoRoutes = errors.New("no routes")

// LineError is a problem in a routes file, at a line of it.
type LineError struct {
	File string
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Route is one entry of the file: the methods it covers (none: any), the
// path prefix and the scope a request needs, and the line it was read from.
type Route struct {
	Methods []string
	Path    Path
	Scope   scopes.ID
	Line    int
}

// covers reports whether the route matches method. GET covers HEAD, as
// servers answer HEAD with GET's handler: a HEAD must not fall through to
// a weaker route.
func (r Route) covers(method string) bool {
	if len(r.Methods) == 0 {
		return true
	}
	return slices.Contains(r.Methods, method) || method == "HEAD" && slices.Contains(r.Methods, "GET")
}

// Map is a routes file's routes, in order.
type Map struct{ routes []Route }

// Routes returns the routes in the order they are tried.
func (m *Map) Routes() []Route { return slices.Clone(m.routes) }

// Match returns the first route that matches the request, and false when
// none does.
func (m *Map) Match(method string, p Path) (Route, bool) {
	for _, r := range m.routes {
		if r.covers(method) && p.HasPrefix(r.Path) {
			return r, true
		}
	}
	return Route{}, false
}

// maxRoutes bounds a routes file: matching is a walk down the list.
const maxRoutes = 1000

// Parse reads a routes file named name. It refuses, naming the line,
// anything it could misread: a member other than method, path and scope, a
// repeated member, an unknown scope, a method that is not an upper-case
// token, a path that is not already canonical (see Clean), and a route that
// an earlier one hides, since it could never match.
func Parse(name string, data []byte) (*Map, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &LineError{File: name, Msg: "not YAML: " + store.RedactKeys(err.Error())}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: %w: list routes as - {method: GET, path: /workflows, scope: workflow:export}", name, ErrNoRoutes)
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, &LineError{File: name, Line: list.Line, Msg: "expected a list of routes (- method: …, path: …, scope: …)"}
	}
	if len(list.Content) == 0 {
		return nil, fmt.Errorf("%s: %w: list routes as - {method: GET, path: /workflows, scope: workflow:export}", name, ErrNoRoutes)
	}
	if len(list.Content) > maxRoutes {
		return nil, &LineError{File: name, Line: list.Content[maxRoutes].Line, Msg: fmt.Sprintf("more than %d routes", maxRoutes)}
	}
	m := &Map{}
	for _, item := range list.Content {
		r, err := parseRoute(item)
		if err != nil {
			err.File = name
			return nil, err
		}
		for _, before := range m.routes {
			if hides(before, r) {
				return nil, &LineError{File: name, Line: r.Line, Msg: fmt.Sprintf(
					"this route never matches: the route on line %d comes first and matches every request it would; put the longer path first",
					before.Line)}
			}
		}
		m.routes = append(m.routes, r)
	}
	return m, nil
}

// parseRoute reads one {method, path, scope} mapping.
func parseRoute(n *yaml.Node) (Route, *LineError) {
	r := Route{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return r, &LineError{Line: n.Line, Msg: "a route is a mapping: {method: GET, path: /workflows, scope: workflow:export}"}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return r, &LineError{Line: k.Line, Msg: fmt.Sprintf("%q appears twice in one route", k.Value)}
		}
		seen[k.Value] = true
		var err *LineError
		switch k.Value {
		case "method":
			r.Methods, err = parseMethods(v)
		case "path":
			r.Path, err = parsePath(v)
		case "scope":
			r.Scope, err = parseScope(v)
		default:
			err = &LineError{Line: k.Line, Msg: fmt.Sprintf("unknown member %q: a route has method, path and scope", store.RedactKeys(k.Value))}
		}
		if err != nil {
			return r, err
		}
	}
	switch {
	case !seen["path"]:
		return r, &LineError{Line: n.Line, Msg: "this route has no path"}
	case !seen["scope"]:
		return r, &LineError{Line: n.Line, Msg: "this route has no scope: a request it matches must need one"}
	}
	return r, nil
}

// parseMethods reads one method, a list of them, or "*" (any method, as
// leaving method out does).
func parseMethods(v *yaml.Node) ([]string, *LineError) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
		if len(items) == 0 {
			return nil, &LineError{Line: v.Line, Msg: "an empty list of methods: leave method out, or write *, for any"}
		}
	}
	var methods []string
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || !token(it.Value) {
			return nil, &LineError{Line: it.Line, Msg: "a method is an upper-case word such as GET or POST, or * for any"}
		}
		if it.Value == "*" {
			if len(items) > 1 {
				return nil, &LineError{Line: it.Line, Msg: "* already means every method"}
			}
			return nil, nil
		}
		methods = append(methods, it.Value)
	}
	return methods, nil
}

// token: an HTTP method as written by clients, in upper case (methods are
// case-sensitive), or "*".
func token(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parsePath(v *yaml.Node) (Path, *LineError) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		return Path{}, &LineError{Line: v.Line, Msg: "a path is a string such as /workflows"}
	}
	if strings.ContainsAny(v.Value, "?#;") {
		return Path{}, &LineError{Line: v.Line, Msg: "a path without query, fragment or parameters (;): routes match on the path alone"}
	}
	p, err := Clean(v.Value)
	if err != nil {
		return Path{}, &LineError{Line: v.Line, Msg: "a path the server would refuse as a request: " + err.(*PathError).Why}
	}
	if s := p.String(); s != strings.TrimSuffix(v.Value, "/") && !(s == "/" && v.Value == "/") {
		return Path{}, &LineError{Line: v.Line, Msg: fmt.Sprintf("write the path as requests are compared to it: %s", store.RedactKeys(s))}
	}
	return p, nil
}

func parseScope(v *yaml.Node) (scopes.ID, *LineError) {
	if v.Kind != yaml.ScalarNode {
		return "", &LineError{Line: v.Line, Msg: "a scope is one of " + strings.Join(scopes.IDs(), ", ")}
	}
	id, err := scopes.Parse(v.Value)
	if err != nil {
		return "", &LineError{Line: v.Line, Msg: fmt.Sprintf("unknown scope %q; valid scopes: %s",
			store.RedactKeys(v.Value), strings.Join(scopes.IDs(), ", "))}
	}
	return id, nil
}

// hides reports whether a, listed first, matches every request b would.
func hides(a, b Route) bool {
	if !b.Path.HasPrefix(a.Path) {
		return false
	}
	if len(a.Methods) == 0 {
		return true
	}
	if len(b.Methods) == 0 {
		return false
	}
	for _, m := range b.Methods {
		if !a.covers(m) {
			return false
		}
	}
	return true
}
