package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// focusRing is the order in which tab and shift+tab walk the parts of a
// form or dialog, and which part has the focus. Every form and dialog has
// one: the same keys move the same way everywhere, and the part with the
// focus is the one drawn as focused.
//
// Parts come and go (a key table with its last key, a date field with its
// choice); the focus stays on its part while the part is there, and moves to
// the nearest part after it when it goes.
type focusRing struct {
	parts []string
	cur   string
	// row lists parts that sit side by side, such as a row of buttons:
	// ← and → move between them.
	rows [][]string
}

// set replaces the parts, keeping the focus where it can.
func (r *focusRing) set(parts ...string) {
	old := r.parts
	r.parts = parts
	if slices.Contains(parts, r.cur) || len(parts) == 0 {
		return
	}
	if r.cur == "" {
		r.cur = parts[0]
		return
	}
	// The nearest part after the old one that is still there.
	if i := slices.Index(old, r.cur); i >= 0 {
		for _, p := range old[i+1:] {
			if slices.Contains(parts, p) {
				r.cur = p
				return
			}
		}
	}
	r.cur = parts[len(parts)-1]
}

// sideBySide says which parts sit in a row, for ← and →.
func (r *focusRing) sideBySide(rows ...[]string) { r.rows = rows }

// is reports whether part has the focus.
func (r *focusRing) is(part string) bool { return r.cur == part }

// focus moves the focus to part, if it is one; it reports whether it was.
func (r *focusRing) focus(part string) bool {
	if !slices.Contains(r.parts, part) {
		return false
	}
	r.cur = part
	return true
}

// step moves the focus by delta parts, wrapping around.
func (r *focusRing) step(delta int) {
	if len(r.parts) == 0 {
		return
	}
	i := max(0, slices.Index(r.parts, r.cur))
	r.cur = r.parts[(i+delta+len(r.parts)*2)%len(r.parts)]
}

// sideways moves the focus within its row by delta, reporting whether the
// focused part is in a row.
func (r *focusRing) sideways(delta int) bool {
	for _, row := range r.rows {
		var here []string
		for _, p := range row {
			if slices.Contains(r.parts, p) {
				here = append(here, p)
			}
		}
		if i := slices.Index(here, r.cur); i >= 0 {
			r.cur = here[(i+delta+len(here))%len(here)]
			return true
		}
	}
	return false
}

// move handles the keys that move the focus: tab and shift+tab always, ←
// and → within a row. It reports whether the key moved it.
func (r *focusRing) move(msg tea.KeyPressMsg, k KeyMap) bool {
	switch {
	case key.Matches(msg, k.Next):
		r.step(1)
	case key.Matches(msg, k.Prev):
		r.step(-1)
	case key.Matches(msg, k.Left) && msg.Key().Text == "":
		return r.sideways(-1)
	case key.Matches(msg, k.Right) && msg.Key().Text == "":
		return r.sideways(1)
	default:
		return false
	}
	return true
}
