package tui

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// appForm is both the new-app page (title "Untitled app", the scope
// checklist, Next) and the app's configuration window (editable title, API
// Scopes and API Keys tabs, Save). In the window, key changes apply at once
// (a key being revoked must stop working now); the name and scopes wait for
// Save. The window says so.
type appForm struct {
	c       *common
	editing bool
	app     store.App // the app being edited, as this window read it: what Save changes
	stored  store.App // edit only: the app as stored now, which another admin may have changed since
	title   textinput.Model
	shown   string // edit only: app.Name as the title field first showed it, made safe to draw
	touched bool   // new only: the title was typed in (untouched, it is the next free "Untitled app")
	checks  checklist
	keys    keyActions // edit only
	usage   scopeUsage // edit only: the app's use of its scopes, and a proposal to narrow them
	tab     int        // edit only: 0 API Scopes, 1 API Keys
	focus   focusRing
	err     string
	saving  bool // Next or Save is with the store

	keyChanges int // keys created, rolled or deleted from this window: they stay whatever becomes of the rest

	// typedAhead holds the keys pressed on the key table, or to save,
	// before the app's keys have loaded: they act once the keys are known.
	typedAhead []tea.KeyPressMsg

	// layout
	bodyH int
	notes []string
	pane  []string
}

// The form's parts, for the focus ring and the mouse.
const (
	fTitle     = "title"
	fTabs      = "tabs"
	fScopes    = "scopes"
	fKeys      = "keys"
	fCreateKey = "create-key"
	fRoll      = "roll"
	fDeleteKey = "delete-key"
	fCancel    = "cancel"
	fPrimary   = "primary"
)

var tabNames = []string{"API Scopes", "API Keys"}

func newAppForm(c *common) (*appForm, tea.Cmd) {
	f := &appForm{c: c, checks: newChecklist(0)}
	f.title = newInput(c.styles, store.DefaultAppName)
	f.refocus()
	f.focus.focus(fTitle)
	st := c.store
	ctx := c.ctx
	next := c.read(func() tea.Msg {
		name, err := st.NextAppName(ctx)
		if err != nil {
			return nil
		}
		return nextNameMsg{name}
	})
	return f, tea.Batch(f.syncTitle(), next)
}

// newEditForm opens the configuration window on app as the list has it
// (the change feed keeps the list current), and reads its keys.
func newEditForm(c *common, app store.App, copy Clipboard) (*appForm, tea.Cmd) {
	f := &appForm{c: c, editing: true, app: app, stored: app, checks: newChecklist(app.Scopes),
		keys: keyActions{c: c, appID: app.ID, copy: copy}}
	f.title = newInput(c.styles, "App name")
	f.showName(app.Name)
	f.usage.c, f.checks.usage = c, &f.usage
	load := f.keys.load()
	f.refocus()
	f.focus.focus(fTabs)
	return f, tea.Batch(load, c.loadAppUsage(app.ID), f.syncTitle())
}

func (f *appForm) frame() pageFrame {
	fr := pageFrame{section: sectionScopes, crumb: "New app", typing: f.focus.is(fTitle), busy: f.busy(), focus: f.focused()}
	if f.editing {
		fr.crumb = clean(f.stored.Name)
	}
	return fr
}

// focused is the focused part; on the key table, its selected row.
func (f *appForm) focused() string {
	if f.focus.is(fKeys) {
		return keyRowID(f.keys.table.cursor)
	}
	if f.focus.is(fScopes) {
		return scopeID(f.checks.cursor)
	}
	if f.focus.is(fTabs) {
		return "tab:" + strconv.Itoa(f.tab)
	}
	return f.focus.cur
}

func (f *appForm) busy() string {
	switch {
	case f.saving && f.editing:
		return "Saving…"
	case f.saving:
		return "Creating the app…"
	}
	return f.keys.busy()
}

