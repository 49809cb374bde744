package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// Each page's and dialog's answer to a click (see mouse.go): the same
// actions as its keys, reached by pointing.

// click on the app list: Create an App, Edit and Delete of the selected app,
// or a row — the first click selects it, a click on the selected row opens
// it.
func (l *appList) click(h hit) tea.Cmd {
	switch h.button {
	case "Create an App", "Create an API App":
		return l.create()
	case "Edit", "View":
		return l.edit()
	case "Delete":
		return l.confirmDelete()
	}
	if l.editing || len(l.idx.apps) == 0 {
		return nil
	}
	row := h.y - l.tableTop - 1 + l.offset
	if h.y <= l.tableTop || row >= l.rows.len() || row >= l.offset+l.drawn {
		return nil
	}
	if row == l.cursor && !l.onNew {
		return l.edit()
	}
	l.cursor, l.onNew = row, false
	return nil
}

// click on the Audit Log selects the event of a row.
func (a *auditLog) click(h hit) tea.Cmd {
	row := h.y - a.tableTop - 1 + a.offset
	if a.editing || h.y <= a.tableTop || row >= a.rows.len() || row >= a.offset+a.drawn {
		return nil
	}
	a.cursor = row
	return nil
}

// click on the new-app page or the configuration window: the title, a tab,
// a scope's checkbox, a key's row, or a button.
func (f *appForm) click(h hit) tea.Cmd {
	primary := "Next"
	if f.editing {
		primary = "Save"
	}
	switch h.button {
	case "Cancel":
		f.setFocus(fCancel)
		return f.leave()
	case primary:
		f.setFocus(fPrimary)
		return f.submit()
	case "Create API Key":
		f.setFocus(fCreateKey)
		return f.keys.create(f.app)
	case "Roll key":
		f.setFocus(fKeys)
		return f.keys.roll(f.app)
	case "Delete key":
		f.setFocus(fKeys)
		return f.keys.confirmDelete(f.app.Name)
	}
	if h.y <= 1 { // the title and its rule
		return f.setFocus(fTitle)
	}
	if f.editing && strings.Contains(h.line, tabNames[0]+" │") {
		for i, name := range tabNames {
			if spanAt(h.line, name, h.x) {
				f.tab = i
				return f.setFocus(fTabs)
			}
		}
		return nil
	}
	if !f.editing || f.tab == 0 {
		if i, ok := f.checks.at(h.line); ok {
			f.checks.cursor = i
			f.checks.set = f.checks.set.Toggle(f.checks.all[i].ID)
			f.err = ""
			return f.setFocus(fScopes)
		}
		return nil
	}
	if f.keys.table.clickRow(h.line) {
		return f.setFocus(fKeys)
	}
	return nil
}

// at finds the scope whose checkbox is on a drawn line.
func (c *checklist) at(line string) (int, bool) {
	for _, box := range []string{"[ ] ", "[x] "} {
		if i := strings.Index(line, box); i >= 0 {
			name := strings.TrimSpace(line[i+len(box):])
			for j, sc := range c.all {
				if sc.Name == name {
					return j, true
				}
			}
		}
	}
	return 0, false
}

// clickRow selects the key drawn on line, reporting whether there was one.
func (t *keyTable) clickRow(line string) bool {
	for i, k := range t.keys {
		name := []rune(clean(k.Name))
		if strings.Contains(line, clean(k.Hint)) && strings.Contains(line, string(name[:min(6, len(name))])) {
			t.cursor = i
			return true
		}
	}
	return false
}

// click on the key step: Create API Key, Done, or a key's row.
func (p *keyStep) click(h hit) tea.Cmd {
	switch h.button {
	case "Create API Key":
		p.focus = fCreateKey
		return p.keys.create(p.app)
	case "Done":
		p.focus = fPrimary
		return p.done()
	}
	if p.keys.table.clickRow(h.line) {
		p.focus = fKeys
	}
	return nil
}

// click on Create new API key: the name field, Cancel and Generate Key,
// then Copy and Close, and the two answers to "close without copying?".
func (d *keyDialog) click(h hit) tea.Cmd {
	enter := tea.KeyPressMsg{Code: tea.KeyEnter}
	switch {
	case d.leaving:
		switch h.button {
		case "Back to the key":
			d.leaveFocus = 0
		case "Close without copying":
			d.leaveFocus = 1
		default:
			return nil
		}
		return d.updateLeaving(enter)
	case d.secret != "":
		if h.button == "Copy and Close" {
			return d.updateShown(enter)
		}
		return nil
	}
	switch h.button {
	case "Cancel":
		d.setFocus(1)
		return d.updateNaming(enter)
	case "Generate Key":
		d.setFocus(2)
		return d.updateNaming(enter)
	}
	if strings.Contains(h.line, d.name.Value()) || strings.Contains(h.line, d.name.Placeholder) {
		return d.setFocus(0)
	}
	return nil
}

// click on a confirmation presses the button under it.
func (d *confirmDialog) click(h hit) tea.Cmd {
	cancel := d.cancel
	if cancel == "" {
		cancel = "Cancel"
	}
	switch h.button {
	case cancel:
		return d.c.post(closeDialogMsg{})
	case d.confirm:
		return d.yes()
	}
	return nil
}

// click on the demo's welcome: Start closes it.
func (d *welcomeDialog) click(h hit) tea.Cmd {
	if h.button == "Start" {
		return d.c.post(closeDialogMsg{})
	}
	return nil
}
