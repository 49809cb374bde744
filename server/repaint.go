package server

import (
	"cmp"
	"time"

	tea "charm.land/bubbletea/v2"
)

// Bubble Tea's renderer keeps what the terminal shows as cells whose text
// points into the frame it was drawn from, and a row that does not change
// keeps its frame alive: a screen whose rows were redrawn one frame at a
// time (someone scrolling down the list) holds on to a frame per row. At
// the PTY cap a frame is about 100 KB, so a session held up to 20 MB of old
// frames beside the renderer's own 22 MB of cells. A full repaint points
// every cell at the frame drawn then and lets the others go: the console is
// repainted once it has drawn repaintEvery frames since the last repaint,
// and once it goes quiet after drawing, so a session holds at most that
// many frames, and an idle one a single frame. A repaint sends the whole
// screen again, in one write.

const (
	repaintEvery = 16          // frames drawn before the screen is repainted whole
	repaintQuiet = time.Second // and once no frame was drawn for this long (up to twice it)
)

// repaintMsg asks for a repaint if no frame was drawn since frame gen.
type repaintMsg struct{ gen uint64 }

// repainting is a session's console, repainted whole now and then so that
// the renderer lets go of old frames.
type repainting struct {
	tea.Model
	after    func(time.Duration, func() tea.Msg) tea.Cmd // tea.Tick, or a test's clock
	quietFor time.Duration                               // repaintQuiet, or a test's

	frame   string // the last frame drawn
	gen     uint64 // frames drawn
	painted uint64 // frames drawn at the last repaint
	pending bool   // a quiet check is scheduled
}

func newRepainting(m tea.Model, quietFor time.Duration) *repainting {
	return &repainting{Model: m, quietFor: cmp.Or(quietFor, repaintQuiet), after: func(d time.Duration, f func() tea.Msg) tea.Cmd {
		return tea.Tick(d, func(time.Time) tea.Msg { return f() })
	}}
}

func (r *repainting) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if q, ok := msg.(repaintMsg); ok {
		r.pending = false
		switch {
		case q.gen != r.gen: // drawn since: wait for quiet again
			return r, r.quiet()
		case r.gen-r.painted > 1:
			return r, r.repaint()
		}
		return r, nil
	}
	m, cmd := r.Model.Update(msg)
	r.Model = m
	switch {
	case r.gen-r.painted >= repaintEvery:
		cmd = tea.Batch(cmd, r.repaint())
	case !r.pending && r.gen > r.painted:
		cmd = tea.Batch(cmd, r.quiet())
	}
	return r, cmd
}

// View counts the frames the console draws: a frame is a new string.
func (r *repainting) View() tea.View {
	v := r.Model.View()
	if v.Content != r.frame {
		r.frame = v.Content
		r.gen++
	}
	return v
}

func (r *repainting) repaint() tea.Cmd {
	r.painted = r.gen
	return tea.ClearScreen
}

func (r *repainting) quiet() tea.Cmd {
	r.pending = true
	gen := r.gen
	return r.after(r.quietFor, func() tea.Msg { return repaintMsg{gen: gen} })
}