// refocus sets the focus ring's parts for the form's state: which tab, what
// the actor may do, whether there are keys.
func (f *appForm) refocus() {
	hasKeys := len(f.keys.table.keys) > 0 || f.keys.loading
	var parts []string
	switch {
	// The primary button comes first after the fields: tab from the scopes
	// goes to Next or Save, the step forward, then to Cancel.
	case !f.editing:
		parts = []string{fTitle, fScopes, fPrimary, fCancel}
	case !f.c.canWrite() && f.tab == 0:
		parts = []string{fTabs, fScopes, fCancel}
	case !f.c.canWrite() && hasKeys:
		parts = []string{fTabs, fKeys, fCancel}
	case !f.c.canWrite():
		parts = []string{fTabs, fCancel}
	case f.tab == 0:
		parts = []string{fTitle, fTabs, fScopes, fPrimary, fCancel}
	case hasKeys:
		parts = []string{fTitle, fTabs, fKeys, fCreateKey, fRoll, fDeleteKey, fPrimary, fCancel}
	default:
		parts = []string{fTitle, fTabs, fCreateKey, fPrimary, fCancel}
	}
	f.focus.set(parts...)
	f.focus.sideBySide([]string{fCreateKey, fRoll, fDeleteKey}, []string{fCancel, fPrimary})
}

// syncTitle gives the keyboard to the title while it has the focus.
func (f *appForm) syncTitle() tea.Cmd {
	if f.focus.is(fTitle) {
		return f.title.Focus()
	}
	f.title.Blur()
	return nil
}

func (f *appForm) name() string { return strings.TrimSpace(f.title.Value()) }

// dirty reports unsaved changes to the name or scopes.
func (f *appForm) dirty() bool {
	if !f.editing {
		return f.touched && f.title.Value() != "" || !f.checks.set.IsEmpty()
	}
	return f.renamed() || f.checks.set != f.app.Scopes
}

// showName puts a stored name in the title field, made safe to draw, with
// the cursor at its end (what is typed next goes after it, wherever the
// cursor was in the name it replaces), and remembers it as the name the
// form shows unchanged.
func (f *appForm) showName(name string) {
	f.title.SetValue(clean(name))
	f.title.CursorEnd()
	f.shown = f.name()
}

// adopt makes app the one the window edits and shows: as stored now.
func (f *appForm) adopt(app store.App) {
	f.app, f.stored = app, app
	f.showName(app.Name)
	f.checks.set = app.Scopes
}

// unsaved reports whether leaving would lose an edit: a name or scopes
// changed here and different from what is stored now.
func (f *appForm) unsaved() bool {
	if !f.editing {
		return f.dirty()
	}
	return f.renamed() && f.name() != strings.TrimSpace(clean(f.stored.Name)) ||
		f.checks.set != f.app.Scopes && f.checks.set != f.stored.Scopes
}

// renamed reports whether the title differs from the name the form opened
// with. A name another tool wrote with control characters shows defused,
// and counts as unchanged until the admin types over it.
func (f *appForm) renamed() bool { return f.name() != f.shown }

func (f *appForm) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case f.saving:
			return nil // the store has the form: nothing changes under it
		case f.keys.loading && f.needsKeys(msg):
			f.typedAhead = append(f.typedAhead, msg)
			return nil
		}
		return f.updateKey(msg)
	case nextNameMsg:
		f.title.Placeholder = msg.name
		return nil
	case appCreatedMsg:
		return f.created(msg)
	case appSavedMsg:
		return f.saved(msg)
	case appUsageMsg:
		return f.usageLoaded(msg)
	case updateMsg:
		return f.follow(msg.up)
	case keysLoadedMsg, keyCreatedMsg, keyRolledMsg, keyDeletedMsg, resyncMsg:
		if !f.editing {
			return nil
		}
		f.countKeyChange(msg)
		cmds := []tea.Cmd{f.keys.update(msg)}
		f.refocus()
		if !f.keys.loading {
			// Through the root, in order: one of them may open a dialog or
			// leave the window, and the rest belong there.
			for _, km := range f.typedAhead {
				f.c.post(km)
			}
			f.typedAhead = nil
		}
		return tea.Batch(cmds...)
	}
	if f.focus.is(fTitle) && !f.saving {
		return f.typeTitle(msg) // paste, cursor messages
	}
	return nil
}

