package api

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// scrape reads the metrics listener's /metrics as Prometheus does and
// returns each sample's value by its name and labels, as written.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// TestMetrics scrapes the metrics listener after a mix of verify requests:
// each decision's reason is counted, and so is each request the store never
// decided; the latency histogram saw every request; apps, keys, write
// errors, the SSH side's sessions and refused logins, the last backup and
// the log lines left out are there. No request, whatever it sends, adds a
// label value: every series exists from the start.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	m := NewMetrics(f.st)
	api := httptest.NewServer(Handler(f.st, slog.New(slog.NewTextHandler(io.Discard, nil)), WithMetrics(m),
		WithLogLimits(1, 100), WithClock(f.clock.now)))
	defer api.Close()
	metrics := httptest.NewServer(MetricsHandler(m, f.st))
	defer metrics.Close()

	before := scrape(t, metrics.URL)
	series := func(samples map[string]float64) []string {
		var names []string
		for name := range samples {
			if strings.HasPrefix(name, "apiscopes_") {
				names = append(names, name)
			}
		}
		return names
	}
	for _, r := range store.Reasons {
		if _, ok := before[`apiscopes_verify_decisions_total{reason="`+string(r)+`"}`]; !ok {
			t.Errorf("no series for reason %s before any request", r)
		}
	}

	for _, req := range []struct{ body, auth string }{
		{body(f.key, "model:deploy"), ""},
		{body(f.key, "model:deploy"), ""},
		{body(f.key, "guardrail:deploy"), ""},
		{body("aps_short", "model:deploy"), ""},
		{body(f.key, "x-"+f.key), ""},
		{`{"scope": "model:deploy"}`, ""},
		{`{"scope": "model:deploy", "Scope": "evil"}`, ""},
		{`{"scope": "model:deploy", "key": "` + strings.Repeat("a", MaxBodyBytes) + `"}`, ""},
		{`{"scope": "model:deploy"}`, "Bearer " + f.key},
	} {
		r, _ := http.NewRequest(http.MethodPost, api.URL+"/v1/verify", strings.NewReader(req.body))
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	m.BackupTaken(at)
	m.AuditHead(42)
	m.CountSessions(func(role store.Role) int { return map[store.Role]int{store.Admin: 2, store.Viewer: 1}[role] })
	m.CountRefusedLogins(func() uint64 { return 4 })
	m.CountSSHLinesLeftOut(func() uint64 { return 7 })

	after := scrape(t, metrics.URL)
	for name, want := range map[string]float64{
		`apiscopes_verify_decisions_total{reason="allowed"}`:           3,
		`apiscopes_verify_decisions_total{reason="scope_not_granted"}`: 1,
		`apiscopes_verify_decisions_total{reason="malformed"}`:         1,
		`apiscopes_verify_decisions_total{reason="unknown_scope"}`:     1,
		`apiscopes_verify_decisions_total{reason="no_key"}`:            1,
		`apiscopes_verify_decisions_total{reason="bad_request"}`:       1,
		`apiscopes_verify_decisions_total{reason="too_large"}`:         1,
		`apiscopes_verify_decisions_total{reason="unknown_key"}`:       0,
		`apiscopes_verify_duration_seconds_count`:                      9,
		`apiscopes_apps`:                                        1,
		`apiscopes_keys`:                                        1,
		`apiscopes_keys_beyond_policy`:                          0,
		`apiscopes_write_errors_total`:                          0,
		`apiscopes_ssh_sessions_open{role="admin"}`:             2,
		`apiscopes_ssh_sessions_open{role="viewer"}`:            1,
		`apiscopes_ssh_logins_refused_total`:                    4,
		`apiscopes_last_backup_timestamp_seconds`:               float64(at.Unix()),
		`apiscopes_audit_head_sequence`:                         42,
		`apiscopes_log_lines_suppressed_total{listener="http"}`: 5, // 6 refusals, one line a source
		`apiscopes_log_lines_suppressed_total{listener="ssh"}`:  7,
	} {
		if got, ok := after[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if b, a := len(series(before)), len(series(after)); a != b {
		t.Errorf("requests made series: %d before, %d after", b, a)
	}
	for name := range after {
		if strings.Contains(name, f.key[4:20]) || regexp.MustCompile(`evil|x-`).MatchString(name) {
			t.Errorf("a request value became a label: %s", name)
		}
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestKeysBeyondPolicyMetric: a key older than a policy that caps its
// lifetime is counted, and no longer once it is rolled into one that fits.
func TestKeysBeyondPolicyMetric(t *testing.T) {
	f := newFixture(t)
	metrics := httptest.NewServer(MetricsHandler(NewMetrics(f.st), f.st))
	defer metrics.Close()
	gauge := func() float64 { return scrape(t, metrics.URL)["apiscopes_keys_beyond_policy"] }
	if g := gauge(); g != 0 {
		t.Fatalf("before a policy: %v", g)
	}
	if _, err := f.st.SetPolicy(t.Context(), admin, store.Policy{}, store.Policy{DefaultMaxLifetime: 90 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if g := gauge(); g != 1 {
		t.Errorf("with the policy: %v, want the one never-expiring key", g)
	}
	if _, _, _, err := f.st.RollKey(t.Context(), admin, f.keyID, 0); err != nil {
		t.Fatal(err)
	}
	if g := gauge(); g != 0 {
		t.Errorf("after a roll: %v", g)
	}
}
