package server

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFromPatternsMatchAsSSHD(t *testing.T) {
	for _, tt := range []struct {
		from    string
		allowed []string
		refused []string
	}{
		{"192.0.2.0/24", []string{"192.0.2.9", "::ffff:192.0.2.9"}, []string{"198.51.100.1", "2001:db8::1"}},
		{"127.0.0.1", []string{"127.0.0.1"}, []string{"127.0.0.2"}},
		{"10.0.0.*,!10.0.0.5", []string{"10.0.0.4", "10.0.0.50"}, []string{"10.0.0.5", "10.0.1.4"}},
		{"!10.0.0.5", nil, []string{"10.0.0.5", "10.0.0.4"}}, // a negation alone allows no one
		{"*,!192.0.2.0/24", []string{"198.51.100.1"}, []string{"192.0.2.200"}},
		{"192.0.2.?", []string{"192.0.2.5"}, []string{"192.0.2.55"}},
		{"2001:db8::/32", []string{"2001:db8::1"}, []string{"2001:db9::1", "192.0.2.1"}},
		{"*.example.com", nil, []string{"192.0.2.1"}}, // names are not looked up
		{"*", []string{"192.0.2.1", "2001:db8::1"}, nil},
	} {
		p, err := parseHostPatterns(tt.from)
		if err != nil {
			t.Fatalf("%s: %v", tt.from, err)
		}
		for _, a := range tt.allowed {
			if !p.allows(netip.MustParseAddr(a)) {
				t.Errorf("from=%q refused %s", tt.from, a)
			}
		}
		for _, a := range tt.refused {
			if p.allows(netip.MustParseAddr(a)) {
				t.Errorf("from=%q allowed %s", tt.from, a)
			}
		}
	}
	for _, bad := range []string{"", "10.0.0.1,,10.0.0.2", "!", "192.0.2.1/24", "10.0.0.0/33", "foo/8"} {
		if _, err := parseHostPatterns(bad); err == nil {
			t.Errorf("from=%q was accepted", bad)
		}
	}
}

func TestKeyOptions(t *testing.T) {
	berlin := time.FixedZone("Berlin", 3600)
	for _, tt := range []struct {
		opts   string
		noPTY  bool
		ptyOff string
		expiry time.Time
	}{
		{"", false, "", time.Time{}},
		{"restrict", true, "restrict", time.Time{}},
		{"restrict,pty", false, "", time.Time{}},
		{"NO-PTY", true, "no-pty", time.Time{}},
		{"pty,no-pty", true, "no-pty", time.Time{}},
		{"no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc", false, "", time.Time{}},
		{`expiry-time="20261231"`, false, "", time.Date(2026, 12, 31, 0, 0, 0, 0, berlin)},
		{`expiry-time="202612311530"`, false, "", time.Date(2026, 12, 31, 15, 30, 0, 0, berlin)},
		{`expiry-time="20261231153045Z"`, false, "", time.Date(2026, 12, 31, 15, 30, 45, 0, time.UTC)},
	} {
		var opts []string
		if tt.opts != "" {
			opts = strings.Split(tt.opts, ",")
		}
		o, err := parseKeyOptions(opts, berlin)
		if err != nil || o.noPTY != tt.noPTY || o.ptyOff != tt.ptyOff || !o.expires.Equal(tt.expiry) {
			t.Errorf("%s: %+v, %v", tt.opts, o, err)
		}
	}
	// command= is read as sshd reads it: quoted, with \" for a quote.
	o, err := parseKeyOptions([]string{"restrict", `command="key roll \"Risk & Compliance\" ci --grace 1h"`}, berlin)
	if err != nil || o.command != `key roll "Risk & Compliance" ci --grace 1h` || !o.restrict {
		t.Errorf("command=: %+v, %v", o, err)
	}
	o, err = parseKeyOptions([]string{`from="192.0.2.0/24,!192.0.2.1"`}, berlin)
	if err != nil || !o.from.allows(netip.MustParseAddr("192.0.2.2")) || o.from.allows(netip.MustParseAddr("192.0.2.1")) {
		t.Errorf("from=: %+v, %v", o, err)
	}

	for opt, want := range map[string]string{
		`environment="A=b"`:                  `option environment="A=b" is not supported`,
		`command=""`:                         `command="" runs nothing`,
		"command=key":                        "command= needs its value in double quotes",
		`permitopen="localhost:80"`:          `option permitopen="localhost:80" is not supported`,
		"cert-authority":                     "option cert-authority is not supported",
		"port-forwarding":                    "option port-forwarding is not supported",
		"restrict=yes":                       "option restrict=yes is not supported",
		`tunnel="` + strings.Repeat("x", 60): "option tunnel=… is not supported",
		"from=192.0.2.1":                     "from= needs its value in double quotes",
		`from=""`:                            "from= is empty",
		`expiry-time="2026"`:                 `expiry-time="2026" is not a time`,
		`expiry-time="20261301"`:             `expiry-time="20261301" is not a time`,
		`expiry-time="tomorrow"`:             `expiry-time="tomorrow" is not a time`,
	} {
		if _, err := parseKeyOptions([]string{opt}, berlin); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", opt, err, want)
		}
	}
}
