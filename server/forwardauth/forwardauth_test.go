package forwardauth

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"apiscopes/store"
)

// TestKeysFind: the key comes from a bearer token or the key header, once.
func TestKeysFind(t *testing.T) {
	for _, tt := range []struct {
		name   string
		keys   Keys
		header http.Header
		want   string
		err    error
	}{
		{"bearer", Keys{}, http.Header{"Authorization": {"Bearer aps_x"}}, "aps_x", nil},
		{"bearer in any case", Keys{}, http.Header{"Authorization": {"bearer  aps_x "}}, "aps_x", nil},
		{"x-api-key", Keys{}, http.Header{"X-Api-Key": {"aps_y"}}, "aps_y", nil},
		{"empty bearer", Keys{}, http.Header{"Authorization": {"Bearer"}}, "", nil},
		{"basic is not a key", Keys{}, http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}, "", ErrNoKey},
		{"basic beside the key header", Keys{}, http.Header{"Authorization": {"Basic dXNlcjpwdw=="}, "X-Api-Key": {"aps_y"}}, "aps_y", nil},
		{"both", Keys{}, http.Header{"Authorization": {"Bearer aps_x"}, "X-Api-Key": {"aps_x"}}, "", ErrTwoKeys},
		{"two bearers", Keys{}, http.Header{"Authorization": {"Bearer aps_x", "Bearer aps_y"}}, "", ErrTwoKeys},
		{"two key headers", Keys{}, http.Header{"X-Api-Key": {"aps_x", "aps_x"}}, "", ErrTwoKeys},
		{"none", Keys{}, http.Header{"Cookie": {"aps_x"}}, "", ErrNoKey},
		{"another key header", Keys{Header: "X-Token"}, http.Header{"X-Token": {"aps_z"}}, "aps_z", nil},
		{"the default one no longer counts", Keys{Header: "X-Token"}, http.Header{"X-Api-Key": {"aps_z"}}, "", ErrNoKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.keys.Find(tt.header.Values)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Find = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

// TestClientAddress: only a trusted proxy names the client, by the
// rightmost X-Forwarded-For hop that is not a proxy, or X-Real-IP.
func TestClientAddress(t *testing.T) {
	p, err := ParseProxies("127.0.0.1, 10.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	gw := netip.MustParseAddr("10.1.2.3")
	for _, tt := range []struct {
		name     string
		peer     string
		xff, xri []string
		want     string // "": unknown
	}{
		{"untrusted peer", "192.0.2.9", []string{"198.51.100.7"}, nil, ""},
		{"one hop", gw.String(), []string{"198.51.100.7"}, nil, "198.51.100.7"},
		{"a forged hop to the left", gw.String(), []string{"203.0.113.66, 198.51.100.7"}, nil, "198.51.100.7"},
		{"proxies skipped", gw.String(), []string{"198.51.100.7, 10.9.9.9", "127.0.0.1"}, nil, "198.51.100.7"},
		{"only proxies", gw.String(), []string{"10.9.9.9, 10.8.8.8"}, nil, "10.9.9.9"},
		{"garbage", gw.String(), []string{"198.51.100.7, not-an-address"}, nil, ""},
		{"x-real-ip", gw.String(), nil, []string{"198.51.100.8"}, "198.51.100.8"},
		{"two x-real-ip", gw.String(), nil, []string{"198.51.100.8", "198.51.100.9"}, ""},
		{"ipv6 peer", "::1", []string{"2001:db8::1"}, nil, "2001:db8::1"},
		{"mapped peer", "::ffff:127.0.0.1", []string{"[2001:db8::1]:443"}, nil, "2001:db8::1"},
		{"nothing said", gw.String(), nil, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := p.Client(netip.MustParseAddr(tt.peer), tt.xff, tt.xri)
			if ok != (tt.want != "") || (ok && got.String() != tt.want) {
				t.Errorf("Client = %v, %v; want %q", got, ok, tt.want)
			}
		})
	}
	if _, err := ParseProxies("10.0.0.0/8, gateway.local"); err == nil {
		t.Error("a name was taken as a proxy")
	}
	if p, _ := ParseProxies(""); p.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an empty list trusts an address")
	}
}

// TestEscapeReadsBack: any name goes upstream as ASCII and reads back as it
// was with a standard percent-decoder.
func TestEscapeReadsBack(t *testing.T) {
	for _, s := range []string{"Risk & Compliance", "a/b?c=d%e+f g", "café ☕", "\x1b]52;c;x\a", "aps_…H2Hc", ""} {
		e := Escape(s)
		for i := range len(e) {
			if e[i] < 0x21 || e[i] > 0x7e {
				t.Fatalf("Escape(%q) = %q holds byte %#x", s, e, e[i])
			}
		}
		if back, err := url.PathUnescape(e); err != nil || back != s {
			t.Errorf("Escape(%q) = %q reads back as %q, %v", s, e, back, err)
		}
	}
}

// TestClassify: every reason of the store maps to one outcome, and none but
// allowed lets a request through.
func TestClassify(t *testing.T) {
	want := map[store.Reason]Outcome{
		store.Allowed: Allow, store.Malformed: InvalidToken, store.BadChecksum: InvalidToken,
		store.UnknownKey: InvalidToken, store.Expired: InvalidToken, store.ScopeNotGranted: InsufficientScope,
		store.UnknownScope: NoScope, store.Unavailable: Unavailable,
		store.AddressNotAllowed: Forbidden, store.AddressUnknown: Forbidden, store.UpgradeRequired: Unavailable,
		store.Damaged: Unavailable,
	}
	for _, r := range store.Reasons {
		d := store.Decision{Reason: r, Allowed: r == store.Allowed}
		if got := Classify(d); got != want[r] {
			t.Errorf("%s: %v, want %v", r, got, want[r])
		}
	}
	if Classify(store.Decision{Reason: store.Allowed}) == Allow {
		t.Error("a decision not marked allowed was let through")
	}
	if Classify(store.Decision{Reason: "something new", Allowed: true}) == Allow {
		t.Error("an unknown reason was let through")
	}
}
