package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// keyDialog is "Create new API key": a name, an expiry, Generate Key, then
// the key shown exactly once with Copy and Close. Closing without copying
// asks first. A roll opens it straight at the key, with its own title.
type keyDialog struct {
	c      *common
	app    store.App
	copy   Clipboard
	name   textinput.Model
	expiry int             // index into expiryChoices
	date   textinput.Model // the date, when the expiry is "Date"
	focus  int             // naming: one of the kd* fields; shown: always Copy and Close
	err    string

	title   string // "Create new API key" unless a roll made the key
	note    string // under the key once shown, e.g. what happens to a rolled key
	secret  string // the key text, held only until the dialog closes
	created store.Key

	leaving    bool // asking "close without copying?"
	leaveFocus int  // 0 back to the key, 1 close without copying
	quit       bool // the question is ctrl+c's: quit without copying?

	// generating: Generate Key is with the store. Nothing closes the dialog
	// meanwhile; the key is shown when it comes, and closeAfter (esc) or
	// quitAfter (ctrl+c) says it comes with the question about leaving.
	generating bool
	closeAfter bool
	quitAfter  bool

	// sent: the key went to the terminal with OSC 52, which a terminal may
	// ignore without telling anyone, so the key stays on screen until the
	// user closes the dialog.
	sent bool
}

// The fields of the naming step, in tab order.
const (
	kdName = iota
	kdExpiry
	kdDate // only when the expiry is "Date"
	kdCancel
	kdGenerate
)

// expiryChoice is one answer to "Expires": after a number of days, never
// (zero), or on a date the admin types (-1).
type expiryChoice struct {
	label string
	after time.Duration
}

const dateChoice = -1

var expiryChoices = []expiryChoice{
	{"Never", 0}, {"7 days", 7 * 24 * time.Hour}, {"30 days", 30 * 24 * time.Hour},
	{"90 days", 90 * 24 * time.Hour}, {"Date", dateChoice},
}

func newKeyDialog(c *common, app store.App, copy Clipboard) (*keyDialog, tea.Cmd) {
	d := &keyDialog{c: c, app: app, copy: copy, title: "Create new API key",
		name: newInput(c.styles, "e.g. reports-prod"), date: newInput(c.styles, "YYYY-MM-DD")}
	d.name.SetWidth(c.dialogWidth() - 1)
	d.date.CharLimit = len("2006-01-02")
	d.date.SetWidth(12)
	return d, d.name.Focus()
}

// newShownKeyDialog opens straight at a key made elsewhere (a roll), to
// show it once with Copy and Close.
func newShownKeyDialog(c *common, app store.App, copy Clipboard, title, text string, k store.Key, note string) *keyDialog {
	return &keyDialog{c: c, app: app, copy: copy, title: title, secret: text, created: k, note: note}
}

func (d *keyDialog) fields() []int {
	if expiryChoices[d.expiry].after == dateChoice {
		return []int{kdName, kdExpiry, kdDate, kdCancel, kdGenerate}
	}
	return []int{kdName, kdExpiry, kdCancel, kdGenerate}
}

