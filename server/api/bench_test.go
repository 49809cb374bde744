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

// BenchmarkHTTPVerify measures POST /v1/verify on loopback, over one
// keep-alive connection, against a bare net/http handler that returns a
// constant JSON body of the same size: the least an HTTP verify can cost.
// x-throughput is the verify API's requests per second as a share of the
// bare handler's; the goal is 0.7 or more. The verify handler logs as serve
// does (Info, so refusals only), to a discarded stream.
//
// The two servers are timed in alternating blocks of requests, so that both
// see the same machine.
func BenchmarkHTTPVerify(b *testing.B) {
	f := newFixture(b)
	keys := []string{f.key}
	for i := range 99 {
		text, _, err := f.st.CreateKey(b.Context(), admin, f.app.ID, fmt.Sprintf("key %d", i))
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, text)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	verifySrv := httptest.NewServer(Handler(f.st, log))
	defer verifySrv.Close()

	// The bare handler answers what an allowed verify answers, byte for byte.
	sample := post(b, http.DefaultClient, verifySrv.URL+"/v1/verify", body(keys[0], string(scopes.ModelDeploy)))
	bareSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(sample))
	}))
	defer bareSrv.Close()

	bodies := make([]string, len(keys))
	for i, k := range keys {
		bodies[i] = body(k, string(scopes.ModelDeploy))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()

	const block = 256
	var verify, bare time.Duration
	n, nBare := 0, 0
	runBare := func(from, count int) {
		b.StopTimer()
		start := time.Now()
		for i := from; i < from+count; i++ {
			post(b, client, bareSrv.URL+"/v1/verify", bodies[i%len(bodies)])
		}
		bare += time.Since(start)
		nBare += count
		b.StartTimer()
	}
	blockStart := time.Now()
	for b.Loop() {
		if n%block == 0 {
			if n > 0 {
				verify += time.Since(blockStart)
				if (n/block)%2 == 1 {
					runBare(n-block, block)
				}
			}
			if (n/block)%2 == 1 {
				runBare(n, block)
			}
			blockStart = time.Now()
		}
		if got := post(b, client, verifySrv.URL+"/v1/verify", bodies[n%len(bodies)]); !strings.HasPrefix(got, `{"allowed":true`) {
			b.Fatalf("verify answered %s", got)
		}
		n++
	}
	verify += time.Since(blockStart)
	if last := (n - 1) / block; last%2 == 0 {
		runBare(last*block, n-last*block)
	}
	perVerify := float64(verify) / float64(n)
	perBare := float64(bare) / float64(nBare)
	b.ReportMetric(perBare/perVerify, "x-throughput")
}

func post(b *testing.B, c *http.Client, url, body string) string {
	b.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}
