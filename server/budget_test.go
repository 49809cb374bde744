package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const gib = 1 << 30

// TestBudgetArithmetic pins the README's figures: under MemoryMax=1G,
// serve's memory limit is 90% of it, three quarters of which are for what
// lives: 40 sessions at the default PTY cap (400×150) beside 50,000 keys,
// 24 at 500×200; a million keys leave room for one at 500×200.
func TestBudgetArithmetic(t *testing.T) {
	limit, from, err := setMemoryLimit(0, "", func() (int64, error) { return gib, nil }, func(int64) int64 { return 0 })
	if err != nil || from != LimitFromCgroup || limit != ninetyPercent(gib) {
		t.Fatalf("limit %d from %q, %v", limit, from, err)
	}
	if got := SessionBytes(DefaultMaxPTY); got != 1<<20+15_360_000 {
		t.Errorf("a session at the cap: %d bytes", got)
	}
	for _, c := range []struct {
		keys int
		pty  TermSize
		fit  int
	}{
		{0, TermSize{Width: 500, Height: 200}, 25},
		{50_000, TermSize{Width: 500, Height: 200}, 24},
		{50_000, DefaultMaxPTY, 40},
		{1_000_000, TermSize{Width: 500, Height: 200}, 1},
		{2_000_000, DefaultMaxPTY, 0},
	} {
		if got := SessionsWithin(limit, c.keys, c.pty); got != c.fit {
			t.Errorf("%d sessions at %v fit in %d bytes beside %d keys, want %d", got, c.pty, limit, c.keys, c.fit)
		}
	}
}

func TestMemoryLimitSources(t *testing.T) {
	var set int64
	record := func(n int64) int64 {
		if n >= 0 {
			set = n
		}
		return 123 << 20
	}
	cgroup := func() (int64, error) { return 2 * gib, nil }
	for _, c := range []struct {
		explicit int64
		env      string
		limit    int64
		from     string
	}{
		{explicit: 500 << 20, env: "1GiB", limit: 500 << 20, from: LimitFromOption},
		{env: "1GiB", limit: 123 << 20, from: LimitFromEnv},
		{env: "off", limit: ninetyPercent(2 * gib), from: LimitFromCgroup},
		{limit: ninetyPercent(2 * gib), from: LimitFromCgroup},
	} {
		set = 0
		limit, from, err := setMemoryLimit(c.explicit, c.env, cgroup, record)
		if err != nil || limit != c.limit || from != c.from {
			t.Errorf("%+v: %d from %q, %v", c, limit, from, err)
		}
		if c.from != LimitFromEnv && set != c.limit {
			t.Errorf("%+v: Go's limit set to %d", c, set)
		}
	}
	none := func() (int64, error) { return 0, nil }
	if limit, from, err := setMemoryLimit(0, "", none, record); limit != 0 || from != "" || err != nil {
		t.Errorf("without a cgroup limit: %d from %q, %v", limit, from, err)
	}
	broken := errors.New("unreadable")
	if _, _, err := setMemoryLimit(0, "", func() (int64, error) { return 0, broken }, record); !errors.Is(err, broken) {
		t.Errorf("an unreadable cgroup: %v", err)
	}
}

// TestCgroupMemoryMax reads memory.max as the kernel lays it out: the
// least limit from the process's cgroup up to the root counts.
func TestCgroupMemoryMax(t *testing.T) {
	root := t.TempDir()
	write := func(dir, v string) {
		p := filepath.Join(root, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "memory.max"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("system.slice", "max")
	write("system.slice/apiscopes.service", "1073741824")
	write("tight.slice", "536870912")
	write("tight.slice/apiscopes.service", "1073741824")
	write("free.slice/apiscopes.service", "max")
	for self, want := range map[string]int64{
		"0::/system.slice/apiscopes.service\n":                    gib,
		"0::/tight.slice/apiscopes.service\n":                     gib / 2,
		"0::/free.slice/apiscopes.service\n":                      0,
		"0::/\n":                                                  0,
		"12:memory:/user.slice\n1:name=systemd:/user.slice\n":     0, // cgroup v1 only
		"1:name=systemd:/x\n0::/system.slice/apiscopes.service\n": gib,
	} {
		got, err := cgroupMemoryMax(root, []byte(self))
		if err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", self, got, err, want)
		}
	}
	write("bad.slice", "lots")
	if _, err := cgroupMemoryMax(root, []byte("0::/bad.slice\n")); err == nil || !strings.Contains(err.Error(), "not a memory limit") {
		t.Errorf("a garbled memory.max: %v", err)
	}
}

func TestParseMemory(t *testing.T) {
	for s, want := range map[string]int64{"1073741824": gib, "1G": gib, "1GiB": gib, "900M": 900 << 20, "512MiB": 512 << 20,
		"64k": 64 << 10, "2T": 2 << 40, "none": 0, "0": 0, " 1G ": gib} {
		if got, err := ParseMemory(s); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "G", "1X", "1.5G", "-1G", "9999999999T", "1GG"} {
		if _, err := ParseMemory(s); err == nil || !strings.Contains(err.Error(), "not a memory size") {
			t.Errorf("ParseMemory(%q): %v", s, err)
		}
	}
}

// TestSessionsBeyondTheMemoryBudgetAreRefused: once the sessions open
// would pass the budget, a new one is refused with a message saying so;
// viewers cannot take the admins' share of it.
func TestSessionsBeyondTheMemoryBudgetAreRefused(t *testing.T) {
	alice, victor, wendy := newUser(t, "Alice"), newUser(t, "Victor"), newUser(t, "Wendy")
	size := TermSize{Width: 110, Height: 30} // what ts.open asks for
	// Room for three sessions, with a little to spare.
	limit := int64(float64(MemoryNeeded(0, 3, size)+SessionBytes(size)/2) / (1 - collectorShare))
	ts := startServerWith(t, t.TempDir(), []user{alice}, []user{victor, wendy}, func(c *Config) {
		c.MaxSessions, c.AdminSlots, c.MaxPTY, c.MemoryLimit = 32, 1, size, limit
	})
	if fit, _, _ := ts.srv.sessionsFit(); fit != 3 {
		t.Fatalf("%d sessions fit, want 3", fit)
	}
	ts.open(victor).waitFor("API Scopes")
	ts.open(wendy).waitFor("API Scopes")
	ts.open(victor).waitFor("the server has no memory for another session: 2 open, 3 fit")
	ts.open(alice).waitFor("API Scopes")
	ts.open(alice).waitFor("the server has no memory for another session: 3 open")
	if n := ts.srv.Refusals().ByReason[RefusedMemory]; n != 2 {
		t.Errorf("%d refused for memory, want 2", n)
	}
}

func ninetyPercent(n int64) int64 { return int64(float64(n) * 0.9) }
