package gateways

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkNginx measures the whole path a request takes through nginx
// with docs/gateways.md's configuration — nginx, auth_request to
// apiscopes's /v1/auth, then the upstream — against nginx proxying the same
// upstream without auth, in the same run:
//
//   - x-throughput: the most requests a second wrk gets through each, the
//     first as a share of the second (goal 0.5 or more);
//   - p99-added-µs: at a fixed offered load of half the baseline's most,
//     sent by an open-loop generator (each latency counted from when its
//     request was due), the 99th percentile with auth less the one without
//     (goal 1 ms or less on loopback); p99-bare-µs is the baseline's own,
//     which says whether the machine kept up with the load at all;
//   - p99-added-at-500/s-µs: the same at 500 requests a second.
//
// It needs nginx and wrk, and skips without them. Run it once:
// go test ./server/gateways -run '^$' -bench Nginx -benchtime 1x
func BenchmarkNginx(b *testing.B) {
	need(b, "nginx")
	wrk := need(b, "wrk")
	w := newWorld(b)
	base := freeAddr(b)
	// The baseline proxies to the same upstream block, kept-alive alike.
	gw := startNginxWith(b, w, fmt.Sprintf("server {\n  listen %s;\n  location / {\n    proxy_http_version 1.1;\n"+
		"    proxy_set_header Connection \"\";\n    proxy_pass http://workflows;\n  }\n}\n", base))
	authURL, baseURL := "http://"+gw.addr+"/workflows/42", "http://"+base+"/workflows/42"
	header := "Authorization: Bearer " + w.key
	for _, u := range []string{authURL, baseURL} {
		if r := send(b, u[len("http://"):len(u)-len("/workflows/42")], "GET", "/workflows/42", "Authorization", "Bearer "+w.key); r.status != 200 {
			b.Fatalf("%s answered %d", u, r.status)
		}
	}

	for b.Loop() {
		var authRPS, baseRPS float64
		for range 2 { // alternating, so both see the same machine
			baseRPS += runWrk(b, wrk, baseURL, header)
			authRPS += runWrk(b, wrk, authURL, header)
		}
		b.ReportMetric(authRPS/baseRPS, "x-throughput")
		b.ReportMetric(authRPS/2, "auth-req/s")
		b.ReportMetric(baseRPS/2, "bare-req/s")

		rate := baseRPS / 2 / 2                           // half the baseline's most
		openLoopP99(b, baseURL, w.key, rate, time.Second) // warm both up: connections, caches
		openLoopP99(b, authURL, w.key, rate, time.Second)
		p99Base := openLoopP99(b, baseURL, w.key, rate, 3*time.Second)
		p99Auth := openLoopP99(b, authURL, w.key, rate, 3*time.Second)
		b.ReportMetric(float64((p99Auth - p99Base).Microseconds()), "p99-added-µs")
		b.ReportMetric(float64(p99Base.Microseconds()), "p99-bare-µs")
		b.ReportMetric(rate, "offered-req/s")

		// And at a light load, where the machine is not what is measured.
		light := openLoopP99(b, authURL, w.key, 500, 3*time.Second) - openLoopP99(b, baseURL, w.key, 500, 3*time.Second)
		b.ReportMetric(float64(light.Microseconds()), "p99-added-at-500/s-µs")
	}
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk drives url as hard as wrk can for three seconds, with 2 threads
// and 32 connections, and returns the requests a second it saw answered.
func runWrk(b *testing.B, wrk, url, header string) float64 {
	b.Helper()
	out, err := exec.Command(wrk, "-t2", "-c32", "-d3s", "-H", header, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if regexp.MustCompile(`Non-2xx`).Match(out) {
		b.Fatalf("wrk saw refusals:\n%s", out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk said:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps
}

// openLoopP99 sends GET url at rate requests a second for d, each due at
// its own time whatever the answers before it, and returns the 99th
// percentile of the latencies, each counted from when its request was due
// (a late start is latency too). 64 senders, each on its own keep-alive
// connection, take the requests in turn.
func openLoopP99(b *testing.B, url, key string, rate float64, d time.Duration) time.Duration {
	b.Helper()
	const senders = 64
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now().Add(10 * time.Millisecond)
	for k := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			for i := k; i < n; i += senders {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Do(func() { b.Errorf("a request at the offered load failed: %v", err) })
				}
				lat[i] = time.Since(due)
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}