func (d *keyDialog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case copiedMsg:
		return d.copied(msg)
	case keyCreatedMsg:
		return d.generated(msg)
	}
	km, ok := msg.(tea.KeyPressMsg)
	if d.generating {
		if ok && key.Matches(km, d.c.keys.Back) {
			d.closeAfter = true
		}
		return nil // the key comes first
	}
	if !ok {
		if d.secret == "" && !d.leaving {
			var cmd tea.Cmd
			switch d.focus {
			case kdName:
				d.name, cmd = d.name.Update(msg) // paste, cursor messages
			case kdDate:
				d.date, cmd = d.date.Update(msg)
			}
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
	fs := d.fields()
	i := slices.Index(fs, d.focus)
	switch {
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case key.Matches(km, k.Next):
		return d.setFocus(fs[(i+1)%len(fs)])
	case key.Matches(km, k.Prev):
		return d.setFocus(fs[(i+len(fs)-1)%len(fs)])
	case key.Matches(km, k.Enter):
		if d.focus == kdCancel {
			return d.c.post(closeDialogMsg{})
		}
		return d.generate()
	case d.focus == kdExpiry && key.Matches(km, k.Left, k.Right, k.Toggle):
		step := 1
		if key.Matches(km, k.Left) {
			step = len(expiryChoices) - 1
		}
		d.expiry = (d.expiry + step) % len(expiryChoices)
		d.err = ""
	case d.focus >= kdCancel && key.Matches(km, k.Left, k.Right):
		return d.setFocus(kdCancel + kdGenerate - d.focus)
	case d.focus == kdName:
		var cmd tea.Cmd
		d.name, cmd = d.name.Update(km)
		d.err = ""
		return cmd
	case d.focus == kdDate:
		var cmd tea.Cmd
		d.date, cmd = d.date.Update(km)
		d.err = ""
		return cmd
	}
	return nil
}

func (d *keyDialog) setFocus(f int) tea.Cmd {
	d.focus = f
	d.name.Blur()
	d.date.Blur()
	switch f {
	case kdName:
		return d.name.Focus()
	case kdDate:
		return d.date.Focus()
	}
	return nil
}

// expiryOptions turns the choice into the store's terms, or says what is
// wrong with the date typed.
func (d *keyDialog) expiryOptions() (store.KeyOptions, error) {
	ch := expiryChoices[d.expiry]
	if ch.after != dateChoice {
		return store.KeyOptions{ExpiresIn: ch.after}, nil
	}
	day, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(d.date.Value()), d.c.loc)
	if err != nil {
		return store.KeyOptions{}, errBadDate
	}
	// The key works through the chosen day: it expires as the next begins.
	end := day.AddDate(0, 0, 1)
	if !end.After(d.c.now()) {
		return store.KeyOptions{}, store.ErrExpiryPast
	}
	return store.KeyOptions{ExpiresAt: end}, nil
}

var errBadDate = errors.New("enter the date as YYYY-MM-DD")

// generate creates the key in the store; from here on the key exists and
// works, so the dialog will not close without asking.
func (d *keyDialog) generate() tea.Cmd {
	opts, err := d.expiryOptions()
	if err != nil {
		d.err = describe(err)
		if errors.Is(err, errBadDate) {
			d.err = fmt.Sprintf("Enter the date as YYYY-MM-DD, e.g. %s.", d.c.now().In(d.c.loc).AddDate(0, 1, 0).Format("2006-01-02"))
		}
		return d.setFocus(kdDate)
	}
	d.generating, d.err = true, ""
	d.name.Blur()
	d.date.Blur()
	st, actor, appID, name := d.c.store, d.c.actor, d.app.ID, d.name.Value()
	return d.c.write(func() tea.Msg {
		text, k, err := st.CreateKeyWith(actor, appID, name, opts)
		return keyCreatedMsg{appID: appID, text: text, key: k, err: err}
	})
}

// generated shows the new key, or why there is none.
func (d *keyDialog) generated(msg keyCreatedMsg) tea.Cmd {
	if !d.generating {
		return nil
	}
	d.generating = false
	if msg.err != nil {
		d.err = describe(msg.err)
		d.quitAfter, d.closeAfter = false, false
		return d.setFocus(kdName)
	}
	d.secret, d.created = msg.text, msg.key
	return d.afterShown()
}

// afterShown asks about leaving at once when esc or ctrl+c came while the
// key was on its way: the key shows, with the question.
func (d *keyDialog) afterShown() tea.Cmd {
	switch {
	case d.quitAfter:
		d.leaving, d.leaveFocus, d.quit = true, 0, true
		d.quitAfter, d.closeAfter = false, false
		return d.c.post(quitAskedMsg{})
	case d.closeAfter:
		d.leaving, d.leaveFocus, d.quit = true, 0, false
		d.closeAfter = false
	}
	return nil
}