// countKeyChange notes a key change this window made: it took effect at
// once and stays, whatever becomes of the unsaved name and scopes.
func (f *appForm) countKeyChange(msg tea.Msg) {
	switch msg := msg.(type) {
	case keyCreatedMsg:
		if msg.appID == f.app.ID && msg.err == nil {
			f.keyChanges++
		}
	case keyRolledMsg:
		if msg.appID == f.app.ID && msg.err == nil {
			f.keyChanges++
		}
	case keyDeletedMsg:
		if msg.key.ID == f.keys.deleting && msg.err == nil {
			f.keyChanges++
		}
	}
}

// typeTitle passes a key or a paste to the title. The new app's title
// starts as the next free "Untitled app", shown until something is typed.
func (f *appForm) typeTitle(msg tea.Msg) tea.Cmd {
	before := f.title.Value()
	var cmd tea.Cmd
	f.title, cmd = f.title.Update(msg)
	edited := f.title.Value() != before
	if km, ok := msg.(tea.KeyPressMsg); ok && (km.Code == tea.KeyBackspace || km.Code == tea.KeyDelete) {
		edited = true // backspace on the untouched title empties it: it is no longer "Untitled app"
	}
	if edited {
		f.touched = true
		f.err = nameLimit(f.title.Value())
		if f.title.Value() == "" {
			f.title.Placeholder = "App name"
		}
	}
	return cmd
}

// needsKeys reports whether a key press acts on the app's keys: on the key
// table or its buttons, or a save, whose question about keys in use needs
// them.
func (f *appForm) needsKeys(msg tea.KeyPressMsg) bool {
	k := f.c.keys
	onKeys := f.focus.is(fKeys) || f.focus.is(fRoll) || f.focus.is(fDeleteKey)
	return onKeys && !key.Matches(msg, k.Next, k.Prev, k.Back) || key.Matches(msg, k.Save) ||
		f.focus.is(fPrimary) && key.Matches(msg, k.Enter)
}

func (f *appForm) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	k := f.c.keys
	switch {
	case key.Matches(msg, k.Back):
		return f.leave()
	case key.Matches(msg, k.Save):
		return f.submit()
	case f.editing && !f.focus.is(fTitle) && key.Matches(msg, k.Narrow):
		return f.narrow()
	case key.Matches(msg, k.Next, k.Prev):
		f.focus.move(msg, k)
		return f.syncTitle()
	case f.editing && !f.focus.is(fTitle) && key.Matches(msg, k.CreateKey):
		f.setTab(1)
		return f.keys.create(f.app)
	case f.editing && f.tab == 1 && !f.focus.is(fTitle) && key.Matches(msg, k.Roll):
		return f.keys.roll(f.app)
	case f.editing && f.tab == 1 && !f.focus.is(fTitle) && key.Matches(msg, k.Delete):
		return f.keys.confirmDelete(f.app.Name)
	}
	switch {
	case f.focus.is(fTitle):
		if key.Matches(msg, k.Enter) || key.Matches(msg, k.Down) && msg.Key().Text == "" {
			f.focus.step(1)
			return f.syncTitle()
		}
		return f.typeTitle(msg)
	case f.focus.is(fTabs):
		switch {
		case key.Matches(msg, k.Left):
			f.setTab(0)
		case key.Matches(msg, k.Right):
			f.setTab(1)
		case key.Matches(msg, k.Enter), key.Matches(msg, k.Down):
			f.focus.step(1)
		}
		return nil
	case f.focus.is(fScopes):
		if !f.c.canWrite() && key.Matches(msg, k.Toggle, k.Enter) {
			return f.c.refuseWrite("viewers can't change scopes")
		}
		if f.checks.update(msg, k) {
			f.err = ""
		} else if key.Matches(msg, k.Right) && f.editing {
			f.setTab(1)
			f.focus.focus(fTabs)
		}
		return nil
	case f.focus.is(fKeys):
		switch {
		case key.Matches(msg, k.Up):
			f.keys.table.move(true)
		case key.Matches(msg, k.Down):
			f.keys.table.move(false)
		case key.Matches(msg, k.Home, k.End):
			f.keys.table.moveTo(key.Matches(msg, k.End))
		case key.Matches(msg, k.Left):
			f.setTab(0) // back where → came from
			f.focus.focus(fTabs)
		}
		return nil
	}
	if f.focus.move(msg, k) {
		return nil
	}
	if key.Matches(msg, k.Enter) {
		return f.press(f.focus.cur)
	}
	return nil
}

