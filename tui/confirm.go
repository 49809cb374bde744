package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// confirmDialog asks before something that cannot be undone. Cancel has the
// focus at first, so a stray enter never destroys anything.
type confirmDialog struct {
	c       *common
	title   string
	body    string   // what will happen, naming the thing
	detail  []string // drawn lines under the body, such as what a change affects
	caution string   // the consequence, shown in the warning colour
	confirm string   // the confirm button's label
	cancel  string
	danger  bool
	onYes   func() tea.Cmd
	focus   int // 0 cancel, 1 confirm
}

func (d *confirmDialog) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := d.c.keys
	switch {
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case key.Matches(km, k.Next, k.Prev, k.Left, k.Right):
		d.focus = 1 - d.focus
	case key.Matches(km, k.Yes):
		return d.yes()
	case key.Matches(km, k.Enter):
		if d.focus == 1 {
			return d.yes()
		}
		return d.c.post(closeDialogMsg{})
	}
	return nil
}

func (d *confirmDialog) yes() tea.Cmd {
	return tea.Batch(d.c.post(closeDialogMsg{}), d.onYes())
}

func (d *confirmDialog) View() string {
	s, w := d.c.styles, d.c.dialogWidth()
	lines := []string{s.DialogTitle.Render(d.title), ""}
	lines = append(lines, wrap(d.body, w)...)
	if len(d.detail) > 0 {
		lines = append(append(lines, ""), d.detail...)
	}
	if d.caution != "" {
		lines = append(lines, "")
		for _, l := range wrap(d.caution, w) {
			lines = append(lines, s.Caution.Render(l))
		}
	}
	cancel := d.cancel
	if cancel == "" {
		cancel = "Cancel"
	}
	lines = append(lines, "", s.buttonRow(w, d.focus, button{label: cancel}, button{label: d.confirm, danger: d.danger}))
	box := s.Dialog
	if d.danger {
		box = s.DialogDanger
	}
	return box.Render(strings.Join(lines, "\n"))
}

func (d *confirmDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	return []key.Binding{with(k.Next, "switch"), with(k.Enter, "press"), with(k.Yes, strings.ToLower(d.confirm)), with(k.Back, "cancel")}
}
