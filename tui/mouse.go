package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// The mouse works as the seed's clicks do: rows, buttons, tabs, checkboxes
// and dialog buttons answer a left click, the wheel scrolls. A click is
// resolved by the compositor's hit test over the areas the page, the
// navigation and the dialog drew (see Model.render): what is under the
// pointer is known by its id, never guessed from the text on screen.

// mouse handles a mouse message: a left click goes to the area under it (in
// the dialog only, while there is one); the wheel moves the selection or
// scrolls the dialog.
func (m *Model) mouse(msg tea.Msg) tea.Cmd {
	if m.small() {
		return nil
	}
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		var key tea.KeyPressMsg
		switch msg.Button {
		case tea.MouseWheelUp:
			key = tea.KeyPressMsg{Code: tea.KeyUp}
		case tea.MouseWheelDown:
			key = tea.KeyPressMsg{Code: tea.KeyDown}
		default:
			return nil
		}
		if m.dialog != nil {
			return m.dialog.Update(key)
		}
		return m.page.Update(key)
	case tea.MouseClickMsg:
		if msg.Button != tea.MouseLeft || m.hits == nil {
			return nil
		}
		hit := m.hits.Hit(msg.X, msg.Y)
		if hit.Empty() {
			return nil
		}
		id := hit.ID()
		if m.dialog != nil {
			if rest, ok := strings.CutPrefix(id, "d:"); ok {
				return m.dialog.click(rest)
			}
			return nil // the page under a dialog waits for it
		}
		if rest, ok := strings.CutPrefix(id, "n:"); ok {
			return m.clickNav(rest)
		}
		if rest, ok := strings.CutPrefix(id, "p:"); ok {
			return m.page.click(rest)
		}
	}
	return nil
}

// clickNav opens a page of the navigation. It leaves only the list pages:
// a form asks before it is left, and is left with its own buttons.
func (m *Model) clickNav(section string) tea.Cmd {
	f := m.page.frame()
	if f.typing || !f.quits || section == f.section {
		return nil
	}
	switch section {
	case sectionAudit:
		return m.c.post(showAuditMsg{})
	case sectionPolicy:
		return m.c.post(showPolicyMsg{})
	case sectionApprovals:
		return m.c.post(showApprovMsg{})
	}
	return m.c.post(showListMsg{})
}