// setTab shows tab i.
func (f *appForm) setTab(i int) {
	f.tab = i
	f.refocus()
}

// press presses the button with this id.
func (f *appForm) press(id string) tea.Cmd {
	switch id {
	case fCancel:
		return f.leave()
	case fPrimary:
		return f.submit()
	case fCreateKey:
		return f.keys.create(f.app)
	case fRoll:
		return f.keys.roll(f.app)
	case fDeleteKey:
		return f.keys.confirmDelete(f.app.Name)
	}
	return nil
}

// click answers the mouse: the title, a tab, a scope's line (which ticks
// it), a key's row, or a button.
func (f *appForm) click(id string) tea.Cmd {
	if f.saving {
		return nil
	}
	if n, ok := strings.CutPrefix(id, "tab:"); ok {
		i, _ := strconv.Atoi(n)
		f.setTab(i)
		f.focus.focus(fTabs)
		return f.syncTitle()
	}
	switch n, isScope := strings.CutPrefix(id, "scope:"); {
	case isScope:
		i, _ := strconv.Atoi(n)
		f.focus.focus(fScopes)
		f.checks.cursor = i
		if !f.c.canWrite() {
			return tea.Batch(f.syncTitle(), f.c.refuseWrite("viewers can't change scopes"))
		}
		f.checks.set = f.checks.set.Toggle(f.checks.all[i].ID)
		f.err = ""
		return f.syncTitle()
	case f.keys.table.click(id):
		f.focus.focus(fKeys)
		return f.syncTitle()
	}
	if !f.focus.focus(id) {
		return nil
	}
	if id == fTitle {
		return f.syncTitle()
	}
	return tea.Batch(f.syncTitle(), f.press(id))
}

// leave goes back to the list, asking first when there are unsaved changes.
func (f *appForm) leave() tea.Cmd {
	back := func() tea.Cmd { return f.c.post(showListMsg{selectID: f.app.ID}) }
	if !f.unsaved() {
		return back()
	}
	return f.askDiscard(false, back)
}

// quitting asks before ctrl+c discards unsaved changes.
func (f *appForm) quitting() (tea.Cmd, quitAnswer) {
	if !f.unsaved() || f.saving {
		return nil, quitFree
	}
	return f.askDiscard(true, func() tea.Cmd { return tea.Quit }), quitAsked
}

// atStake says unsaved changes would be lost.
func (f *appForm) atStake() string {
	switch {
	case !f.unsaved() || f.saving:
		return ""
	case f.editing:
		return fmt.Sprintf("Your changes to %q are not saved: enlarge the window to save or discard them.", truncate(clean(f.app.Name), 24))
	}
	return "The new app is not created yet: enlarge the window to finish or discard it."
}

