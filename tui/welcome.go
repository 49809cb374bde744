package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Demo marks a console as a demonstration: the header carries a DEMO badge
// on every screen, and the console opens with a welcome that tells the
// story behind the demo's data.
type Demo struct {
	Title string
	Story []string // paragraphs
	Note  string   // shown last, in the warning colour: what happens to the data
}

// welcomeDialog shows a Demo's story; any of enter, esc or space closes it.
type welcomeDialog struct {
	c    *common
	demo *Demo
}

func (d *welcomeDialog) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyPressMsg); ok && key.Matches(km, d.c.keys.Enter, d.c.keys.Back, d.c.keys.Toggle) {
		return d.c.post(closeDialogMsg{})
	}
	return nil
}

func (d *welcomeDialog) View() string {
	s, w := d.c.styles, max(20, min(70, d.c.termW-10)) // a story reads better wide
	lines := []string{s.DialogTitle.Render(d.demo.Title)}
	for _, p := range d.demo.Story {
		lines = append(lines, "")
		lines = append(lines, wrap(p, w)...)
	}
	if d.demo.Note != "" {
		lines = append(lines, "")
		for _, l := range wrap(d.demo.Note, w) {
			lines = append(lines, s.Caution.Render(l))
		}
	}
	lines = append(lines, "", s.buttonRow(w, 0, button{label: "Start"}))
	return s.Dialog.Render(strings.Join(lines, "\n"))
}

func (d *welcomeDialog) ShortHelp() []key.Binding {
	return []key.Binding{with(d.c.keys.Enter, "start")}
}
