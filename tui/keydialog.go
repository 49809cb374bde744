package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// keyDialog is "Create new API key": a name, Generate Key, then the key
// shown exactly once with Copy and Close. Closing without copying asks first.
type keyDialog struct {
	c     *common
	app   store.App
	copy  Clipboard
	name  textinput.Model
	focus int // naming: 0 name, 1 Cancel, 2 Generate Key; shown: always Copy and Close
	err   string

	secret  string // the key text, held only until the dialog closes
	created store.Key

	leaving    bool // asking "close without copying?"
	leaveFocus int  // 0 back to the key, 1 close without copying

	// sent: the key went to the terminal with OSC 52, which a terminal may
	// ignore without telling anyone, so the key stays on screen until the
	// user closes the dialog.
	sent bool
}

func newKeyDialog(c *common, app store.App, copy Clipboard) (*keyDialog, tea.Cmd) {
	d := &keyDialog{c: c, app: app, copy: copy, name: newInput(c.styles, "e.g. reports-prod")}
	d.name.SetWidth(c.dialogWidth() - 1)
	return d, d.name.Focus()
}

func (d *keyDialog) Update(msg tea.Msg) tea.Cmd {
	if msg, ok := msg.(copiedMsg); ok {
		return d.copied(msg)
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if d.focus == 0 && d.secret == "" {
			var cmd tea.Cmd
			d.name, cmd = d.name.Update(msg) // paste, cursor messages
			return cmd
		}
		return nil
	}
	switch {
	case d.leaving:
		return d.updateLeaving(km)
	case d.secret != "":
		return d.updateShown(km)
	}
	return d.updateNaming(km)
}

func (d *keyDialog) updateNaming(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case key.Matches(km, k.Next):
		return d.setFocus((d.focus + 1) % 3)
	case key.Matches(km, k.Prev):
		return d.setFocus((d.focus + 2) % 3)
	case key.Matches(km, k.Enter):
		if d.focus == 1 {
			return d.c.post(closeDialogMsg{})
		}
		return d.generate()
	case d.focus != 0 && key.Matches(km, k.Left, k.Right):
		return d.setFocus(3 - d.focus)
	case d.focus == 0:
		var cmd tea.Cmd
		d.name, cmd = d.name.Update(km)
		d.err = ""
		return cmd
	}
	return nil
}

func (d *keyDialog) setFocus(f int) tea.Cmd {
	d.focus = f
	if f == 0 {
		return d.name.Focus()
	}
	d.name.Blur()
	return nil
}

// generate creates the key in the store; from here on the key exists and
// works, so the dialog will not close without asking.
func (d *keyDialog) generate() tea.Cmd {
	text, k, err := d.c.store.CreateKey(d.c.actor, d.app.ID, d.name.Value())
	if err != nil {
		d.err = describe(err)
		return d.setFocus(0)
	}
	d.secret, d.created = text, k
	d.name.Blur()
	return d.c.post(dataChangedMsg{})
}

func (d *keyDialog) updateShown(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(km, k.Enter) && d.sent, key.Matches(km, k.Back) && d.sent:
		return d.close()
	case key.Matches(km, k.Enter):
		return d.copy(d.secret)
	case key.Matches(km, k.Back):
		d.leaving, d.leaveFocus = true, 0
	}
	return nil
}

// copied follows the clipboard's answer: a system clipboard is certain, so
// the dialog closes; OSC 52 may not be, so the key stays until closed.
func (d *keyDialog) copied(msg copiedMsg) tea.Cmd {
	if d.secret == "" {
		return nil
	}
	if msg.where == copiedToSystem {
		return d.close()
	}
	d.sent = true
	return nil
}

// close forgets the key and closes the dialog.
func (d *keyDialog) close() tea.Cmd {
	d.secret = ""
	return d.c.post(closeDialogMsg{})
}

func (d *keyDialog) updateLeaving(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(km, k.Back):
		d.leaving = false
	case key.Matches(km, k.Next, k.Prev, k.Left, k.Right):
		d.leaveFocus = 1 - d.leaveFocus
	case key.Matches(km, k.Enter):
		if d.leaveFocus == 0 {
			d.leaving = false
			return nil
		}
		d.secret = ""
		return tea.Batch(d.c.post(closeDialogMsg{}), toast("API key %q created; it was not copied", d.created.Name))
	}
	return nil
}

func (d *keyDialog) View() string {
	s, w := d.c.styles, d.c.dialogWidth()
	lines := []string{s.DialogTitle.Render("Create new API key"), s.Hint.Render("for " + truncate(clean(d.app.Name), w-4)), ""}
	switch {
	case d.secret == "":
		lines = append(lines, "Name", s.field(d.name.View(), w, d.focus == 0))
		lines = strings.Split(strings.Join(lines, "\n"), "\n")
		if d.err != "" {
			lines = append(lines, wrapStyled(s.Error, d.err, w)...)
		} else {
			lines = append(lines, s.Hint.Render("Name it after the service or person that will use it."))
		}
		lines = append(lines, "", s.buttonRow(w, d.focus-1, button{label: "Cancel"}, button{label: "Generate Key"}))
	case d.leaving:
		lines = append(lines, s.Title.Render("Close without copying?"), "")
		lines = append(lines, wrapStyled(s.Caution, "This key will never be shown again. If you lose it, you'll need to delete it and generate a new one.", w)...)
		lines = append(lines, "", s.buttonRow(w, d.leaveFocus, button{label: "Back to the key"}, button{label: "Close without copying", danger: true}))
	default:
		lines = append(lines, s.Text.Render(clean(d.created.Name)), s.Secret.Render(d.secret), "")
		if d.sent {
			lines = append(lines, wrapStyled(s.Caution, "Sent to your terminal's clipboard with OSC 52. If your terminal does not support it, select the key above and copy it now: it is not shown again.", w)...)
			lines = append(lines, "", s.buttonRow(w, 0, button{label: "Close"}))
			break
		}
		lines = append(lines, wrapStyled(s.Caution, "For security reasons, the API key is only shown once and is not stored or displayed again. Copy and save it in a secure location.", w)...)
		lines = append(lines, "", s.buttonRow(w, 0, button{label: "Copy and Close"}))
	}
	return s.Dialog.Render(strings.Join(lines, "\n"))
}

func (d *keyDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	switch {
	case d.leaving:
		return []key.Binding{with(k.Next, "switch"), with(k.Enter, "press"), with(k.Back, "back to the key")}
	case d.sent:
		return []key.Binding{with(k.Enter, "close"), with(k.Back, "close")}
	case d.secret != "":
		return []key.Binding{with(k.Enter, "copy and close"), with(k.Back, "close")}
	}
	return []key.Binding{with(k.Next, "next field"), with(k.Enter, "generate key"), with(k.Back, "cancel")}
}

// wrapStyled wraps text to width and styles each line.
func wrapStyled(st lipgloss.Style, text string, width int) []string {
	var out []string
	for _, l := range wrap(text, width) {
		out = append(out, st.Render(l))
	}
	return out
}
