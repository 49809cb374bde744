package etcd

import (
	"slices"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkPropagation measures how long a change made on one replica takes
// to reach another: from the moment SaveApp starts on replica A until
// replica B's Verify answers differently. Each iteration flips the app's
// scope and waits for B to see it; p50 and p99 are reported in
// milliseconds, ns/op is the mean. The bound a replica never exceeds is
// --max-staleness (past it, it answers unavailable instead).
func BenchmarkPropagation(b *testing.B) {
	prefix := newPrefix(b)
	a, _ := openStore(b, prefix)
	r, _ := openStore(b, prefix)
	app, err := a.CreateApp(b.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		b.Fatal(err)
	}
	text, _, err := a.CreateKey(b.Context(), admin, app.ID, "prod")
	if err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	for b.Loop() {
		next := scopes.NewSet(scopes.ModelExport)
		want := store.ScopeNotGranted
		if app.Scopes.Allows(scopes.ModelExport) {
			next, want = scopes.NewSet(scopes.ModelDeploy), store.Allowed
		}
		start := time.Now()
		if app, err = a.SaveApp(b.Context(), admin, app, app.Name, next); err != nil {
			b.Fatal(err)
		}
		for {
			if d, _ := r.Verify(text, scopes.ModelDeploy); d.Reason == want {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatal("replica B never saw the change")
			}
			time.Sleep(50 * time.Microsecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	ms := func(q float64) float64 { return float64(took[int(q*float64(len(took)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}
