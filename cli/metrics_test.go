package cli

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsURL = regexp.MustCompile(`url=(http://\S+/metrics)`)

// waitFor polls the server's log until re matches, failing the test if it
// never does: a guard against a hang, not a measure of speed.
func waitFor(t *testing.T, log *lockedBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(log.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never matched %s:\n%s", re, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeMetrics: with APISCOPES_METRICS (or --metrics) serve exposes
// Prometheus metrics and the probes on a listener of its own, and its hot
// backups set the last backup's time; the verify API answers /livez,
// /readyz and /healthz too.
func TestServeMetrics(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_HTTP", "")
	t.Setenv("APISCOPES_METRICS", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	args := []string{"--http", "127.0.0.1:0", "--backup-dir", filepath.Join(t.TempDir(), "backups")}
	go func() {
		done <- Run(ctx, append([]string{"serve", "--db", path}, args...), nil, &bytes.Buffer{}, stderr)
	}()

	api := strings.TrimSuffix(waitFor(t, stderr, readyURL)[1], "/v1/verify")
	metrics := waitFor(t, stderr, metricsURL)[1]
	waitFor(t, stderr, regexp.MustCompile(`backup file=`))
	resp, err := http.Post(api+"/v1/verify", "application/json", strings.NewReader(`{"key": "`+key+`", "scope": "model:deploy"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, probe := range []string{api + "/livez", api + "/readyz", api + "/healthz",
		strings.TrimSuffix(metrics, "/metrics") + "/livez", strings.TrimSuffix(metrics, "/metrics") + "/readyz"} {
		resp, err := http.Get(probe)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", probe, resp.StatusCode)
		}
	}

	resp, err = http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), " "); ok && !strings.HasPrefix(name, "#") {
			samples[name] = value
		}
	}
	resp.Body.Close()
	for name, want := range map[string]string{
		`apiscopes_verify_decisions_total{reason="allowed"}`: "1",
		`apiscopes_apps`: "1",
		`apiscopes_keys`: "1",
	} {
		if samples[name] != want {
			t.Errorf("%s = %q, want %s", name, samples[name], want)
		}
	}
	if v := samples["apiscopes_last_backup_timestamp_seconds"]; v == "" || v == "0" {
		t.Errorf("no last backup time after a hot backup: %q", v)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
