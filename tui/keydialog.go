package tui

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
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
	expiry int             // index into choices
	date   textinput.Model // the date, when the expiry is "Date"
	from   textinput.Model // the allowed addresses: none means any
	focus  focusRing

	choices []expiryChoice // the expiries the key policy allows for the app
	max     time.Duration  // the key policy's maximum lifetime for the app; 0: none
	maxBy   string         // what sets it: a scope's name, or "" for every key
	err     string
	scroll  int

	title   string // "Create new API key" unless a roll made the key
	note    string // under the key once shown, e.g. what happens to a rolled key
	secret  string // the key text, held only until the dialog closes
	created store.Key

	leaving bool // asking "close without copying?", the key still in sight
	quit    bool // the question is ctrl+c's: quit without copying?

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

	dateErr string // what is wrong with the date typed, shown under it
	fromErr string // what is wrong with the addresses typed, shown under them
}

// The parts of the dialog, for the focus ring and the mouse.
const (
	kdName      = "name"
	kdExpiry    = "expiry"
	kdDate      = "date"
	kdFrom      = "from"
	kdCancel    = "cancel"
	kdGenerate  = "generate"
	kdCopy      = "copy"
	kdClose     = "close"
	kdBack      = "back"
	kdLeave     = "leave"
	expiryAreaP = "expiry:"
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
		name: newInput(c.styles, "e.g. reports-prod"), date: newInput(c.styles, "YYYY-MM-DD"),
		from: newInput(c.styles, "any address; or e.g. 10.0.0.0/8, 192.0.2.7")}
	d.name.SetWidth(c.dialogWidth() - 1)
	d.from.SetWidth(c.dialogWidth() - 1)
	d.from.CharLimit = 1200 // 32 networks, each as long as an IPv6 one written out
	d.date.CharLimit = len("2006-01-02")
	d.date.SetWidth(12)
	max, by := c.policy.Lifetime(app.Scopes)
	d.max = max
	if sc, ok := scopes.Lookup(by); ok {
		d.maxBy = sc.Name
	}
	d.choices = keyExpiryChoices(max)
	if max > 0 {
		d.expiry = len(d.choices) - 2 // the longest the policy allows
	}
	d.refocus()
	d.focus.focus(kdName)
	return d, d.name.Focus()
}

// keyExpiryChoices are the expiries offered under a maximum lifetime (0:
// none): those that fit it, the maximum itself when no preset is, and a
// date, which is checked against it.
func keyExpiryChoices(max time.Duration) []expiryChoice {
	if max <= 0 {
		return expiryChoices
	}
	var out []expiryChoice
	exact := false
	for _, ch := range expiryChoices {
		if ch.after == dateChoice || ch.after <= 0 || ch.after > max {
			continue
		}
		out = append(out, ch)
		exact = exact || ch.after == max
	}
	if !exact {
		out = append(out, expiryChoice{durationWords(max), max})
	}
	return append(out, expiryChoice{"Date", dateChoice})
}

// newShownKeyDialog opens straight at a key made elsewhere (a roll), to
// show it once with Copy and Close.
func newShownKeyDialog(c *common, app store.App, copy Clipboard, title, text string, k store.Key, note string) *keyDialog {
	d := &keyDialog{c: c, app: app, copy: copy, title: title, secret: text, created: k, note: note}
	d.refocus()
	return d
}

// refocus sets the focus ring's parts for the dialog's state.
func (d *keyDialog) refocus() {
	switch {
	case d.leaving:
		d.focus.set(kdBack, kdLeave)
		d.focus.sideBySide([]string{kdBack, kdLeave})
	case d.sent:
		d.focus.set(kdClose)
	case d.secret != "":
		d.focus.set(kdCopy)
	case d.choices[d.expiry].after == dateChoice:
		d.focus.set(kdName, kdExpiry, kdDate, kdFrom, kdCancel, kdGenerate)
		d.focus.sideBySide([]string{kdCancel, kdGenerate})
	default:
		d.focus.set(kdName, kdExpiry, kdFrom, kdCancel, kdGenerate)
		d.focus.sideBySide([]string{kdCancel, kdGenerate})
	}
}

