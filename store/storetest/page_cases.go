package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

var pageCases = []testCase{
	{"AppPagesForward", testAppPagesForward},
	{"AppPagesBackward", testAppPagesBackward},
	{"AppPagesFiltered", testAppPagesFiltered},
	{"AppPagesFollowChanges", testAppPagesFollowChanges},
	{"EventPages", testEventPages},
}

// pagedApps makes 30 apps, created in the reverse of their list order,
// alternately by two admins with two sets of scopes, and returns them in
// list order.
func pagedApps(t *testing.T, e *env) []store.App {
	t.Helper()
	var specs []store.AppSpec
	sets := []scopes.Set{scopes.NewSet(scopes.ModelExport), scopes.NewSet(scopes.GuardrailDeploy, scopes.WorkflowImport)}
	for i := range 30 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("App %02d", 29-i), Scopes: sets[i%2]})
	}
	if _, err := e.st.CreateApps(t.Context(), Admin, specs); err != nil {
		t.Fatal(err)
	}
	all, err := e.st.Apps(t.Context())
	if err != nil || len(all) != 30 {
		t.Fatalf("Apps() = %d apps, %v", len(all), err)
	}
	return all
}

// readAll follows pages of q from its start to the end of the list and
// returns the apps they held in list order, checking each page's offset
// among want when the query has no filter.
func readAll(t *testing.T, st *store.Store, q store.AppQuery, want []store.App) []store.App {
	t.Helper()
	var got []store.App
	for range 100 {
		p, err := st.AppPage(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != len(want) && q.Filter == "" && q.Match == nil {
			t.Errorf("Total = %d, want %d", p.Total, len(want))
		}
		if len(p.Apps) > q.Limit {
			t.Errorf("a page of %d holds %d apps", q.Limit, len(p.Apps))
		}
		if q.Filter == "" && q.Match == nil && len(p.Apps) > 0 {
			if i := slices.IndexFunc(want, func(a store.App) bool { return a.ID == p.Apps[0].ID }); i != p.Offset {
				t.Errorf("page from %+v: Offset %d, its first app is at %d", q.After, p.Offset, i)
			}
		}
		if !slices.IsSortedFunc(p.Apps, store.ByName) {
			t.Errorf("page %q is not in list order", names(p.Apps))
		}
		if q.Backward {
			got = append(slices.Clone(p.Apps), got...)
		} else {
			got = append(got, p.Apps...)
		}
		if !p.More {
			return got
		}
		if p.Next == q.After {
			t.Fatalf("a page from %+v with more to read does not move on", q.After)
		}
		q.After = p.Next
	}
	t.Fatal("pages never reach the end of the list")
	return nil
}

// AppPage reads the list order a page at a time, and AppCount counts it.
func testAppPagesForward(t *testing.T, e *env) {
	if p, err := e.st.AppPage(t.Context(), store.AppQuery{}); err != nil || len(p.Apps) != 0 || p.More || p.Total != 0 {
		t.Errorf("AppPage of a new store = %+v, %v", p, err)
	}
	all := pagedApps(t, e)
	for _, limit := range []int{1, 7, 30, 31} {
		got := readAll(t, e.st, store.AppQuery{Limit: limit}, all)
		if !slices.EqualFunc(got, all, appsEqual) {
			t.Errorf("pages of %d = %q, want %q", limit, names(got), names(all))
		}
	}
	p, err := e.st.AppPage(t.Context(), store.AppQuery{After: store.CursorOf(all[9]), Limit: 5})
	if err != nil || !slices.EqualFunc(p.Apps, all[10:15], appsEqual) || p.Offset != 10 || !p.More ||
		p.Next != store.CursorOf(all[14]) {
		t.Errorf("the page after %q = %q at %d (more %v), %v", all[9].Name, names(p.Apps), p.Offset, p.More, err)
	}
	if n, err := e.st.AppCount(t.Context()); n != 30 || err != nil {
		t.Errorf("AppCount = %d, %v", n, err)
	}
	// A cursor of an app that no longer exists still marks its place.
	gone := all[12]
	if err := e.st.DeleteApp(t.Context(), Admin, gone.ID); err != nil {
		t.Fatal(err)
	}
	p, err = e.st.AppPage(t.Context(), store.AppQuery{After: store.CursorOf(gone), Limit: 2})
	if err != nil || !slices.EqualFunc(p.Apps, all[13:15], appsEqual) || p.Offset != 12 {
		t.Errorf("the page after deleted %q = %q at %d, %v", gone.Name, names(p.Apps), p.Offset, err)
	}
}

// Backwards, pages end before the cursor, the zero cursor being the end.
func testAppPagesBackward(t *testing.T, e *env) {
	all := pagedApps(t, e)
	for _, limit := range []int{1, 7, 30} {
		got := readAll(t, e.st, store.AppQuery{Backward: true, Limit: limit}, all)
		if !slices.EqualFunc(got, all, appsEqual) {
			t.Errorf("pages of %d backwards = %q, want %q", limit, names(got), names(all))
		}
	}
	p, err := e.st.AppPage(t.Context(), store.AppQuery{Backward: true, Limit: 4})
	if err != nil || !slices.EqualFunc(p.Apps, all[26:], appsEqual) || p.Offset != 26 || !p.More {
		t.Errorf("the last page = %q at %d, %v", names(p.Apps), p.Offset, err)
	}
	p, err = e.st.AppPage(t.Context(), store.AppQuery{After: store.CursorOf(all[3]), Backward: true, Limit: 10})
	if err != nil || !slices.EqualFunc(p.Apps, all[:3], appsEqual) || p.Offset != 0 || p.More {
		t.Errorf("the page before %q = %q at %d (more %v), %v", all[3].Name, names(p.Apps), p.Offset, p.More, err)
	}
}

// A filtered page holds the apps whose name, creator or scopes contain the
// filter, and with Examine looks at no more apps than that.
func testAppPagesFiltered(t *testing.T, e *env) {
	all := pagedApps(t, e)
	bo := store.Actor{Name: "Bo Lindqvist", Role: store.Admin}
	if _, err := e.st.CreateApp(t.Context(), bo, "Zulu", scopes.NewSet(scopes.ModelDeploy)); err != nil {
		t.Fatal(err)
	}
	all, _ = e.st.Apps(t.Context())
	pick := func(keep func(store.App) bool) []store.App {
		var out []store.App
		for _, a := range all {
			if keep(a) {
				out = append(out, a)
			}
		}
		return out
	}
	hasText := func(q string) func(store.App) bool {
		return func(a store.App) bool { return strings.Contains(store.AppText(a), q) }
	}
	cases := []struct {
		filter string
		want   []store.App
	}{
		{"app 1", pick(hasText("app 1"))},         // names App 10–19
		{"  APP 2 ", pick(hasText("app 2"))},      // trimmed, any case
		{"guardrail", pick(hasText("guardrail"))}, // a scope's name
		{"model:export", pick(hasText("model:export"))},
		{"lindqvist", pick(hasText("lindqvist"))}, // the creator
		{"nothing like it", nil},
	}
	for _, c := range cases {
		if len(c.want) == 0 && c.filter != "nothing like it" {
			t.Fatalf("filter %q: the case finds nothing", c.filter)
		}
		for _, q := range []store.AppQuery{{Filter: c.filter, Limit: 4}, {Filter: c.filter, Limit: 3, Examine: 5},
			{Filter: c.filter, Limit: 3, Examine: 5, Backward: true}} {
			got := readAll(t, e.st, q, all)
			if !slices.EqualFunc(got, c.want, appsEqual) {
				t.Errorf("%+v = %q, want %q", q, names(got), names(c.want))
			}
		}
	}
	p, err := e.st.AppPage(t.Context(), store.AppQuery{Filter: "nothing like it", Examine: 5})
	if err != nil || len(p.Apps) != 0 || !p.More || p.Next != store.CursorOf(all[4]) {
		t.Errorf("a bounded page that finds nothing = %+v, %v; want to go on after %q", p, err, all[4].Name)
	}
	odd := func(a store.App) bool { return a.ID%2 == 1 }
	if got := readAll(t, e.st, store.AppQuery{Filter: "app", Match: odd, Limit: 4, Examine: 3}, all); !slices.EqualFunc(got,
		pick(func(a store.App) bool { return odd(a) && strings.Contains(store.AppText(a), "app") }), appsEqual) {
		t.Errorf("filter and Match = %q", names(got))
	}
}

// Pages show every change at once: a new app, a rename, a deletion, and a
// bulk load that moves many apps.
func testAppPagesFollowChanges(t *testing.T, e *env) {
	all := pagedApps(t, e)
	first := func() []string {
		t.Helper()
		p, err := e.st.AppPage(t.Context(), store.AppQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != len(p.Apps) {
			t.Errorf("Total %d with %d apps", p.Total, len(p.Apps))
		}
		return names(p.Apps)
	}
	first()
	e.app(t.Context(), "Aardvark", scopes.NewSet(scopes.ModelDeploy))
	if _, err := e.st.SaveApp(t.Context(), Admin, all[0], "Zebra", all[0].Scopes); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteApp(t.Context(), Admin, all[1].ID); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"Aardvark"}, names(all[2:])...)
	want = append(want, "Zebra")
	if got := first(); !slices.Equal(got, want) {
		t.Errorf("after a create, a rename and a delete: %q, want %q", got, want)
	}
	var specs []store.AppSpec
	for i := range 100 {
		specs = append(specs, store.AppSpec{Name: fmt.Sprintf("Bulk %03d", 99-i), Scopes: scopes.NewSet(scopes.ModelDeploy)})
	}
	if _, err := e.st.CreateApps(t.Context(), Admin, specs); err != nil {
		t.Fatal(err)
	}
	apps, _ := e.st.Apps(t.Context())
	if got := first(); !slices.Equal(got, names(apps)) {
		t.Errorf("after a bulk load: %q, want %q", got, names(apps))
	}
	if n, _ := e.st.AppCount(t.Context()); n != len(apps) {
		t.Errorf("AppCount = %d, want %d", n, len(apps))
	}
}

