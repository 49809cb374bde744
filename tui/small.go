package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// Below MinWidth×MinHeight the console draws only a message asking for a
// larger window, and no key acts on what cannot be seen: d then y would
// otherwise delete an app through a dialog never drawn. A resize and
// ctrl+c are all that act; and while something would be lost (a key shown
// once and not copied, unsaved edits), ctrl+c does not quit either: the
// message says what would be lost, and everything is as it was once the
// window is large enough again.

// small reports whether the terminal is below the smallest the layout fits.
func (m *Model) small() bool { return m.c.termW < MinWidth || m.c.termH < MinHeight }

// isInput reports whether msg is something the person typed, pasted or
// clicked.
func isInput(msg tea.Msg) bool {
	switch msg.(type) {
	case tea.KeyPressMsg, tea.KeyReleaseMsg, tea.PasteMsg, tea.PasteStartMsg, tea.PasteEndMsg,
		tea.MouseClickMsg, tea.MouseReleaseMsg, tea.MouseWheelMsg, tea.MouseMotionMsg:
		return true
	}
	return false
}

// smallInput answers input while the window is too small: ctrl+c quits
// when nothing would be lost; everything else waits for a larger window.
func (m *Model) smallInput(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok || !key.Matches(km, m.c.keys.ForceQuit) {
		return nil
	}
	m.askedCC = false // a question asked before the window shrank is not in sight now
	if m.atStake() != "" {
		return nil
	}
	return tea.Quit
}

// atStake is what quitting now would lose, said by the dialog or the page,
// or "".
func (m *Model) atStake() string {
	for _, g := range []any{m.dialog, m.page} {
		if g, ok := g.(guard); ok {
			if s := g.atStake(); s != "" {
				return s
			}
		}
	}
	return ""
}

// tooSmall says the terminal is too small, and what would be lost by
// quitting now, in as few words as it takes to fit, however small it is.
func (m *Model) tooSmall() string {
	c, s := m.c, m.c.styles
	w := max(1, c.termW-2)
	lines := []string{s.Title.Render(truncate("Terminal too small", w))}
	for _, l := range wrap(fmt.Sprintf("%d×%d — apiscopes needs at least %d×%d.", c.termW, c.termH, MinWidth, MinHeight), w) {
		lines = append(lines, s.Hint.Render(l))
	}
	if stake := m.atStake(); stake != "" {
		for _, l := range wrap(stake+" Until then ctrl+c does not quit.", w) {
			lines = append(lines, s.Caution.Render(l))
		}
	} else {
		for _, l := range wrap("Enlarge the window, or press ctrl+c to quit.", w) {
			lines = append(lines, s.Hint.Render(l))
		}
	}
	if len(lines) > c.termH {
		lines = lines[:max(1, c.termH)]
	}
	return lipgloss.Place(c.termW, c.termH, lipgloss.Center, lipgloss.Center, lipgloss.JoinVertical(lipgloss.Center, lines...))
}

// The pages and dialogs that have something to lose.
var (
	_ guard = (*keyDialog)(nil)
	_ guard = (*rollDialog)(nil)
	_ guard = (*appForm)(nil)
)