func (d *keyDialog) focused() string {
	if d.focus.is(kdExpiry) {
		return expiryAreaP + strconv.Itoa(d.expiry)
	}
	return d.focus.cur
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
		if d.secret == "" {
			return d.updateInput(msg) // paste, cursor messages
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

// updateInput passes a message to the focused text field.
func (d *keyDialog) updateInput(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch {
	case d.focus.is(kdName):
		d.name, cmd = d.name.Update(msg)
		d.err = nameLimit(d.name.Value())
	case d.focus.is(kdDate):
		d.date, cmd = d.date.Update(msg)
		d.dateErr = ""
	case d.focus.is(kdFrom):
		d.from, cmd = d.from.Update(msg)
		d.fromErr = ""
	}
	return cmd
}

func (d *keyDialog) updateNaming(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(km, k.Back):
		return d.c.post(closeDialogMsg{})
	case d.focus.is(kdExpiry) && key.Matches(km, k.Left, k.Right, k.Toggle):
		step := 1
		if key.Matches(km, k.Left) {
			step = len(d.choices) - 1
		}
		d.choose((d.expiry + step) % len(d.choices))
		return nil
	case d.focus.move(km, k):
		return d.syncInputs()
	case key.Matches(km, k.Enter):
		if d.focus.is(kdCancel) {
			return d.c.post(closeDialogMsg{})
		}
		return d.generate()
	}
	return d.updateInput(km)
}

// choose picks an expiry.
func (d *keyDialog) choose(i int) {
	d.expiry = i
	d.dateErr = ""
	d.refocus()
}

// syncInputs gives the keyboard to the focused text field.
func (d *keyDialog) syncInputs() tea.Cmd {
	d.name.Blur()
	d.date.Blur()
	d.from.Blur()
	switch d.focus.cur {
	case kdName:
		return d.name.Focus()
	case kdDate:
		return d.date.Focus()
	case kdFrom:
		return d.from.Focus()
	}
	return nil
}

// click answers the mouse: the fields, the expiry choices and the buttons
// of whichever step the dialog is at.
func (d *keyDialog) click(id string) tea.Cmd {
	if d.generating {
		return nil
	}
	if n, ok := strings.CutPrefix(id, expiryAreaP); ok && d.secret == "" {
		i, _ := strconv.Atoi(n)
		d.choose(i)
		d.focus.focus(kdExpiry)
		return d.syncInputs()
	}
	if !d.focus.focus(id) {
		return nil
	}
	switch id {
	case kdName, kdDate, kdExpiry, kdFrom:
		return d.syncInputs()
	}
	return d.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
}

// expiryOptions turns the choice into the store's terms, or says what is
// wrong with the date typed.
func (d *keyDialog) expiryOptions() (store.KeyOptions, error) {
	ch := d.choices[d.expiry]
	if ch.after != dateChoice {
		return store.KeyOptions{ExpiresIn: ch.after}, nil
	}
	typed := strings.TrimSpace(d.date.Value())
	day, err := time.ParseInLocation("2006-01-02", typed, d.c.loc)
	if err != nil {
		if dateShape.MatchString(typed) {
			return store.KeyOptions{}, fmt.Errorf("%w: %s", errNoSuchDay, typed)
		}
		return store.KeyOptions{}, errBadDate
	}
	// The key works through the chosen day: it expires as the next begins.
	end := day.AddDate(0, 0, 1)
	if !end.After(d.c.now()) {
		return store.KeyOptions{}, store.ErrExpiryPast
	}
	if d.max > 0 && end.Sub(d.c.now()) > d.max {
		return store.KeyOptions{}, errPastPolicy
	}
	return store.KeyOptions{ExpiresAt: end}, nil
}

var (
	errPastPolicy = errors.New("past the key policy's maximum lifetime")
	errBadDate    = errors.New("enter the date as YYYY-MM-DD")
	errNoSuchDay  = errors.New("no such day")
	dateShape     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// generate asks the store for the key; from the moment it answers the key
// exists and works, so the dialog will not close without asking.
func (d *keyDialog) generate() tea.Cmd {
	if msg := nameLimit(d.name.Value()); msg != "" {
		d.err = msg
		d.focus.focus(kdName)
		return d.syncInputs()
	}
	opts, err := d.expiryOptions()
	if err != nil {
		example := d.c.now().In(d.c.loc).AddDate(0, 1, 0).Format("2006-01-02")
		switch {
		case errors.Is(err, errPastPolicy):
			last := d.c.now().Add(d.max).In(d.c.loc).AddDate(0, 0, -1).Format("2006-01-02")
			d.dateErr = fmt.Sprintf("The key policy lets this app's keys live %s at most: choose %s or earlier.", durationWords(d.max), last)
		case errors.Is(err, errNoSuchDay):
			d.dateErr = fmt.Sprintf("%s is not a day. Enter one like %s.", strings.TrimSpace(d.date.Value()), example)
		case errors.Is(err, errBadDate):
			d.dateErr = fmt.Sprintf("Enter the date as YYYY-MM-DD, e.g. %s.", example)
		default:
			d.dateErr = describe(err)
		}
		d.focus.focus(kdDate)
		return d.syncInputs()
	}
	if opts.AllowFrom, err = store.ParseAllowFrom(d.from.Value()); err != nil {
		d.fromErr = sentence(err)
		d.focus.focus(kdFrom)
		return d.syncInputs()
	}
	d.generating, d.err, d.dateErr, d.fromErr = true, "", "", ""
	d.name.Blur()
	d.date.Blur()
	d.from.Blur()
	st, actor, appID, name := d.c.store, d.c.actor, d.app.ID, d.name.Value()
	ctx := d.c.ctx
	return d.c.write(func() tea.Msg {
		text, k, err := st.CreateKeyWith(ctx, actor, appID, name, opts)
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
		d.focus.focus(kdName)
		return d.syncInputs()
	}
	d.secret, d.created = msg.text, msg.key
	d.refocus()
	return d.afterShown()
}

// afterShown asks about leaving at once when esc or ctrl+c came while the
// key was on its way: the key shows, with the question.
func (d *keyDialog) afterShown() tea.Cmd {
	switch {
	case d.quitAfter:
		d.ask(true)
		return d.c.post(quitAskedMsg{})
	case d.closeAfter:
		d.ask(false)
	}
	return nil
}

// ask puts the question about leaving without copying under the key.
func (d *keyDialog) ask(quit bool) {
	d.leaving, d.quit, d.quitAfter, d.closeAfter = true, quit, false, false
	d.refocus()
	d.focus.focus(kdBack)
}

func (d *keyDialog) busy() string {
	if d.generating {
		return "Generating the key…"
	}
	return ""
}

// quitting keeps the key from being lost to ctrl+c: while it is on its way
// it is shown first; once shown, ctrl+c asks as esc does, and once sent to
// the terminal (when esc closes at once) it quits as esc closes.
func (d *keyDialog) quitting() (tea.Cmd, quitAnswer) {
	switch {
	case d.generating:
		d.quitAfter = true
		return nil, quitHeld
	case d.secret == "", d.sent && !d.leaving:
		return nil, quitFree
	case !d.leaving || !d.quit:
		d.ask(true)
	}
	return nil, quitAsked
}

// atStake says a key would be lost: one on its way, or on screen and not
// yet copied (once sent to the terminal, quitting loses no more than
// closing does).
func (d *keyDialog) atStake() string {
	switch {
	case d.generating:
		return "An API key is being generated: enlarge the window to copy it."
	case d.secret != "" && !d.sent:
		return fmt.Sprintf("The API key %q is on screen and not copied yet: enlarge the window to copy it.", truncate(clean(d.created.Name), 24))
	}
	return ""
}

func (d *keyDialog) updateShown(km tea.KeyPressMsg) tea.Cmd {
	k := d.c.keys
	switch {
	case d.sent && key.Matches(km, k.Enter, k.Back):
		return d.close()
	case key.Matches(km, k.Enter):
		return d.copy(d.secret)
	case key.Matches(km, k.Back):
		d.ask(false)
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
	d.leaving = false
	d.refocus()
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
	case d.focus.move(km, k):
	case key.Matches(km, k.Back):
		d.leaving = false
		d.refocus()
	case key.Matches(km, k.Enter):
		if d.focus.is(kdBack) {
			d.leaving = false
			d.refocus()
			return nil
		}
		d.secret = ""
		if d.quit {
			return tea.Quit
		}
		return tea.Batch(d.c.post(closeDialogMsg{}),
			d.c.post(toastMsg{text: fmt.Sprintf("API key %q created; it was not copied.", clean(d.created.Name)), kind: toastWarn}))
	}
	return nil
}

func (d *keyDialog) draw() drawing {
	s, w := d.c.styles, d.c.dialogWidth()
	var b dialogBox
	b.keep, b.focus = -1, d.focused()
	b.head.add(s.DialogTitle.Render(d.title), s.Hint.Render(truncate("for "+clean(d.app.Name), w)), "")
	if d.secret == "" {
		d.drawNaming(&b, w)
		return d.c.box(b, &d.scroll)
	}
	// The key's name in full, then when it stops working, then the key.
	expires := "Never expires"
	if !d.created.ExpiresAt.IsZero() {
		expires = "Works " + d.c.until(d.created.ExpiresAt)
	}
	b.body.add(wrapStyled(s.Text, clean(d.created.Name)+" · "+expires, w)...)
	if len(d.created.AllowFrom) > 0 {
		b.body.add(wrapStyled(s.Text, "Works only from "+strings.Join(store.FormatAllowFrom(d.created.AllowFrom), ", "), w)...)
	}
	b.keep = b.body.height()
	b.body.add(s.Secret.Render(d.secret), "")
	switch {
	case d.leaving:
		verb := "Close"
		if d.quit {
			verb = "Quit"
		}
		b.body.add(s.Title.Render(verb + " without copying?"))
		b.body.add(wrapStyled(s.Caution, "This key will never be shown again. If you lose it, you'll need to delete it and generate a new one.", w)...)
		b.foot.add("")
		b.foot.buttons(s, w, d.focus.cur, button{id: kdBack, label: "Back to the key"},
			button{id: kdLeave, label: verb + " without copying", danger: true})
	case d.sent:
		b.body.add(wrapStyled(s.Caution, "Sent to your terminal with OSC 52. If it did not arrive, copy it from the screen now: it is not shown again.", w)...)
		b.foot.add("")
		b.foot.buttons(s, w, d.focus.cur, button{id: kdClose, label: "Close"})
	default:
		if d.note != "" {
			b.body.add(wrapStyled(s.Text, d.note, w)...)
			b.body.add("")
		}
		b.body.add(wrapStyled(s.Caution, "For security reasons, the API key is only shown once and is not stored or displayed again. Copy and save it in a secure location.", w)...)
		b.foot.add("")
		b.foot.buttons(s, w, d.focus.cur, button{id: kdCopy, label: "Copy and Close"})
	}
	return d.c.box(b, &d.scroll)
}

func (d *keyDialog) drawNaming(b *dialogBox, w int) {
	s := d.c.styles
	b.body.add("Name")
	y := b.body.height()
	b.body.add(s.field(d.name.View(), w, d.focus.is(kdName)))
	b.body.mark(kdName, 0, y, w, 2)
	if d.err != "" {
		b.body.add(wrapStyled(s.Error, d.err, w)...)
	} else {
		b.body.add(s.Hint.Render(truncate("Name it after the service or person that will use it.", w)))
	}
	b.body.add("", "Expires")
	row, areas := radioRow(s, w, labels(d.choices, func(e expiryChoice) string { return e.label }), d.expiry, d.focus.is(kdExpiry))
	y = b.body.height()
	for _, a := range areas {
		b.body.mark(expiryAreaP+strconv.Itoa(a.n), a.x, y+a.y, a.w, 1)
	}
	b.body.add(row)
	if d.max > 0 {
		// Why Never (and longer choices) are not offered.
		by := "every key"
		if d.maxBy != "" {
			by = d.maxBy
		}
		b.body.add(wrapStyled(s.Hint, fmt.Sprintf("The key policy: keys of this app live %s at most (%s).", durationWords(d.max), by), w)...)
	}
	if d.choices[d.expiry].after == dateChoice {
		y = b.body.height()
		// The day is read where the screen's times are: it says which zone.
		zone := s.Hint.Render(truncate(" the last day it works ("+d.c.zone(d.c.now())+")", w-13))
		b.body.add(lipgloss.JoinHorizontal(lipgloss.Top, s.field(d.date.View(), 13, d.focus.is(kdDate)), zone))
		var problem []string
		if d.dateErr != "" {
			problem = wrapStyled(s.Error, d.dateErr, w)
			b.body.add(problem...)
		}
		b.body.mark(kdDate, 0, y, 13, 2+len(problem)) // the problem scrolls into sight with the field
	}
	b.body.add("", "Allowed addresses")
	y = b.body.height()
	b.body.add(s.field(d.from.View(), w, d.focus.is(kdFrom)))
	var problem []string
	if d.fromErr != "" {
		problem = wrapStyled(s.Error, d.fromErr, w)
	} else {
		problem = []string{s.Hint.Render(truncate("Optional: the key works only from these networks.", w))}
	}
	b.body.add(problem...)
	b.body.mark(kdFrom, 0, y, w, 2+len(problem))
	b.foot.add("")
	generate := button{id: kdGenerate, label: "Generate Key"}
	if d.generating {
		generate = button{id: kdGenerate, label: "Generating…", disabled: true}
	}
	b.foot.buttons(s, w, d.focus.cur, button{id: kdCancel, label: "Cancel", disabled: d.generating}, generate)
}

func (d *keyDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	switch {
	case d.generating:
		return []key.Binding{with(k.Back, "close once shown")}
	case d.leaving:
		return []key.Binding{with(k.Next, "switch"), with(k.Enter, "press"), with(k.Back, "back to the key")}
	case d.sent:
		return []key.Binding{with(k.Enter, "close"), with(k.Back, "close")}
	case d.secret != "":
		return []key.Binding{with(k.Enter, "copy and close"), with(k.Back, "close")}
	}
	if d.focus.is(kdExpiry) {
		return []key.Binding{with(k.Next, "next field"), with(k.Right, "change expiry"), with(k.Enter, "generate key"), with(k.Back, "cancel")}
	}
	return []key.Binding{with(k.Next, "next field"), with(k.Enter, "generate key"), with(k.Back, "cancel")}
}

// nameLimit is the message for a name longer than a name may be, or "".
func nameLimit(name string) string {
	if len([]rune(strings.TrimSpace(name))) > store.MaxNameLen {
		return fmt.Sprintf("Use at most %d characters.", store.MaxNameLen)
	}
	return ""
}
