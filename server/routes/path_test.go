package routes

import (
	"errors"
	"strings"
	"testing"
)

// TestClean: a request path is compared in one canonical form, and every
// trick that could make two servers read one path differently is refused.
func TestClean(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/", "/"},
		{"/admin", "/admin"},
		{"/admin/", "/admin"},
		{"/admin?x=/public", "/admin"},
		{"/admin#/public", "/admin"},
		{"//admin//users///", "/admin/users"},
		{"/public/../admin", "/admin"},
		{"/public/%2e%2e/admin", "/admin"},
		{"/public/%2E./admin", "/admin"},
		{"/./admin/.", "/admin"},
		{"/%61dmin", "/admin"},
		{"/a%7eb%2d%5F", "/a~b-_"},
		{"/a%3bb", "/a%3Bb"},
		{"/a%3Bb", "/a%3Bb"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/a;b/c", "/a;b/c"},
		{"/a/b/..", "/a"},
		{"/..a/b..", "/..a/b.."},
	} {
		p, err := Clean(tt.in)
		if err != nil || p.String() != tt.want {
			t.Errorf("Clean(%q) = %q, %v; want %q", tt.in, p, err, tt.want)
		}
	}
	for _, in := range []string{
		"", "admin", "*", "http://h/admin",
		"/public%2Fadmin", "/public%2fadmin", "/public%5Cadmin", "/public\\admin",
		"/a%00", "/a\x00", "/a%0a", "/a b", "/a\tb", "/a\x7f",
		"/..", "/../admin", "/a/../../admin", "/%2e%2e/admin",
		"/public/..;/admin", "/public/.;x/admin",
		"/a%", "/a%2", "/a%zz", "/a%%32%65",
	} {
		_, err := Clean(in)
		if !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("Clean(%q) = %v, want ErrAmbiguousPath", in, err)
			continue
		}
		if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("Clean(%q): the error repeats the path: %v", in, err)
		}
	}
}

// TestPrefixOnSegments: a prefix matches whole segments only.
func TestPrefixOnSegments(t *testing.T) {
	p := func(s string) Path {
		t.Helper()
		c, err := Clean(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		path, prefix string
		want         bool
	}{
		{"/admin", "/admin", true},
		{"/admin/users", "/admin", true},
		{"/administrator", "/admin", false},
		{"/admin", "/admin/users", false},
		{"/anything", "/", true},
		{"/", "/", true},
		{"/Admin", "/admin", false},
		{"/admin;jsessionid=1/users", "/admin/users", true},
		{"/admin%3Bx", "/admin", false},
	} {
		if got := p(tt.path).HasPrefix(p(tt.prefix)); got != tt.want {
			t.Errorf("%s has prefix %s = %v, want %v", tt.path, tt.prefix, got, tt.want)
		}
	}
}

// FuzzClean: Clean never panics; what it accepts is canonical (cleaning it
// again gives itself) and holds no dot segment, empty segment, backslash or
// control character.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"/", "/public/../admin", "/%2e%2e/x", "//a//b", "/a%2Fb", "/caf\xc3\xa9", "/a;b/..;/c", "/a%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Clean(in)
		if err != nil {
			return
		}
		s := p.String()
		again, err := Clean(s)
		if err != nil || again.String() != s {
			t.Fatalf("Clean(%q) = %q, which cleans to %q, %v", in, s, again, err)
		}
		for _, seg := range p.segs {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\\x00") {
				t.Fatalf("Clean(%q) = %q holds segment %q", in, s, seg)
			}
		}
	})
}