// askDiscard asks before unsaved changes are lost, naming exactly what is
// pending, and what stays: key changes made here took effect at once.
func (f *appForm) askDiscard(quit bool, then func() tea.Cmd) tea.Cmd {
	s, w := f.c.styles, f.c.dialogWidth()
	label := func(l string) string { return s.Hint.Render(pad(l, 8)) }
	field := func(l, v string) []string {
		var out []string
		for i, line := range wrap(v, w-8) {
			if i == 0 {
				out = append(out, label(l)+line)
			} else {
				out = append(out, label("")+line)
			}
		}
		return out
	}
	var body string
	var detail []string
	if f.editing {
		// Against what is stored now: discarding goes back to it, whoever
		// changed it last.
		stored := strings.TrimSpace(clean(f.stored.Name))
		body = fmt.Sprintf("These changes to %q are not saved:", stored)
		if f.renamed() && f.name() != stored {
			detail = append(detail, field("Name", fmt.Sprintf("%q → %q", stored, f.name()))...)
		}
		if f.checks.set != f.app.Scopes && f.checks.set != f.stored.Scopes {
			detail = append(detail, field("Scopes", store.ScopeChange(f.stored.Scopes.Strings(), f.checks.set.Strings()))...)
		}
	} else {
		body = "This app is not created yet:"
		if f.touched && f.name() != "" {
			detail = append(detail, field("Name", fmt.Sprintf("%q", f.name()))...)
		}
		if !f.checks.set.IsEmpty() {
			detail = append(detail, field("Scopes", strings.Join(f.checks.set.Names(), ", "))...)
		}
	}
	caution := ""
	if f.keyChanges > 0 {
		caution = "The key changes you made here took effect at once and stay."
	}
	title, confirm := "Discard unsaved changes?", "Discard"
	if quit {
		title, confirm = "Quit without saving?", "Quit"
	}
	return f.c.post(openDialogMsg{newConfirm(f.c, confirmDialog{
		title: title, body: body, detail: detail, caution: caution,
		cancel: "Keep editing", confirm: confirm, danger: true,
		onYes: then,
	})})
}

// follow shows another session's change to this app: the keys always (see
// keyActions), and the name and scopes too while there is no unsaved edit
// to keep. An app deleted elsewhere closes the window.
func (f *appForm) follow(up store.Update) tea.Cmd {
	if !f.editing || up.Event.AppID != f.app.ID {
		return nil
	}
	if up.App == nil && up.Event.Action == store.ActionAppDelete {
		return tea.Batch(f.c.post(showListMsg{}), f.c.toastErr(fmt.Errorf("%q: %w", f.app.Name, store.ErrNotFound)))
	}
	if up.App != nil && up.App.Revision > f.stored.Revision {
		if f.dirty() {
			f.stored = *up.App // the edits stay; leaving compares them with this
		} else {
			f.adopt(*up.App)
		}
	}
	cmd := f.keys.update(updateMsg{up})
	f.refocus()
	return cmd
}

// confirmReload tells the editor that someone else saved first, and offers
// to start again from their version; nothing is overwritten silently.
func (f *appForm) confirmReload(c *store.ConflictError) tea.Cmd {
	if c.Current.Revision > f.stored.Revision {
		f.stored = c.Current
	}
	return f.c.post(openDialogMsg{newConfirm(f.c, confirmDialog{
		title:   "Someone else changed this app",
		body:    fmt.Sprintf("While you were editing, %s. Your changes were not saved.", clean(c.What())),
		caution: "Reload shows their version and discards your edits; Keep editing lets you copy them first.",
		cancel:  "Keep editing", confirm: "Reload",
		onYes: func() tea.Cmd {
			f.adopt(c.Current)
			f.err = ""
			return tea.Batch(f.keys.load(), f.c.toast("Reloaded %q.", clean(c.Current.Name)))
		},
	})})
}

