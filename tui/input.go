package tui

import (
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// newInput is a one-line name field in the console's style: no prompt and
// a steady cursor (goldens stay stable). It takes more than a name may hold,
// so that a name pasted too long is seen and said to be so (nameLimit)
// rather than cut without a word; the bound only keeps a huge paste out.
func newInput(s *Styles, placeholder string) textinput.Model {
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = placeholder
	ti.CharLimit = 16 * store.MaxNameLen
	st := textinput.DefaultStyles(s.isDark)
	if !s.colour {
		plain := lipgloss.NewStyle()
		st.Focused = textinput.StyleState{Placeholder: plain, Suggestion: plain, Prompt: plain, Text: plain}
		st.Blurred = st.Focused
		st.Cursor.Color = lipgloss.NoColor{}
	}
	st.Cursor.Blink = false
	st.Focused.Placeholder = lipgloss.NewStyle().Foreground(s.Muted)
	st.Blurred.Placeholder = lipgloss.NewStyle().Foreground(s.Muted)
	ti.SetStyles(st)
	return ti
}

// field draws an input inside an underline-style frame that shows focus:
// in the accent colour, or heavy where there is no colour.
func (s *Styles) field(view string, width int, focused bool) string {
	st := lipgloss.NewStyle().Border(lipgloss.NormalBorder(), false, false, true, false).
		BorderForeground(s.Subtle).Width(width)
	switch {
	case focused && s.plain:
		st = st.Border(lipgloss.ThickBorder(), false, false, true, false)
	case focused:
		st = st.BorderForeground(s.Accent)
	}
	return st.Render(view)
}
