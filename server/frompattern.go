package server

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// hostPatterns is the pattern list of an authorized_keys from= option, as
// sshd reads it: comma-separated patterns, each an address, a CIDR network
// (192.0.2.0/24, 2001:db8::/32) or a wildcard pattern (* and ?), any of
// them negated with a leading "!". A client is allowed when at least one
// pattern matches its address and no negated one does.
//
// Names are not looked up, as with sshd's default UseDNS no: a pattern is
// matched against the client's address, so a host-name pattern such as
// *.example.com matches no one (and "*" everyone).
type hostPatterns []hostPattern

type hostPattern struct {
	negated bool
	prefix  netip.Prefix // valid for an address or network
	glob    string       // otherwise: a wildcard pattern, lower case
}

// parseHostPatterns reads a from= value. As sshd, it refuses an empty
// pattern and a network whose address has bits beyond its mask
// (192.0.2.1/24); it also refuses what looks like a network but is not one
// (10.0.0.0/33), which sshd would keep as a pattern that matches nothing.
func parseHostPatterns(list string) (hostPatterns, error) {
	if list == "" {
		return nil, errors.New("from= is empty")
	}
	var out hostPatterns
	for _, p := range strings.Split(list, ",") {
		var hp hostPattern
		hp.negated = strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		switch {
		case p == "":
			return nil, fmt.Errorf("from=%q has an empty pattern", list)
		case strings.Contains(p, "/"):
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("from= pattern %q is not a network (address/bits)", p)
			}
			if prefix.Masked() != prefix {
				return nil, fmt.Errorf("from= pattern %q has bits set beyond its mask: write %s", p, prefix.Masked())
			}
			hp.prefix = prefix
		default:
			if a, err := netip.ParseAddr(p); err == nil {
				hp.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			} else {
				hp.glob = strings.ToLower(p)
			}
		}
		out = append(out, hp)
	}
	return out, nil
}

// allows reports whether a client at addr may use the key.
func (h hostPatterns) allows(addr netip.Addr) bool {
	addr = addr.Unmap()
	text := addr.String()
	allowed := false
	for _, p := range h {
		var match bool
		if p.prefix.IsValid() {
			match = p.prefix.Contains(addr)
		} else {
			match = wildcardMatch(p.glob, text)
		}
		if match && p.negated {
			return false
		}
		allowed = allowed || match
	}
	return allowed
}

// wildcardMatch is sshd's match_pattern: * matches any run of characters,
// ? any one character, everything else itself.
func wildcardMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			pattern = strings.TrimLeft(pattern, "*")
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if wildcardMatch(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}