// Events reads the trail newest first, a page at a time, with a filter
// bounded by how many events it looks at.
func testEventPages(t *testing.T, e *env) {
	if p, err := e.st.Events(t.Context(), store.EventQuery{}); err != nil || len(p.Events) != 0 || p.More {
		t.Errorf("Events of a new store = %+v, %v", p, err)
	}
	pagedApps(t, e)
	app := e.app(t.Context(), "Keyed", scopes.NewSet(scopes.ModelDeploy))
	e.key(t.Context(), app.ID, "ci")
	all, err := e.st.Audit(t.Context())
	if err != nil || len(all) < 32 {
		t.Fatalf("Audit() = %d events, %v", len(all), err)
	}
	seqs := func(evs []store.Event) []uint64 {
		var out []uint64
		for _, ev := range evs {
			out = append(out, ev.Seq)
		}
		return out
	}
	read := func(q store.EventQuery) []store.Event {
		var got []store.Event
		for range 100 {
			p, err := e.st.Events(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Events) > max(q.Limit, 0) && q.Limit > 0 {
				t.Errorf("a page of %d holds %d events", q.Limit, len(p.Events))
			}
			got = append(got, p.Events...)
			if !p.More {
				return got
			}
			q.Before = p.Next
		}
		t.Fatal("pages never reach the oldest event")
		return nil
	}
	for _, limit := range []int{1, 5, len(all), len(all) + 1} {
		if got := read(store.EventQuery{Limit: limit}); !slices.Equal(seqs(got), seqs(all)) {
			t.Errorf("pages of %d = %v, want %v", limit, seqs(got), seqs(all))
		}
	}
	p, err := e.st.Events(t.Context(), store.EventQuery{Before: all[3].Seq, Limit: 2})
	if err != nil || !slices.Equal(seqs(p.Events), seqs(all[4:6])) || !p.More || p.Next != all[5].Seq {
		t.Errorf("the page before %d = %v (next %d), %v", all[3].Seq, seqs(p.Events), p.Next, err)
	}
	keyed := func(ev store.Event) bool { return ev.Action == store.ActionKeyCreate }
	if got := read(store.EventQuery{Match: keyed, Limit: 3, Examine: 4}); len(got) != 1 || got[0].Action != store.ActionKeyCreate {
		t.Errorf("the key's creation, found 4 events at a time: %v", seqs(got))
	}
	p, err = e.st.Events(t.Context(), store.EventQuery{Match: func(store.Event) bool { return false }, Examine: 4})
	if err != nil || len(p.Events) != 0 || !p.More || p.Next != all[3].Seq {
		t.Errorf("a bounded page that finds nothing = %+v, %v", p, err)
	}
}
