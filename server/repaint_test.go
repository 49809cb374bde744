package server

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// frames is a model that draws a new frame on every key.
type frames struct{ n int }

func (f *frames) Init() tea.Cmd { return nil }
func (f *frames) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(tea.KeyPressMsg); ok {
		f.n++
	}
	return f, nil
}
func (f *frames) View() tea.View { return tea.NewView(fmt.Sprint("frame ", f.n)) }

// isClear reports whether cmd is, or batches, tea.ClearScreen; ticks it
// holds are collected in ticks.
func isClear(cmd tea.Cmd, ticks *[]func() tea.Msg) bool {
	if cmd == nil {
		return false
	}
	if reflect.ValueOf(cmd).Pointer() == reflect.ValueOf(tea.ClearScreen).Pointer() {
		return true
	}
	switch m := cmd().(type) {
	case tea.BatchMsg:
		found := false
		for _, c := range m {
			found = isClear(c, ticks) || found
		}
		return found
	case tickMsg:
		*ticks = append(*ticks, m.f)
	}
	return false
}

type tickMsg struct{ f func() tea.Msg }

// TestRepaintBoundsTheFramesKept: a console drawing frame after frame is
// repainted whole every repaintEvery frames, and once it has been quiet
// after drawing more than one frame; a console that drew nothing new is
// never repainted.
func TestRepaintBoundsTheFramesKept(t *testing.T) {
	r := newRepainting(&frames{}, 0)
	r.after = func(d time.Duration, f func() tea.Msg) tea.Cmd {
		if d != repaintQuiet {
			t.Fatalf("quiet after %v", d)
		}
		return func() tea.Msg { return tickMsg{f} }
	}
	var ticks []func() tea.Msg
	step := func(msg tea.Msg) bool {
		_, cmd := r.Update(msg)
		r.View()
		return isClear(cmd, &ticks)
	}
	r.View() // the first frame
	key := tea.KeyPressMsg{Code: 'j'}
	repaints := 0
	for i := range 3 * repaintEvery {
		if step(key) {
			repaints++
			if (i+1)%repaintEvery != 0 {
				t.Fatalf("repainted after key %d", i+1)
			}
		}
	}
	if repaints != 3 {
		t.Fatalf("%d repaints in %d frames, want 3", repaints, 3*repaintEvery)
	}
	// Two more frames, then quiet: the quiet check sees frames drawn since
	// it was asked for and asks again; the next finds it quiet.
	step(key)
	step(key)
	for len(ticks) > 0 {
		tick := ticks[0]
		ticks = ticks[1:]
		if step(tick()) {
			repaints++
		}
	}
	if repaints != 4 {
		t.Fatalf("no repaint once quiet: %d", repaints)
	}
	// Nothing new drawn: nothing to repaint, however long.
	for range 3 {
		if step(tea.WindowSizeMsg{}) {
			t.Fatal("repainted a console that drew nothing new")
		}
	}
	for len(ticks) > 0 {
		tick := ticks[0]
		ticks = ticks[1:]
		if step(tick()) {
			t.Fatal("repainted on a quiet check with nothing new drawn")
		}
	}
}

// TestConsoleIsRepaintedWhole: over SSH, a console that has drawn
// repaintEvery frames clears and draws its screen whole again, which is
// what lets the renderer drop the frames before. (How many frames exactly
// is TestRepaintBoundsTheFramesKept's: a console may draw a frame of its
// own meanwhile, such as the rest of a list it loaded, so here the count
// of keystrokes only bounds it.)
func TestConsoleIsRepaintedWhole(t *testing.T) {
	alice := newUser(t, "Alice")
	// Only frames count here: a console going quiet for a moment (a slow
	// machine between two keys) must not repaint it meanwhile.
	ts := startServerWith(t, t.TempDir(), []user{alice}, nil, func(c *Config) { c.repaintQuiet = time.Hour })
	seedApps(t, ts.st, 40)
	ts.keepOutput = true
	c := ts.console(alice, TermSize{Width: 110, Height: 30})
	clears := func() int { return strings.Count(c.out.all(), "\x1b[H\x1b[2J") }
	first := clears()
	if err := c.scroll(repaintEvery + 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for clears() == first {
		if time.Now().After(deadline) {
			t.Fatalf("no repaint after %d frames", repaintEvery+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
