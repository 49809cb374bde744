package tui

import (
	"strings"
	"testing"

	"apiscopes/store"
)

var testViewer = store.Actor{Name: "victor", Role: store.Viewer}

// TestViewersSeeWhyTheyCannotWrite: a viewer's write buttons are drawn
// disabled with the reason beside them, and the focus never lands on them.
func TestViewersSeeWhyTheyCannotWrite(t *testing.T) {
	forSizes(t, "viewer", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testViewer, w, h)
		s := ct.golden(name("list"), "[ Create an App ]")
		if line := rowOf(s, "[ Create an App ]"); !strings.Contains(line, "viewers cannot change apps") {
			t.Errorf("the disabled Create button does not say why: %q", line)
		}
		ct.walkFocus("a viewer's list")
		for range 3 {
			ct.press("tab")
			if f := ct.settled().focus; f == "p:"+partCreate || f == "p:"+partDelete {
				t.Errorf("the focus landed on the disabled %s", f)
			}
		}

		ct.press("e", "right", "tab")
		s = ct.waitFor("Read-only: viewers can look but not change anything.")
		if w >= 80 && !strings.Contains(rowOf(s, "[ Create API Key ]"), "viewers cannot change keys") {
			t.Errorf("the disabled key buttons do not say why:\n%s", s)
		}
		ct.walkFocus("a viewer's keys")
	})
}

// TestViewerWithNoApps: the empty list offers a viewer its button disabled,
// with the reason under it.
func TestViewerWithNoApps(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testViewer, 80, 24)
	ct.golden("viewer-80x24-empty", "viewers cannot change apps: ask an admin")
	ct.press("enter")
	ct.waitFor("Not allowed: viewers can't create apps.")
}
