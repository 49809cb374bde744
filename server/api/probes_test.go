package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProbes: /livez says the process serves; /readyz, and /healthz which
// is the same, say the server can answer truthfully, and fail with 503 from
// the moment its store closes. The verify API and the metrics listener
// answer them alike.
func TestProbes(t *testing.T) {
	f := newFixture(t)
	metrics := httptest.NewServer(MetricsHandler(NewMetrics(f.st), f.st))
	defer metrics.Close()
	check := func(stage string, want map[string]int) {
		t.Helper()
		for path, status := range want {
			for _, base := range []string{f.srv.URL, metrics.URL} {
				if base == metrics.URL && path == "/healthz" {
					continue // the API's documented name; the metrics listener has the two probes
				}
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				a := do(t, req)
				wantBody := "ok"
				if status != http.StatusOK {
					wantBody = "unavailable"
				}
				if a.status != status || a.body["status"] != wantBody {
					t.Errorf("%s: %s%s = %d %s, want %d", stage, base, path, a.status, a.raw, status)
				}
			}
		}
	}
	check("open", map[string]int{"/livez": 200, "/readyz": 200, "/healthz": 200})
	f.st.Close()
	check("closed", map[string]int{"/livez": 200, "/readyz": 503, "/healthz": 503})
}