// submit is Next for a new app and Save for an existing one.
func (f *appForm) submit() tea.Cmd {
	if msg := nameLimit(f.title.Value()); msg != "" {
		f.err = msg
		f.focus.focus(fTitle)
		return f.syncTitle()
	}
	if f.name() == "" && (f.touched || f.editing && f.renamed()) {
		f.err = describe(store.ErrNameEmpty)
		f.focus.focus(fTitle)
		return f.syncTitle()
	}
	if f.checks.set.IsEmpty() {
		f.err = describe(store.ErrNoScopes)
		f.setTab(0)
		f.focus.focus(fScopes)
		return f.syncTitle()
	}
	st, actor, name, set := f.c.store, f.c.actor, f.name(), f.checks.set
	ctx := f.c.ctx
	if !f.editing {
		if !f.touched {
			name = "" // the next free "Untitled app", as the store picks it now
		}
		f.saving = true
		return f.c.write(func() tea.Msg {
			app, err := st.CreateApp(ctx, actor, name, set)
			return appCreatedMsg{app: app, err: err}
		})
	}
	if !f.dirty() {
		return f.c.post(showListMsg{selectID: f.app.ID})
	}
	if why := f.outlivers(); why != "" {
		// Refused before it is asked, naming the keys, with the way to them.
		return f.c.post(openDialogMsg{newConfirm(f.c, confirmDialog{
			title: "Keys outlive the key policy", body: why, cancel: "Keep editing", confirm: "Open API Keys",
			onYes: func() tea.Cmd {
				f.setTab(1)
				f.focus.focus(fKeys)
				return nil
			},
		})})
	}
	if cmd, asked := f.confirmScopes(f.save); asked {
		return cmd
	}
	return f.save()
}

// created follows Next: on to the key step, or the store's refusal under
// the form, which keeps what was typed.
func (f *appForm) created(msg appCreatedMsg) tea.Cmd {
	if !f.saving || f.editing {
		return nil
	}
	f.saving = false
	var pe *store.PendingError
	if errors.As(msg.err, &pe) {
		return tea.Batch(f.c.post(showKeyStepMsg{app: msg.app}), f.c.post(toastMsg{kind: toastWarn,
			text: "App created; " + waitsText(pe)}))
	}
	if msg.err != nil {
		return f.fail(msg.err)
	}
	return tea.Batch(f.c.post(showKeyStepMsg{app: msg.app}), f.c.toast("App %q created.", clean(msg.app.Name)))
}

// waitsText says which grants wait for another admin: "Deploy Guardrails
// waits for another admin's approval (request 3)."
func waitsText(pe *store.PendingError) string {
	var grant scopes.Set
	ids := make([]string, len(pe.Requests))
	for i, a := range pe.Requests {
		grant |= a.Grant
		ids[i] = fmt.Sprint(a.ID)
	}
	verb := "waits"
	if grant.Len() > 1 {
		verb = "wait"
	}
	return fmt.Sprintf("%s %s for approval: request %s.", strings.Join(grant.Names(), ", "), verb, strings.Join(ids, ", "))
}

// save writes the edited name and scopes, unless someone else changed them
// since this window read the app: then it offers to reload instead.
func (f *appForm) save() tea.Cmd {
	name := f.title.Value()
	if !f.renamed() {
		name = f.app.Name // as stored, even if another tool put controls in it: SaveApp keeps it
	}
	st, actor, base, set := f.c.store, f.c.actor, f.app, f.checks.set
	ctx := f.c.ctx
	f.saving = true
	return f.c.write(func() tea.Msg {
		app, err := st.SaveApp(ctx, actor, base, name, set)
		return appSavedMsg{app: app, err: err}
	})
}

func (f *appForm) saved(msg appSavedMsg) tea.Cmd {
	if !f.saving || !f.editing {
		return nil
	}
	f.saving = false
	var conflict *store.ConflictError
	if errors.As(msg.err, &conflict) {
		return f.confirmReload(conflict)
	}
	var pe *store.PendingError
	if errors.As(msg.err, &pe) {
		return tea.Batch(f.c.post(showListMsg{selectID: msg.app.ID}), f.c.post(toastMsg{kind: toastWarn,
			text: "Saved; " + waitsText(pe)}))
	}
	if msg.err != nil {
		return f.fail(msg.err)
	}
	return tea.Batch(f.c.post(showListMsg{selectID: msg.app.ID}), f.c.toast("App %q updated.", clean(msg.app.Name)))
}

