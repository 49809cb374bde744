package store

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Address lists: a key may be limited to the networks it is used from, as
// Stripe's, Cloudflare's and Google Cloud's keys are. The list is part of
// the key, which never changes: a roll keeps it, and a new list means a new
// key. Verify refuses a key with a list when the check's address is not in
// it (AddressNotAllowed), or when the check names no address
// (AddressUnknown).

// MaxAllowFrom is the most networks a key's list may hold.
const MaxAllowFrom = 32

// ErrAllowFrom is an address list a key cannot have.
var ErrAllowFrom = errors.New("bad address list")

// ParseAllowFrom reads an address list: addresses and CIDR networks, IPv4
// or IPv6, separated by commas or spaces ("10.0.0.0/8, 2001:db8::/32,
// 192.0.2.7"). Each is normalised: an IPv4-mapped IPv6 address is its IPv4
// address, a network is its first address and length, a lone address a
// network of one; repeats go. Zones (fe80::1%eth0) are refused: a key is
// used across machines, whose interfaces differ. An empty text is an
// empty list.
func ParseAllowFrom(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.FieldsFuncSeq(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		p, err := parseNetwork(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return NormalizeAllowFrom(out)
}

// parseNetwork reads one address or network of a list.
func parseNetwork(f string) (netip.Prefix, error) {
	what := SafeText(RedactKeys(f))
	if len(what) > 64 {
		what = what[:61] + "…"
	}
	if strings.Contains(f, "%") {
		return netip.Prefix{}, fmt.Errorf("%w: %q has a zone (%%…): give the address alone", ErrAllowFrom, what)
	}
	if p, err := netip.ParsePrefix(f); err == nil {
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, fmt.Errorf("%w: %q is an IPv4-mapped network shorter than /96", ErrAllowFrom, what)
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), nil
	}
	a, err := netip.ParseAddr(f)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q is neither an address nor a CIDR network (10.0.0.0/8, 2001:db8::/32)", ErrAllowFrom, what)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NormalizeAllowFrom puts a list in its canonical form: each network
// masked and IPv4 where it can be, sorted, without repeats; a network
// inside another of the list is left out. It refuses invalid networks,
// zones and lists longer than MaxAllowFrom.
func NormalizeAllowFrom(list []netip.Prefix) ([]netip.Prefix, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, p := range list {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: an invalid network", ErrAllowFrom)
		}
		a, bits := p.Addr(), p.Bits()
		if a.Zone() != "" {
			return nil, fmt.Errorf("%w: %s has a zone: give the address alone", ErrAllowFrom, p)
		}
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		out = append(out, netip.PrefixFrom(a, bits).Masked())
	}
	slices.SortFunc(out, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
	kept := out[:0]
	for _, p := range out {
		if !slices.ContainsFunc(kept, func(k netip.Prefix) bool { return k.Bits() <= p.Bits() && k.Contains(p.Addr()) }) {
			kept = append(kept, p)
		}
	}
	if len(kept) > MaxAllowFrom {
		return nil, fmt.Errorf("%w: %d networks; a key takes at most %d", ErrAllowFrom, len(kept), MaxAllowFrom)
	}
	return kept, nil
}

// FormatAllowFrom is a list as records, events and screens write it:
// "10.0.0.0/8,192.0.2.7/32".
func FormatAllowFrom(list []netip.Prefix) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.String()
	}
	return out
}

// readAllowFrom reads a key record's list, written canonical by this
// store; an entry it cannot read (a record written by another tool) is
// kept as a network that holds no address, so the key stays limited.
func readAllowFrom(list []string) []netip.Prefix {
	if len(list) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			p = netip.Prefix{} // invalid: Contains is false for every address
		}
		out = append(out, p)
	}
	return out
}

// Allows reports whether the key may be used from address a: always for a
// key without a list; for one with a list, only from an address in it (an
// IPv4-mapped address as its IPv4 address; a zone ignored). An unknown
// address (the zero Addr) is allowed only without a list.
func (k *Key) Allows(a netip.Addr) bool {
	if len(k.AllowFrom) == 0 {
		return true
	}
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range k.AllowFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
