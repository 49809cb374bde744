package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRefusalLogIsBounded: a client that sends bad requests in a loop gets
// at most the per-source number of log lines a second, and all clients
// together (as behind a load balancer, or from many addresses) at most the
// total; the rest are counted, and the next line logged says how many
// were left out before it. Answers are never held back.
func TestRefusalLogIsBounded(t *testing.T) {
	f := newFixture(t)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := Handler(f.st, log, WithLogLimits(3, 5), WithClock(f.clock.now))
	send := func(remote, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	lines := func() int { return strings.Count(logs.Take(), "msg=verify ") }

	for range 10 {
		if code := send("192.0.2.1:4000", `{"scope": "model:deploy"}`); code != http.StatusUnauthorized {
			t.Fatalf("answer %d", code)
		}
	}
	if n := lines(); n != 3 {
		t.Errorf("one source: %d lines, want 3", n)
	}
	for i := range 10 {
		send(fmt.Sprintf("192.0.2.%d:4000", 2+i), body("aps_bad", "model:deploy"))
	}
	if n := lines(); n != 2 {
		t.Errorf("many sources: %d more lines, want 2 (5 in all)", n)
	}
	// An allowed check is not a refusal: logged at Debug, never counted.
	if code := send("192.0.2.1:4000", body(f.key, "model:deploy")); code != http.StatusOK {
		t.Fatalf("allowed: %d", code)
	}
	if got := logs.Take(); !strings.Contains(got, "reason=allowed") {
		t.Errorf("the allowed check was not logged: %q", got)
	}

	f.clock.advance(time.Second)
	send("192.0.2.1:4000", `{"scope": "model:deploy"}`)
	got := logs.Take()
	if !strings.Contains(got, "not_logged_before=") || strings.Count(got, "msg=verify ") != 1 {
		t.Errorf("the next second: %q", got)
	}
}