func (d *keyDialog) busy() string {
	if d.generating {
		return "Generating the key…"
	}
	return ""
}

// quitting keeps the key from being lost to ctrl+c: while it is on its way
// it is shown first; once shown, ctrl+c asks as esc does.
func (d *keyDialog) quitting() (tea.Cmd, quitAnswer) {
	switch {
	case d.generating:
		d.quitAfter = true
		return nil, quitHeld
	case d.secret == "":
		return nil, quitFree
	case d.leaving && d.quit:
		return nil, quitAsked
	}
	d.leaving, d.leaveFocus, d.quit = true, 0, true
	return nil, quitAsked
}

func (d *keyDialog) updateShown(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(km, k.Enter) && d.sent, key.Matches(km, k.Back) && d.sent:
		return d.close()
	case key.Matches(km, k.Enter):
		return d.copy(d.secret)
	case key.Matches(km, k.Back):
		d.leaving, d.leaveFocus, d.quit = true, 0, false
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
		if d.quit {
			return tea.Quit
		}
		return tea.Batch(d.c.post(closeDialogMsg{}), d.c.toast("API key %q created; it was not copied", d.created.Name))
	}
	return nil
}

func (d *keyDialog) View() string {
	s, w := d.c.styles, d.c.dialogWidth()
	lines := []string{s.DialogTitle.Render(d.title), s.Hint.Render("for " + truncate(clean(d.app.Name), w-4)), ""}
	switch {
	case d.secret == "":
		lines = append(lines, "Name", s.field(d.name.View(), w, d.focus == kdName))
		lines = strings.Split(strings.Join(lines, "\n"), "\n")
		if d.err != "" {
			lines = append(lines, wrapStyled(s.Error, d.err, w)...)
		} else {
			lines = append(lines, s.Hint.Render("Name it after the service or person that will use it."))
		}
		lines = append(lines, "", "Expires", d.expiryRow(w))
		if expiryChoices[d.expiry].after == dateChoice {
			lines = append(lines, strings.Split(s.field(d.date.View(), 13, d.focus == kdDate), "\n")...)
		}
		fi := -1
		if d.focus >= kdCancel {
			fi = d.focus - kdCancel
		}
		generate := button{label: "Generate Key"}
		if d.generating {
			fi, generate = -1, button{label: "Generating…", disabled: true}
		}
		lines = append(lines, "", s.buttonRow(w, fi, button{label: "Cancel", disabled: d.generating}, generate))
	case d.leaving:
		verb := "Close"
		if d.quit {
			verb = "Quit"
		}
		// The key stays in sight while the question is asked.
		lines = append(lines, s.Secret.Render(d.secret), "", s.Title.Render(verb+" without copying?"), "")
		lines = append(lines, wrapStyled(s.Caution, "This key will never be shown again. If you lose it, you'll need to delete it and generate a new one.", w)...)
		lines = append(lines, "", s.buttonRow(w, d.leaveFocus, button{label: "Back to the key"}, button{label: verb + " without copying", danger: true}))
	default:
		expires := "Never expires"
		if !d.created.ExpiresAt.IsZero() {
			expires = "Works " + d.c.until(d.created.ExpiresAt)
		}
		lines = append(lines, s.Text.Render(clean(d.created.Name))+s.Hint.Render(" · "+expires), s.Secret.Render(d.secret), "")
		if d.note != "" {
			lines = append(lines, wrapStyled(s.Text, d.note, w)...)
			lines = append(lines, "")
		}
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

// expiryRow draws the expiry choices as radio buttons; when the row has the
// focus the chosen one is highlighted, and ←/→ change it.
func (d *keyDialog) expiryRow(width int) string {
	return radioRow(d.c.styles, width, labels(expiryChoices, func(e expiryChoice) string { return e.label }),
		d.expiry, d.focus == kdExpiry)
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
	if d.focus == kdExpiry {
		return []key.Binding{with(k.Next, "next field"), with(k.Right, "change expiry"), with(k.Enter, "generate key"), with(k.Back, "cancel")}
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
