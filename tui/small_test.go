package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// resize tells the console the terminal changed size. Messages are handled
// in order: the next shot is of the new size.
func (ct *consoleTest) resize(w, h int) {
	ct.t.Helper()
	ct.tm.Send(tea.WindowSizeMsg{Width: w, Height: h})
	if sh := ct.shot(); sh.w != w || sh.h != h {
		ct.t.Fatalf("the console is %d×%d after a resize to %d×%d", sh.w, sh.h, w, h)
	}
}

// TestNothingActsBelowTheMinimum: at 40×10 the console says the window is
// too small, and no key, paste or click acts on the screen nobody can see:
// d then y deletes nothing, esc esc n opens nothing. Grown back, it is as
// it was.
func TestNothingActsBelowTheMinimum(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 64, 18)
	ct.waitFor("› Customer Support")
	ct.resize(40, 10)
	s := ct.golden("small-40x10-nothing-at-stake", "Terminal too small")
	if !strings.Contains(strings.Join(strings.Fields(s), " "), "Enlarge the window, or press ctrl+c to quit.") {
		t.Errorf("the message does not say what to do:\n%s", s)
	}
	ct.press("d", "y", "esc", "esc", "n", "enter", "e", "q", "down", "a")
	ct.tm.Send(tea.PasteMsg{Content: "Marketing\r"})
	ct.tm.Send(tea.MouseClickMsg{X: 20, Y: 5, Button: tea.MouseLeft})
	ct.resize(64, 18)
	s = ct.waitFor("› Customer Support") // the list, its selection unmoved, no dialog
	if strings.Contains(s, "Delete app") || strings.Contains(s, "Untitled app") || strings.Contains(s, "Audit Log") {
		t.Errorf("a key pressed below the minimum acted:\n%s", s)
	}
	requireApps(t, st, 3)
}

// TestSmallWindowKeepsWhatWouldBeLost: with a key shown once and not
// copied, or unsaved edits, ctrl+c below the minimum does not quit, and
// arms no question behind the message: the message says what would be
// lost and to enlarge the window, and once it is large enough the key or
// the edits are there as they were.
func TestSmallWindowKeepsWhatWouldBeLost(t *testing.T) {
	t.Run("key", func(t *testing.T) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, 64, 18)
		ct.press("e", "c")
		ct.waitFor("Create new API key")
		ct.typeText("late-night")
		ct.press("enter")
		ct.waitFor("Copy and Close")
		ct.resize(40, 10)
		s := ct.golden("small-40x10-key-on-screen", "Terminal too small")
		if flat := strings.Join(strings.Fields(s), " "); !strings.Contains(flat, `"late-night" is on screen and not copied yet`) ||
			!strings.Contains(flat, "Until then ctrl+c does not quit.") {
			t.Errorf("the message does not say the key would be lost:\n%s", s)
		}
		ct.press("ctrl+c", "ctrl+c", "ctrl+c")
		ct.resize(64, 18)
		s = ct.waitFor("Copy and Close") // still running, the key in sight
		if strings.Contains(s, "without copying") {
			t.Errorf("ctrl+c below the minimum armed a question nobody saw:\n%s", s)
		}
		if !keyPattern.MatchString(s) {
			t.Errorf("the key is not on screen again:\n%s", s)
		}
		ct.press("ctrl+c") // at a size that shows it, ctrl+c asks as ever
		ct.waitFor("Quit without copying?")
	})
	t.Run("edits", func(t *testing.T) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := startConsole(t, st, testAdmin, 64, 18)
		ct.press("e", "shift+tab")
		ct.typeText(" Ops")
		ct.resize(40, 10)
		s := ct.golden("small-40x10-unsaved", "Terminal too small")
		if !strings.Contains(strings.Join(strings.Fields(s), " "), `Your changes to "Customer Support" are not saved`) {
			t.Errorf("the message does not say the edits would be lost:\n%s", s)
		}
		ct.press("ctrl+c", "ctrl+c", "esc", "enter")
		ct.resize(64, 18)
		s = ct.waitFor("Customer Support Ops")
		if strings.Contains(s, "Quit without saving?") || strings.Contains(s, "Discard") {
			t.Errorf("a question was armed below the minimum:\n%s", s)
		}
		ct.press("ctrl+c")
		ct.waitFor("Quit without saving?")
		ct.press("esc")
	})
	t.Run("nothing to lose", func(t *testing.T) {
		st := newTestStore(t)
		ct := startConsole(t, st, testAdmin, 64, 18)
		ct.waitFor("Create an API App")
		ct.resize(40, 10)
		ct.press("ctrl+c")
		ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
}