func (f *appForm) fail(err error) tea.Cmd {
	f.err = describe(err)
	var nameErr *store.NameError
	if errors.As(err, &nameErr) {
		f.focus.focus(fTitle)
		return f.syncTitle()
	}
	return nil
}

// head is how many lines the form draws above its body: the title field
// (two), the line under it, then the tabs (two) or a blank.
func (f *appForm) head() int {
	if f.editing {
		return 5
	}
	return 4
}

// layout works out the body's height and what goes under the checklist or
// beside the key table.
func (f *appForm) layout() {
	w, h := f.c.width, f.c.height
	f.bodyH = max(3, h-f.head()-1)
	f.notes, f.pane = nil, nil
	if f.editing && f.tab == 1 {
		f.pane = f.keys.table.pane(f.c, w)
		room := f.bodyH - 1 - 3 // the buttons; a header and two rows at least
		if len(f.pane) > room {
			f.pane = f.pane[:max(0, room)]
		}
		f.keys.table.layout(f.c, w, f.bodyH-len(f.pane)-1)
		return
	}
	// Under the checklist, the focused scope's description, when there is
	// room for the whole list and it.
	all := len(f.checks.all) + len(scopes.Resources)
	if room := f.bodyH - all; room >= 1 {
		desc := wrap(f.checks.current().Description, w)
		if len(desc) > room {
			desc = append(desc[:room-1], truncate(strings.Join(desc[room-1:], " "), w))
		}
		f.notes = wrapStyled(f.c.styles.Hint, strings.Join(desc, " "), w)
		if len(f.notes) > room {
			f.notes = f.notes[:room]
		}
	}
}

func (f *appForm) draw() drawing {
	s, w := f.c.styles, f.c.width
	var d drawing
	fieldW := min(w, store.MaxNameLen+2) // a whole name, and the cursor after it
	f.title.SetWidth(fieldW - 1)
	d.add(s.field(s.Title.Render(f.title.View()), fieldW, f.focus.is(fTitle)))
	d.mark(fTitle, 0, 0, fieldW, 2)
	switch {
	case f.err != "":
		d.add(s.Error.Render(truncate(f.err, w)))
	case !f.c.canWrite():
		d.add(s.Caution.Render(truncate("Read-only: viewers can look but not change anything.", w)))
	case f.editing:
		d.add(s.Hint.Render(truncate("Keys change at once; the name and scopes when you Save.", w)))
	default:
		d.add(s.Hint.Render(truncate("Name the app, then select the scopes its API keys may use.", w)))
	}
	if f.editing {
		d.embed(s.tabBar(w, tabNames, f.tab, f.focus.is(fTabs)))
	} else {
		d.add("")
	}

	var body drawing
	if f.editing && f.tab == 1 {
		body = f.keysView()
	} else {
		body = f.checks.view(s, w, f.bodyH-len(f.notes), f.focus.is(fScopes))
		body.add(f.notes...)
	}
	body.fill(f.bodyH)
	d.embed(body)

	primary := "Next"
	if f.editing {
		primary = "Save"
	}
	cancel := "Cancel"
	if !f.c.canWrite() {
		cancel = "Back"
	}
	btns := []button{{id: fCancel, label: cancel}}
	if f.c.canWrite() {
		label := primary
		switch {
		case f.saving && f.editing:
			label = "Saving…"
		case f.saving:
			label = "Creating…"
		}
		btns = append(btns, button{id: fPrimary, label: label, disabled: f.checks.set.IsEmpty() || f.saving})
	}
	d.buttons(s, w, f.focus.cur, btns...)
	return d
}

