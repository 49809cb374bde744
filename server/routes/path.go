package routes

import (
	"errors"
	"strings"
)

// ErrAmbiguousPath is a request path that two servers could read as two
// different paths: an encoded "/" or "\", a raw "\", a NUL or another
// control character, a bad percent-encoding, a dot segment above the root or
// one carrying parameters ("..;"). Such a path is refused, never matched,
// so that no upstream can be reached through a route that is not its own.
var ErrAmbiguousPath = errors.New("ambiguous path")

// PathError says why a path was refused, without repeating it: a request
// path is the client's text and may hold anything.
type PathError struct{ Why string }

func (e *PathError) Error() string { return "ambiguous path: " + e.Why }
func (e *PathError) Unwrap() error { return ErrAmbiguousPath }

func ambiguous(why string) error { return &PathError{Why: why} }

// Path is a request path in its one canonical form: its segments, with
// unreserved characters decoded, every other escape in upper case, empty and
// "." segments gone and ".." resolved.
type Path struct{ segs []string }

// String is the canonical path, "/" and the segments joined by "/".
func (p Path) String() string { return "/" + strings.Join(p.segs, "/") }

// Clean reads the path of a request target (what nginx's $request_uri,
// Traefik's and Caddy's X-Forwarded-Uri, or Envoy's :path hold) as an
// upstream would: the query and fragment are dropped, percent-escapes of
// unreserved characters (RFC 3986: letters, digits, "-", ".", "_", "~")
// decoded and the others written in upper case, non-ASCII bytes escaped,
// "//" collapsed, "." and ".." segments resolved (RFC 3986, 5.2.4). Whatever
// two servers could read differently is refused with ErrAmbiguousPath.
func Clean(target string) (Path, error) {
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	if !strings.HasPrefix(target, "/") {
		return Path{}, ambiguous("the path does not start with /")
	}
	var segs []string
	var seg strings.Builder
	end := func() error {
		s := seg.String()
		seg.Reset()
		name, _, params := strings.Cut(s, ";")
		switch {
		case name == "." || name == "..":
			if params {
				return ambiguous("a dot segment with parameters (..;)")
			}
			if name == ".." {
				if len(segs) == 0 {
					return ambiguous("a dot segment above the root")
				}
				segs = segs[:len(segs)-1]
			}
		case s != "":
			segs = append(segs, s)
		}
		return nil
	}
	for i := 1; i < len(target); i++ {
		c := target[i]
		switch {
		case c == '/':
			if err := end(); err != nil {
				return Path{}, err
			}
			continue
		case c == '%':
			if i+2 >= len(target) || unhex(target[i+1]) < 0 || unhex(target[i+2]) < 0 {
				return Path{}, ambiguous("a bad percent-escape")
			}
			c = byte(unhex(target[i+1])<<4 | unhex(target[i+2]))
			i += 2
			switch {
			case c == '/' || c == '\\':
				return Path{}, ambiguous(`an encoded "/" or "\"`)
			case c < 0x20 || c == 0x7f:
				return Path{}, ambiguous("an encoded NUL or control character")
			case unreserved(c):
				seg.WriteByte(c)
			default:
				escape(&seg, c)
			}
			continue
		case c == '\\':
			return Path{}, ambiguous(`a "\" in the path`)
		case c <= 0x20 || c == 0x7f:
			return Path{}, ambiguous("a NUL, space or control character")
		case c >= 0x80:
			escape(&seg, c)
			continue
		}
		seg.WriteByte(c)
	}
	if err := end(); err != nil {
		return Path{}, err
	}
	return Path{segs: segs}, nil
}

// HasPrefix reports whether prefix's segments begin p: "/admin" is a prefix
// of "/admin" and "/admin/users", never of "/administrator"; "/" is a
// prefix of every path. A segment's parameters (";…", which some servers
// drop) are left out of the comparison, so "/admin;x" is under "/admin".
func (p Path) HasPrefix(prefix Path) bool {
	if len(prefix.segs) > len(p.segs) {
		return false
	}
	for i, s := range prefix.segs {
		if name, _, _ := strings.Cut(p.segs[i], ";"); name != s {
			return false
		}
	}
	return true
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func escape(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&15])
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
