package tui

import (
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
)

// spinnerDelay is how long work may take before the console shows that it
// is busy: quicker work never makes the spinner flash.
const spinnerDelay = 100 * time.Millisecond

// spinnerState runs the header's spinner while the page is busy.
type spinnerState struct {
	label string // what the page waits for; "" when idle
	shown bool   // busy for longer than spinnerDelay
	frame int
	gen   int // bumped on every start and stop, to drop stale ticks
}

type spinnerMsg struct{ gen int }

var spinnerFrames = spinner.MiniDot.Frames

// watch starts or stops the spinner as the console becomes busy (label
// says with what) or idle ("").
func (sp *spinnerState) watch(label string) tea.Cmd {
	switch {
	case label != "" && sp.label == "":
		sp.label, sp.shown, sp.frame = label, false, 0
		sp.gen++
		return sp.tick(spinnerDelay)
	case label == "" && sp.label != "":
		sp.label, sp.shown = "", false
		sp.gen++
	default:
		sp.label = label
	}
	return nil
}

func (sp *spinnerState) tick(d time.Duration) tea.Cmd {
	gen := sp.gen
	return tea.Tick(d, func(time.Time) tea.Msg { return spinnerMsg{gen: gen} })
}

func (sp *spinnerState) update(msg spinnerMsg) tea.Cmd {
	if msg.gen != sp.gen || sp.label == "" {
		return nil
	}
	if sp.shown {
		sp.frame = (sp.frame + 1) % len(spinnerFrames)
	}
	sp.shown = true
	return sp.tick(spinner.MiniDot.FPS)
}

func (sp *spinnerState) view(s *Styles) string {
	if !sp.shown {
		return ""
	}
	return s.Check.Render(spinnerFrames[sp.frame]) + " " + s.Hint.Render(sp.label)
}
