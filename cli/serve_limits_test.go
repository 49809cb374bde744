package cli

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/server"
)

// TestSSHLimitsDefaultsAndEnvironment: every bound has a safe default, and
// each reads APISCOPES_<FLAG> as the other flags do; the command line wins.
func TestSSHLimitsDefaultsAndEnvironment(t *testing.T) {
	parse := func(args ...string) *sshLimits {
		t.Helper()
		var l *sshLimits
		cmd := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
		l = addSSHLimits(cmd.Flags())
		cmd.SetArgs(args)
		cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
			return (&invocation{getenv: os.Getenv}).bindEnvironment(cmd)
		}
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if err := l.check(); err != nil {
			t.Fatal(err)
		}
		return l
	}
	want := sshLimits{maxPTY: server.TermSize{Width: 400, Height: 150}, handshakeTimeout: 10 * time.Second,
		maxUnauthenticated: 64, perSource: 8, maxSessions: 32, adminSlots: 4, maxSessionsPerUser: 4,
		maxSessionTime: 12 * time.Hour, maxFollowers: 8, logRefusals: 20, logPerSource: 2}
	if got := parse(); !reflect.DeepEqual(*got, want) {
		t.Errorf("defaults %+v, want %+v", *got, want)
	}

	for name, v := range map[string]string{"MAX_PTY": "120x40", "HANDSHAKE_TIMEOUT": "3s", "MAX_UNAUTHENTICATED": "5",
		"MAX_SESSIONS": "9", "ADMIN_SLOTS": "2", "MAX_SESSIONS_PER_USER": "1", "MAX_SESSION_TIME": "1h",
		"LOG_REFUSALS": "7", "LOG_REFUSALS_PER_SOURCE": "3", "MAX_UNAUTHENTICATED_PER_SOURCE": "2",
		"EARLY_DROP": "3:50", "SSH_PROXY_PROTOCOL_FROM": "10.0.0.0/24, 192.0.2.7,2001:db8::/48", "MEMORY_LIMIT": "900M"} {
		t.Setenv("APISCOPES_"+name, v)
	}
	want = sshLimits{maxPTY: server.TermSize{Width: 120, Height: 40}, handshakeTimeout: 3 * time.Second,
		maxUnauthenticated: 5, perSource: 2, earlyDrop: server.EarlyDrop{Start: 3, Rate: 50},
		proxyFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/48")},
		memoryLimit: 900 << 20, maxSessions: 9, adminSlots: 2, maxSessionsPerUser: 1,
		maxSessionTime: time.Hour, maxFollowers: 8, logRefusals: 7, logPerSource: 3}
	if got := parse(); !reflect.DeepEqual(*got, want) {
		t.Errorf("from the environment %+v, want %+v", *got, want)
	}
	if got := parse("--max-sessions-per-user", "2"); got.maxSessionsPerUser != 2 {
		t.Errorf("the command line did not win: %d", got.maxSessionsPerUser)
	}

	var cfg server.Config // and each reaches the SSH server
	parse().apply(&cfg)
	if cfg.MaxPTY != want.maxPTY || cfg.HandshakeTimeout != 3*time.Second || cfg.MaxUnauthenticated != 5 ||
		cfg.MaxSessions != 9 || cfg.AdminSlots != 2 || cfg.MaxSessionsPerUser != 1 || cfg.MaxSessionTime != time.Hour ||
		cfg.LogTotal != 7 || cfg.LogPerSource != 3 || cfg.MaxUnauthenticatedPerSource != 2 || cfg.EarlyDrop != want.earlyDrop ||
		!reflect.DeepEqual(cfg.ProxyProtocolFrom, want.proxyFrom) || cfg.MemoryLimit != 900<<20 {
		t.Errorf("the SSH server's configuration: %+v", cfg)
	}
}

func TestSSHLimitsRefuseNonsense(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--handshake-timeout", "-1s"}, "--handshake-timeout cannot be negative"},
		{[]string{"--max-unauthenticated", "-1"}, "--max-unauthenticated cannot be negative"},
		{[]string{"--max-sessions-per-user", "-2"}, "--max-sessions-per-user cannot be negative"},
		{[]string{"--max-session-time", "-1h"}, "--max-session-time cannot be negative"},
		{[]string{"--log-refusals-per-source", "-1"}, "--log-refusals-per-source cannot be negative"},
		{[]string{"--max-sessions", "3", "--admin-slots", "4"}, "--admin-slots 4 is more than --max-sessions 3"},
		{[]string{"--max-sessions", "0"}, "--admin-slots needs --max-sessions"},
		{[]string{"--max-unauthenticated-per-source", "-1"}, "--max-unauthenticated-per-source cannot be negative"},
		{[]string{"--early-drop", "32"}, "is not an early drop: give START:RATE"},
		{[]string{"--ssh-proxy-protocol-from", "lb.example"}, `"lb.example" is neither an address nor a network`},
		{[]string{"--memory-limit", "lots"}, `"lots" is not a memory size`},
	} {
		code, _, errs := runCmd(t, append([]string{"serve", "--http", "127.0.0.1:0"}, tt.args...)...)
		if code != ExitUsage || !strings.Contains(errs, tt.err) {
			t.Errorf("%v: %d %q, want %q", tt.args, code, errs, tt.err)
		}
	}
}
