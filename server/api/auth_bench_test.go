package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
)

// alternate times op against baseline in alternating blocks of requests,
// so that both see the same machine, and returns the time of one of each.
func alternate(b *testing.B, block int, op, baseline func(i int)) (perOp, perBase float64) {
	var opTime, baseTime time.Duration
	n, nBase := 0, 0
	for b.Loop() {
		if n%block == 0 {
			b.StopTimer()
			start := time.Now()
			for i := range block {
				baseline(nBase + i)
			}
			baseTime += time.Since(start)
			nBase += block
			b.StartTimer()
		}
		start := time.Now()
		op(n)
		opTime += time.Since(start)
		n++
	}
	return float64(opTime) / float64(n), float64(baseTime) / float64(nBase)
}

// BenchmarkAuthVsVerify measures GET /v1/auth as nginx's auth_request
// sends it (the key in Authorization, the original request in
// X-Original-Method and X-Original-URI, a routes file of five routes with
// the match on the fourth) against POST /v1/verify for the same key and
// scope, on one keep-alive connection each, on loopback. x-throughput is
// /v1/auth's requests per second as a share of /v1/verify's; the goal is
// 0.95 or more. Both log as serve does, to a discarded stream.
func BenchmarkAuthVsVerify(b *testing.B) {
	f := newFixture(b)
	keys := []string{f.key}
	for i := range 99 {
		text, _, err := f.st.CreateKey(b.Context(), admin, f.app.ID, fmt.Sprintf("key %d", i))
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, text)
	}
	rt := mustRoutes(b, `- method: POST
  path: /workflows/deploy
  scope: workflow:deploy
- method: DELETE
  path: /workflows
  scope: workflow:undeploy
- path: /admin
  scope: guardrail:deploy
- method: [GET, POST]
  path: /models
  scope: model:deploy
- method: GET
  path: /
  scope: model:export
`)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(Handler(f.st, log, WithRoutes(rt)))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	bodies := make([]string, len(keys))
	auths := make([]*http.Request, len(keys))
	for i, k := range keys {
		bodies[i] = body(k, string(scopes.ModelDeploy))
		req, _ := http.NewRequest("GET", srv.URL+AuthPath, nil)
		req.Header.Set("Authorization", "Bearer "+k)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", "/models/7/versions?page=2")
		auths[i] = req
	}
	auth := func(i int) {
		resp, err := client.Do(auths[i%len(auths)])
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("/v1/auth answered %d", resp.StatusCode)
		}
	}
	verify := func(i int) {
		if got := post(b, client, srv.URL+"/v1/verify", bodies[i%len(bodies)]); !strings.HasPrefix(got, `{"allowed":true`) {
			b.Fatalf("verify answered %s", got)
		}
	}
	perAuth, perVerify := alternate(b, 256, auth, verify)
	b.ReportMetric(perVerify/perAuth, "x-throughput")
}
