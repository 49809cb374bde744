package tui

import (
	"strings"
	"testing"
)

// TestSpinner: the spinner shows only once work has outlasted its delay
// (the first tick), turns while busy, and goes when the work is done; a
// tick from an earlier busy spell changes nothing.
func TestSpinner(t *testing.T) {
	s := NewStyles(true)
	label := "Loading apps…"
	var sp spinnerState
	if cmd := sp.watch(label); cmd == nil {
		t.Fatal("busy, but no tick was scheduled")
	}
	if sp.view(s) != "" {
		t.Error("the spinner showed before its delay")
	}
	first := spinnerMsg{gen: sp.gen}
	if cmd := sp.update(first); cmd == nil || !strings.Contains(sp.view(s), "Loading apps…") {
		t.Errorf("after the delay: %q", sp.view(s))
	}
	frame := sp.view(s)
	sp.update(spinnerMsg{gen: sp.gen})
	if sp.view(s) == frame {
		t.Error("the spinner did not turn")
	}
	label = ""
	sp.watch(label)
	if sp.view(s) != "" {
		t.Error("the spinner stayed after the work was done")
	}
	label = "Loading the audit log…"
	sp.watch(label)
	if cmd := sp.update(first); cmd != nil || sp.view(s) != "" {
		t.Error("a stale tick showed the spinner early")
	}
}