func (f *appForm) keysView() drawing {
	s, w := f.c.styles, f.c.width
	var d drawing
	if f.keys.err != nil {
		d.add(wrapStyled(s.Error, describe(f.keys.err), w)...)
		return d
	}
	if f.keys.loading && len(f.keys.table.keys) == 0 {
		d.add(s.Hint.Render("Loading API keys…"))
	} else {
		d.embed(f.keys.table.view(f.c, f.focus.is(fKeys)))
	}
	d.fill(f.bodyH - len(f.pane) - 1)
	d.add(f.pane...)
	btns := []button{{id: fCreateKey, label: "Create API Key", disabled: !f.c.canWrite()}}
	if k, ok := f.keys.table.selected(); ok {
		// The selected key's actions, for the mouse as the seed's icons are,
		// and in the focus ring; r and d do the same from the table.
		btns = append(btns, button{id: fRoll, label: "Roll key", disabled: !f.c.canWrite() || k.State(f.c.now()) == store.KeyScheduled},
			button{id: fDeleteKey, label: "Delete key", disabled: !f.c.canWrite()})
	}
	line, areas := s.buttonRow(0, f.focus.cur, btns...)
	if reason := "viewers cannot change keys"; !f.c.canWrite() && lipgloss.Width(line)+2+len(reason) <= w {
		line += "  " + s.Hint.Render(reason)
	}
	d.addRow(line, areas)
	return d
}

func (f *appForm) ShortHelp() []key.Binding {
	k := f.c.keys
	if !f.c.canWrite() {
		b := []key.Binding{k.Next}
		switch {
		case f.focus.is(fTabs):
			b = append(b, with(k.Left, "API Scopes"), with(k.Right, "API Keys"))
		case f.focus.is(fScopes), f.focus.is(fKeys):
			b = append(b, k.Up, k.Down)
		}
		return append(b, with(k.Back, "back"))
	}
	b := []key.Binding{k.Next}
	switch f.focus.cur {
	case fTitle:
		b = append(b, with(k.Enter, "to scopes"))
	case fTabs:
		b = append(b, with(k.Prev, "rename"), with(k.Left, "API Scopes"), with(k.Right, "API Keys"))
	case fScopes:
		b = append(b, k.Up, k.Down, k.Toggle)
	case fKeys:
		b = append(b, k.Up, k.Down, k.Roll, with(k.Delete, "delete key"), with(k.Left, "API Scopes"), k.CreateKey)
	case fCreateKey:
		b = append(b, with(k.Enter, "create API key"))
	case fRoll:
		b = append(b, with(k.Enter, "roll key"))
	case fDeleteKey:
		b = append(b, with(k.Enter, "delete key"))
	case fCancel:
		b = append(b, with(k.Enter, "cancel"))
	case fPrimary:
		if f.editing {
			b = append(b, with(k.Enter, "save"))
		} else {
			b = append(b, with(k.Enter, "next"))
		}
	}
	if f.editing {
		b = append(b, k.Save)
	}
	if f.editing && f.focus.is(fScopes) {
		b = append(b, k.Narrow)
	}
	return append(b, with(k.Back, "back"))
}

func (f *appForm) FullHelp() [][]key.Binding {
	k := f.c.keys
	if !f.editing {
		return [][]key.Binding{
			{k.Next, k.Prev, with(k.Enter, "press")},
			{k.Up, k.Down, k.Home, k.End, k.Toggle},
			{with(k.Save, "next"), with(k.Back, "back")},
		}
	}
	return [][]key.Binding{
		{k.Next, k.Prev, with(k.Enter, "press"), k.Toggle, k.Narrow},
		{k.Up, k.Down, k.Home, k.End, with(k.Left, "scopes tab"), with(k.Right, "keys tab")},
		{k.CreateKey, k.Roll, with(k.Delete, "delete key"), k.Save, with(k.Back, "back")},
	}
}
