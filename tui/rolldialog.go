package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// rollDialog is "Roll API key": a new key for the same app replaces the
// selected one, which keeps working for a grace period so that services can
// move to the new key, and is then deleted. Roll Key shows the new key once,
// with Copy and Close, as Generate Key does.
type rollDialog struct {
	c     *common
	app   store.App
	old   store.Key
	copy  Clipboard
	grace int // index into graceChoices
	focus int // 0 the grace choices, 1 Cancel, 2 Roll Key
	err   string

	// rolling: Roll Key is with the store. Nothing closes the dialog
	// meanwhile: the new key is shown when it comes (with the question
	// about quitting, if ctrl+c came in between).
	rolling    bool
	closeAfter bool
	quitAfter  bool
}

// graceChoice is how long a rolled key keeps working.
type graceChoice struct {
	label string
	grace time.Duration
}

var graceChoices = []graceChoice{
	{"Now", 0}, {"In 1 hour", time.Hour}, {"In 24 hours", 24 * time.Hour}, {"In 7 days", 7 * 24 * time.Hour},
}

// defaultGrace is 24 hours: long enough to update a service's settings,
// short enough that a leaked key does not live on for long.
const defaultGrace = 2

func (d *rollDialog) Update(msg tea.Msg) tea.Cmd {
	if msg, ok := msg.(keyRolledMsg); ok {
		return d.rolled(msg)
	}
	km, ok := msg.(tea.KeyPressMsg)
	if d.rolling {
		if ok && key.Matches(km, d.c.keys.Back) {
			d.closeAfter = true
		}
		return nil // the new key comes first
	}
	if !ok {
		return nil
	}
	k := d.c.keys
	switch {
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case key.Matches(km, k.Next):
		d.focus = (d.focus + 1) % 3
	case key.Matches(km, k.Prev):
		d.focus = (d.focus + 2) % 3
	case d.focus == 0 && key.Matches(km, k.Left):
		d.grace = (d.grace + len(graceChoices) - 1) % len(graceChoices)
	case d.focus == 0 && key.Matches(km, k.Right, k.Toggle):
		d.grace = (d.grace + 1) % len(graceChoices)
	case d.focus > 0 && key.Matches(km, k.Left, k.Right):
		d.focus = 3 - d.focus
	case key.Matches(km, k.Enter):
		if d.focus == 1 {
			return d.c.post(closeDialogMsg{})
		}
		return d.roll()
	}
	return nil
}

// roll asks the store for the new key.
func (d *rollDialog) roll() tea.Cmd {
	d.rolling, d.err = true, ""
	st, actor, appID, oldID, grace := d.c.store, d.c.actor, d.app.ID, d.old.ID, graceChoices[d.grace].grace
	return d.c.write(func() tea.Msg {
		text, newKey, oldKey, err := st.RollKey(actor, oldID, grace)
		return keyRolledMsg{appID: appID, text: text, newKey: newKey, oldKey: oldKey, err: err}
	})
}

// rolled replaces this dialog with the one that shows the new key once.
func (d *rollDialog) rolled(msg keyRolledMsg) tea.Cmd {
	if !d.rolling {
		return nil
	}
	d.rolling = false
	if msg.err != nil {
		d.err, d.quitAfter, d.closeAfter = describe(msg.err), false, false
		return nil
	}
	note := fmt.Sprintf("The old key %q (%s) was deleted.", clean(d.old.Name), clean(d.old.Hint))
	if !msg.oldKey.Deleting(msg.newKey.CreatedAt) {
		note = fmt.Sprintf("The old key %q (%s) works until it is deleted %s.", clean(d.old.Name), clean(d.old.Hint),
			d.c.when(d.c.now(), msg.oldKey.DeleteAt))
	}
	shown := newShownKeyDialog(d.c, d.app, d.copy, "API key rolled", msg.text, msg.newKey, note)
	shown.quitAfter, shown.closeAfter = d.quitAfter, d.closeAfter
	return tea.Batch(d.c.post(openDialogMsg{shown}), shown.afterShown())
}

func (d *rollDialog) busy() string {
	if d.rolling {
		return "Rolling the key…"
	}
	return ""
}

// quitting holds ctrl+c while the new key is on its way.
func (d *rollDialog) quitting() (tea.Cmd, quitAnswer) {
	if d.rolling {
		d.quitAfter = true
		return nil, quitHeld
	}
	return nil, quitFree
}

func (d *rollDialog) View() string {
	s, w := d.c.styles, d.c.dialogWidth()
	lines := []string{s.DialogTitle.Render("Roll API key"), s.Hint.Render("for " + truncate(clean(d.app.Name), w-4)), ""}
	lines = append(lines, wrap(fmt.Sprintf("A new key replaces %q (%s). Until the old key is deleted both work, so services can move to the new one.",
		clean(d.old.Name), clean(d.old.Hint)), w)...)
	lines = append(lines, "", "Delete the old key")
	lines = append(lines, radioRow(s, w, labels(graceChoices, func(g graceChoice) string { return g.label }), d.grace, d.focus == 0))
	switch {
	case d.err != "":
		lines = append(lines, "")
		lines = append(lines, wrapStyled(s.Error, d.err, w)...)
	case graceChoices[d.grace].grace == 0:
		lines = append(lines, "")
		lines = append(lines, wrapStyled(s.Caution, "Caution: The old key stops working at once. Services still using it are refused.", w)...)
	}
	roll := button{label: "Roll Key"}
	if d.rolling {
		roll = button{label: "Rolling…", disabled: true}
	}
	lines = append(lines, "", s.buttonRow(w, d.focus-1, button{label: "Cancel", disabled: d.rolling}, roll))
	return s.Dialog.Render(strings.Join(lines, "\n"))
}

func (d *rollDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	if d.focus == 0 {
		return []key.Binding{with(k.Next, "next field"), with(k.Right, "change"), with(k.Enter, "roll key"), with(k.Back, "cancel")}
	}
	return []key.Binding{with(k.Next, "switch"), with(k.Enter, "press"), with(k.Back, "cancel")}
}
