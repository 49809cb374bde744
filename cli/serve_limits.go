package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"apiscopes/server"
	"apiscopes/server/lograte"
)

// sshLimits are serve's bounds on what SSH clients can make the server
// spend. Each default is safe for a server reachable from a network.
type sshLimits struct {
	maxPTY             server.TermSize
	handshakeTimeout   time.Duration
	maxUnauthenticated int
	perSource          int
	earlyDrop          server.EarlyDrop
	proxyFrom          []netip.Prefix
	memoryLimit        int64
	maxSessions        int
	adminSlots         int
	maxSessionsPerUser int
	maxSessionTime     time.Duration
	maxFollowers       int
	logRefusals        int
	logPerSource       int
}

// addSSHLimits defines the flags on fs.
func addSSHLimits(fs *pflag.FlagSet) *sshLimits {
	l := &sshLimits{maxPTY: server.DefaultMaxPTY}
	fs.Var(ptySize{&l.maxPTY}, "max-pty", "largest terminal a session is drawn for, COLSxROWS")
	fs.DurationVar(&l.handshakeTimeout, "handshake-timeout", 10*time.Second, "close a connection not logged in this long after it opened")
	fs.IntVar(&l.maxUnauthenticated, "max-unauthenticated", server.DefaultMaxUnauthenticated, "connections not logged in yet at once; more are closed as they arrive")
	fs.IntVar(&l.perSource, "max-unauthenticated-per-source", server.DefaultUnauthenticatedPerSource,
		"of those, how many one address (an IPv6 /64) may hold")
	fs.Var(earlyDrop{&l.earlyDrop}, "early-drop", "from START connections not logged in, refuse RATE% of new ones at random,\n"+
		"rising to all at --max-unauthenticated, as sshd's MaxStartups (default:\nhalf of --max-unauthenticated, 30%; none: never)")
	fs.Var(prefixList{&l.proxyFrom}, "ssh-proxy-protocol-from", "addresses or networks of load balancers whose SSH connections\n"+
		"open with a PROXY protocol header naming the client (comma-separated)")
	fs.Var(memorySize{&l.memoryLimit}, "memory-limit", "memory to stay within, e.g. 900M; SSH sessions that would not fit are\n"+
		"refused (default: 90% of the cgroup's memory.max, or GOMEMLIMIT; none: no limit)")
	fs.IntVar(&l.maxSessions, "max-sessions", 32, "SSH sessions open at once (0 no limit)")
	fs.IntVar(&l.adminSlots, "admin-slots", 4, "of those, how many only admins may take")
	fs.IntVar(&l.maxSessionsPerUser, "max-sessions-per-user", 4, "sessions one person may have open at once")
	fs.DurationVar(&l.maxSessionTime, "max-session-time", 12*time.Hour, "end any SSH session this long after it began")
	fs.IntVar(&l.maxFollowers, "max-followers", server.DefaultMaxFollowers, "SSH sessions following the audit trail (audit --follow) at once,\nbeside the others")
	fs.IntVar(&l.logRefusals, "log-refusals", lograte.DefaultTotal, "refusals logged a second by the SSH console and by the\nverify API, each (0 no limit)")
	fs.IntVar(&l.logPerSource, "log-refusals-per-source", lograte.DefaultPerSource, "of those, from one address; the rest are counted")
	return l
}

// ptySize is --max-pty as a flag: COLSxROWS.
type ptySize struct{ *server.TermSize }

func (p ptySize) Type() string { return "COLSxROWS" }

// earlyDrop is --early-drop as a flag: START:RATE, or none; unset, the
// server derives it from --max-unauthenticated.
type earlyDrop struct{ *server.EarlyDrop }

func (d earlyDrop) Type() string { return "START:RATE" }

func (d earlyDrop) String() string {
	if *d.EarlyDrop == (server.EarlyDrop{}) {
		return ""
	}
	return d.EarlyDrop.String()
}

// prefixList is a flag of addresses and networks, comma-separated; an
// address alone is its own network.
type prefixList struct{ prefixes *[]netip.Prefix }

func (p prefixList) Type() string { return "CIDR,…" }

func (p prefixList) String() string {
	var s []string
	for _, n := range *p.prefixes {
		s = append(s, n.String())
	}
	return strings.Join(s, ",")
}

func (p prefixList) Set(v string) error {
	var list []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return fmt.Errorf("%q is neither an address nor a network (e.g. 10.0.0.5 or 10.0.0.0/24)", f)
			}
			n = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		list = append(list, n.Masked())
	}
	*p.prefixes = list
	return nil
}

// memorySize is --memory-limit as a flag: bytes, or K, M, G, T after a
// number; unset (0), the cgroup's limit counts.
type memorySize struct{ bytes *int64 }

func (m memorySize) Type() string { return "SIZE" }

func (m memorySize) String() string {
	if *m.bytes == 0 {
		return ""
	}
	return fmt.Sprintf("%dM", *m.bytes>>20)
}

func (m memorySize) Set(v string) error {
	n, err := server.ParseMemory(v)
	if err != nil {
		return err
	}
	*m.bytes = n
	return nil
}

// check refuses values that make no sense together.
func (l *sshLimits) check() error {
	for name, v := range map[string]int64{"--handshake-timeout": int64(l.handshakeTimeout),
		"--max-unauthenticated": int64(l.maxUnauthenticated), "--max-sessions": int64(l.maxSessions),
		"--max-unauthenticated-per-source": int64(l.perSource),
		"--admin-slots":                    int64(l.adminSlots), "--max-sessions-per-user": int64(l.maxSessionsPerUser),
		"--max-session-time": int64(l.maxSessionTime), "--log-refusals": int64(l.logRefusals), "--max-followers": int64(l.maxFollowers),
		"--log-refusals-per-source": int64(l.logPerSource)} {
		if v < 0 {
			return fmt.Errorf("%s cannot be negative (0 means no limit)", name)
		}
	}
	if l.maxSessions > 0 && l.adminSlots > l.maxSessions {
		return fmt.Errorf("--admin-slots %d is more than --max-sessions %d: admins' slots are part of the sessions", l.adminSlots, l.maxSessions)
	}
	if l.maxSessions == 0 && l.adminSlots > 0 {
		return errors.New("--admin-slots needs --max-sessions: with no limit on sessions there is nothing to keep for admins (give --admin-slots 0)")
	}
	return nil
}

// apply sets the limits on an SSH server's configuration.
func (l *sshLimits) apply(c *server.Config) {
	c.MaxPTY = l.maxPTY
	c.HandshakeTimeout = l.handshakeTimeout
	c.MaxUnauthenticated = l.maxUnauthenticated
	c.MaxUnauthenticatedPerSource = l.perSource
	c.EarlyDrop = l.earlyDrop
	c.ProxyProtocolFrom = l.proxyFrom
	c.MemoryLimit = l.memoryLimit
	c.MaxSessions = l.maxSessions
	c.AdminSlots = l.adminSlots
	c.MaxSessionsPerUser = l.maxSessionsPerUser
	c.MaxSessionTime = l.maxSessionTime
	c.MaxFollowers = l.maxFollowers
	c.LogTotal, c.LogPerSource = l.logRefusals, l.logPerSource
}
