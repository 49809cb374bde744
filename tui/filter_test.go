package tui

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store"
)

// finish runs a filter's continuation steps as the program would.
func finish(f *filtered, cmd func() any) {
	for cmd != nil {
		msg, ok := cmd().(filterStepMsg)
		if !ok {
			return
		}
		next := f.step(msg)
		if next == nil {
			return
		}
		cmd = func() any { return next() }
	}
}

// TestFilteredMatchesAScan: whatever the sequence of queries (narrowing,
// widening, unrelated), the lazy filter ends with exactly the rows a plain
// scan finds, in order, and no step examines more than scanBudget rows.
func TestFilteredMatchesAScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "abcde"
	hay := make([]string, 5000)
	for i := range hay {
		b := make([]byte, 8)
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		hay[i] = string(b)
	}
	var f filtered
	f.setRows(hay)
	q := ""
	for range 300 {
		switch r.IntN(3) {
		case 0:
			q += string(alphabet[r.IntN(len(alphabet))])
		case 1:
			if q != "" {
				q = q[:len(q)-1]
			}
		default:
			q = string(alphabet[r.IntN(len(alphabet))])
		}
		changed := q != f.query
		cmd := f.setQuery(q)
		if changed && f.scanned > scanBudget {
			t.Fatalf("one keystroke examined %d rows", f.scanned)
		}
		if cmd != nil {
			finish(&f, func() any { return cmd() })
		}
		var want []int
		for i, h := range hay {
			if strings.Contains(h, q) {
				want = append(want, i)
			}
		}
		var got []int
		for i := range f.len() {
			got = append(got, f.at(i))
		}
		if !f.done() || (q != "" && !slices.Equal(got, want)) || (q == "" && f.len() != len(hay)) {
			t.Fatalf("query %q: %d rows, want %d (done %v)", q, len(got), len(want), f.done())
		}
	}
}

// TestManyApps: with more apps than the first page, the list draws the
// first page, loads the rest, and the filter finds an app from the end.
func TestManyApps(t *testing.T) {
	st := newTestStore(t)
	specs := make([]store.AppSpec, firstPage+300)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("Service %04d", i), Scopes: scopes.NewSet(scopes.ModelExport)}
	}
	if _, err := st.CreateApps(t.Context(), testAdmin, specs); err != nil {
		t.Fatal(err)
	}
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.waitFor("Service 0000")
	last := fmt.Sprintf("Service %04d", len(specs)-1)
	ct.press("/")
	ct.typeText(last[len(last)-4:])
	ct.waitFor(fmt.Sprintf("1 of %d apps", len(specs)))
	ct.press("enter")
	ct.waitFor("› " + last)
	ct.press("esc")
	ct.waitFor("› " + last) // clearing the filter keeps the selection
	ct.press("g")
	ct.waitFor("› Service 0000")
	ct.press("G")
	ct.waitFor("› " + last)
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10003: "10,003", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
