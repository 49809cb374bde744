package tui

import (
	"fmt"
	"strconv"
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
	c      *common
	app    store.App
	old    store.Key
	copy   Clipboard
	grace  int // index into graceChoices
	focus  focusRing
	err    string
	scroll int

	// rolling: Roll Key is with the store. Nothing closes the dialog
	// meanwhile: the new key is shown when it comes (with the question
	// about leaving, if esc or ctrl+c came in between).
	rolling    bool
	closeAfter bool
	quitAfter  bool

	// free: the reader scrolled with ↑/↓, so the body stays where they
	// put it until the focus moves.
	free bool
}

// The roll dialog's parts.
const (
	rdGrace  = "grace"
	rdCancel = "cancel"
	rdRoll   = "roll"
	graceP   = "grace:"
)

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

func newRollDialog(c *common, app store.App, old store.Key, copy Clipboard) *rollDialog {
	d := &rollDialog{c: c, app: app, old: old, copy: copy, grace: defaultGrace}
	d.focus.set(rdGrace, rdCancel, rdRoll)
	d.focus.sideBySide([]string{rdCancel, rdRoll})
	return d
}

func (d *rollDialog) focused() string {
	if d.focus.is(rdGrace) {
		return graceP + strconv.Itoa(d.grace)
	}
	return d.focus.cur
}

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
	d.free = key.Matches(km, k.Up, k.Down)
	switch {
	case key.Matches(km, k.Up):
		d.scroll--
	case key.Matches(km, k.Down):
		d.scroll++
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case d.focus.is(rdGrace) && key.Matches(km, k.Left):
		d.grace = (d.grace + len(graceChoices) - 1) % len(graceChoices)
	case d.focus.is(rdGrace) && key.Matches(km, k.Right, k.Toggle):
		d.grace = (d.grace + 1) % len(graceChoices)
	case d.focus.move(km, k):
	case key.Matches(km, k.Enter):
		if d.focus.is(rdCancel) {
			return d.c.post(closeDialogMsg{})
		}
		return d.roll()
	}
	return nil
}

func (d *rollDialog) click(id string) tea.Cmd {
	if d.rolling {
		return nil
	}
	if n, ok := strings.CutPrefix(id, graceP); ok {
		d.grace, _ = strconv.Atoi(n)
		d.focus.focus(rdGrace)
		return nil
	}
	if d.focus.focus(id) && id != rdGrace {
		return d.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
	}
	return nil
}

// roll asks the store for the new key.
func (d *rollDialog) roll() tea.Cmd {
	d.rolling, d.err = true, ""
	st, actor, appID, oldID, grace := d.c.store, d.c.actor, d.app.ID, d.old.ID, graceChoices[d.grace].grace
	ctx := d.c.ctx
	return d.c.write(func() tea.Msg {
		text, newKey, oldKey, err := st.RollKey(ctx, actor, oldID, grace)
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

// atStake says a new key would be lost while it is on its way.
func (d *rollDialog) atStake() string {
	if d.rolling {
		return "A new API key is being generated: enlarge the window to copy it."
	}
	return ""
}

func (d *rollDialog) draw() drawing {
	b := d.box()
	return d.c.box(b, &d.scroll)
}

// box is the dialog's parts. Unless the reader scrolled, the focus and,
// when Now is chosen, the warning under it stay in sight.
func (d *rollDialog) box() dialogBox {
	s, w := d.c.styles, d.c.dialogWidth()
	var b dialogBox
	b.keep, b.focus = -1, d.focused()
	if d.free {
		b.focus = ""
	}
	b.head.add(s.DialogTitle.Render("Roll API key"), s.Hint.Render(truncate("for "+clean(d.app.Name), w)), "")
	b.body.add(wrap(fmt.Sprintf("A new key replaces %q (%s). Until the old key is deleted both work, so services can move to the new one.",
		clean(d.old.Name), clean(d.old.Hint)), w)...)
	b.body.add("", "Delete the old key")
	row, areas := radioRow(s, w, labels(graceChoices, func(g graceChoice) string { return g.label }), d.grace, d.focus.is(rdGrace))
	y := b.body.height()
	for _, a := range areas {
		b.body.mark(graceP+strconv.Itoa(a.n), a.x, y+a.y, a.w, 1)
	}
	b.body.add(row)
	switch {
	case d.err != "":
		b.body.add("")
		b.body.add(wrapStyled(s.Error, d.err, w)...)
	case graceChoices[d.grace].grace == 0:
		b.body.add("")
		b.body.add(wrapStyled(s.Caution, "Caution: The old key stops working at once. Services still using it are refused.", w)...)
		if !d.free {
			b.keep = b.body.height() - 1
		}
	}
	roll := button{id: rdRoll, label: "Roll Key"}
	if d.rolling {
		roll = button{id: rdRoll, label: "Rolling…", disabled: true}
	}
	b.foot.add("")
	b.foot.buttons(s, w, d.focus.cur, button{id: rdCancel, label: "Cancel", disabled: d.rolling}, roll)
	return b
}

func (d *rollDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	switch {
	case d.rolling:
		return []key.Binding{with(k.Back, "close once shown")}
	}
	b := []key.Binding{with(k.Next, "switch"), with(k.Enter, "press")}
	if d.focus.is(rdGrace) {
		b = []key.Binding{with(k.Next, "next field"), with(k.Right, "change"), with(k.Enter, "roll key")}
	}
	if d.c.scrolls(d.box()) {
		b = append(b, with(k.Down, "scroll"))
	}
	return append(b, with(k.Back, "cancel"))
}
