package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// appForm is both the new-app page (title "Untitled app", the scope
// checklist, Next) and the app's configuration window (editable title, API
// Scopes and API Keys tabs, Save).
type appForm struct {
	c       *common
	editing bool
	app     store.App // the app being edited, as last saved
	title   textinput.Model
	shown   string // edit only: app.Name as the title field first showed it, made safe to draw
	checks  checklist
	keys    keyActions // edit only
	usage   scopeUsage // edit only: the app's use of its scopes, and a proposal to narrow them
	tab     int        // edit only: 0 API Scopes, 1 API Keys
	focus   field
	err     string
	saving  bool // Next or Save is with the store

	// typedAhead holds the keys pressed on the key table, or to save,
	// before the app's keys have loaded: they act once the keys are known.
	typedAhead []tea.KeyPressMsg
}

// field is a focusable part of the form; tab and shift+tab walk them.
type field int

const (
	fTitle field = iota
	fTabs
	fScopes
	fKeys
	fCreateKey
	fCancel
	fPrimary
)

var tabNames = []string{"API Scopes", "API Keys"}

func newAppForm(c *common) (*appForm, tea.Cmd) {
	f := &appForm{c: c, checks: newChecklist(0)}
	f.title = newInput(c.styles, store.DefaultAppName)
	st := c.store
	next := c.read(func() tea.Msg {
		name, err := st.NextAppName()
		if err != nil {
			return nil
		}
		return nextNameMsg{name}
	})
	return f, tea.Batch(f.setFocus(fTitle), next)
}

// newEditForm opens the configuration window on app as the list has it
// (the change feed keeps the list current), and reads its keys.
func newEditForm(c *common, app store.App, copy Clipboard) (*appForm, tea.Cmd) {
	f := &appForm{c: c, editing: true, app: app, checks: newChecklist(app.Scopes),
		keys: keyActions{c: c, appID: app.ID, copy: copy}}
	f.title = newInput(c.styles, "App name")
	f.showName(app.Name)
	f.usage.c, f.checks.usage = c, &f.usage
	return f, tea.Batch(f.keys.load(), c.loadAppUsage(app.ID), f.setFocus(fTabs))
}

func (f *appForm) frame() pageFrame {
	fr := pageFrame{section: sectionScopes, crumb: "New app", typing: f.focus == fTitle, busy: f.busy()}
	if f.editing {
		fr.crumb = clean(f.app.Name)
	}
	return fr
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

func (f *appForm) fields() []field {
	switch {
	case !f.c.canWrite() && f.tab == 0:
		return []field{fTabs, fScopes, fCancel}
	case !f.c.canWrite() && (len(f.keys.table.keys) > 0 || f.keys.loading):
		return []field{fTabs, fKeys, fCancel}
	case !f.c.canWrite():
		return []field{fTabs, fCancel}
	case !f.editing:
		return []field{fTitle, fScopes, fCancel, fPrimary}
	case f.tab == 0:
		return []field{fTitle, fTabs, fScopes, fCancel, fPrimary}
	case len(f.keys.table.keys) > 0 || f.keys.loading:
		return []field{fTitle, fTabs, fKeys, fCreateKey, fCancel, fPrimary}
	}
	return []field{fTitle, fTabs, fCreateKey, fCancel, fPrimary}
}

func (f *appForm) setFocus(to field) tea.Cmd {
	f.focus = to
	if to == fTitle {
		return f.title.Focus()
	}
	f.title.Blur()
	return nil
}

// step moves the focus by delta through the fields, wrapping around.
func (f *appForm) step(delta int) tea.Cmd {
	fs := f.fields()
	i := slices.Index(fs, f.focus)
	return f.setFocus(fs[(i+delta+len(fs))%len(fs)])
}

func (f *appForm) name() string { return strings.TrimSpace(f.title.Value()) }

// dirty reports unsaved changes to the name or scopes.
func (f *appForm) dirty() bool {
	if !f.editing {
		return f.title.Value() != "" || !f.checks.set.IsEmpty()
	}
	return f.renamed() || f.checks.set != f.app.Scopes
}

// showName puts a stored name in the title field, made safe to draw, and
// remembers it as the name the form shows unchanged.
func (f *appForm) showName(name string) {
	f.title.SetValue(clean(name))
	f.shown = f.name()
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
		cmds := []tea.Cmd{f.keys.update(msg)}
		f.refocus()
		if !f.keys.loading {
			ahead := f.typedAhead
			f.typedAhead = nil
			for _, km := range ahead {
				cmds = append(cmds, f.Update(km))
			}
		}
		return tea.Batch(cmds...)
	}
	if f.focus == fTitle {
		var cmd tea.Cmd
		f.title, cmd = f.title.Update(msg)
		return cmd
	}
	return nil
}

func (f *appForm) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	k := f.c.keys
	switch {
	case key.Matches(msg, k.Back):
		return f.leave()
	case key.Matches(msg, k.Next):
		return f.step(1)
	case key.Matches(msg, k.Prev):
		return f.step(-1)
	case key.Matches(msg, k.Save):
		return f.submit()
	case f.editing && f.focus != fTitle && key.Matches(msg, k.Narrow):
		return f.narrow()
	}
	switch f.focus {
	case fTitle:
		if key.Matches(msg, k.Enter) || key.Matches(msg, k.Down) && msg.Key().Text == "" {
			return f.step(1)
		}
		var cmd tea.Cmd
		f.title, cmd = f.title.Update(msg)
		f.err = ""
		return cmd
	case fTabs:
		switch {
		case key.Matches(msg, k.Left):
			f.tab = 0
		case key.Matches(msg, k.Right):
			f.tab = 1
		case key.Matches(msg, k.Enter), key.Matches(msg, k.Down):
			return f.step(1)
		}
	case fScopes:
		if !f.c.canWrite() && key.Matches(msg, k.Toggle, k.Enter) {
			return f.c.toastErr(fmt.Errorf("%w: viewers can't change scopes", store.ErrPermission))
		}
		if f.checks.update(msg, k) {
			f.err = ""
		} else if key.Matches(msg, k.Right) && f.editing {
			f.tab = 1
			return f.setFocus(fTabs)
		}
	case fKeys:
		switch {
		case key.Matches(msg, k.Up):
			f.keys.table.move(true)
		case key.Matches(msg, k.Down):
			f.keys.table.move(false)
		case key.Matches(msg, k.Delete):
			return f.keys.confirmDelete(f.app.Name)
		case key.Matches(msg, k.Roll):
			return f.keys.roll(f.app)
		case key.Matches(msg, k.CreateKey):
			return f.keys.create(f.app)
		}
	case fCreateKey:
		if key.Matches(msg, k.Enter, k.CreateKey) {
			return f.keys.create(f.app)
		}
	case fCancel:
		if key.Matches(msg, k.Enter) {
			return f.leave()
		}
	case fPrimary:
		if key.Matches(msg, k.Enter) {
			return f.submit()
		}
	}
	if f.editing && f.focus != fTitle && key.Matches(msg, k.CreateKey) {
		f.tab = 1
		return f.keys.create(f.app)
	}
	return nil
}

// needsKeys reports whether a key press acts on the app's keys: on the key
// table, or a save, whose question about keys in use needs them.
func (f *appForm) needsKeys(msg tea.KeyPressMsg) bool {
	k := f.c.keys
	return f.focus == fKeys && !key.Matches(msg, k.Next, k.Prev, k.Back) || key.Matches(msg, k.Save) ||
		f.focus == fPrimary && key.Matches(msg, k.Enter)
}

// leave goes back to the list, asking first when there are unsaved changes.
func (f *appForm) leave() tea.Cmd {
	back := func() tea.Cmd { return f.c.post(showListMsg{selectID: f.app.ID}) }
	if !f.dirty() {
		return back()
	}
	return f.askDiscard("Discard", back)
}

// quitting asks before ctrl+c discards unsaved changes.
func (f *appForm) quitting() (tea.Cmd, quitAnswer) {
	if !f.dirty() || f.saving {
		return nil, quitFree
	}
	return f.askDiscard("Quit", func() tea.Cmd { return tea.Quit }), quitAsked
}

func (f *appForm) askDiscard(confirm string, then func() tea.Cmd) tea.Cmd {
	body := "You named this app or selected scopes. Leaving now discards them."
	if f.editing {
		body = fmt.Sprintf("You changed the name or scopes of %q and haven't saved.", clean(f.app.Name))
	}
	return f.c.post(openDialogMsg{&confirmDialog{
		c: f.c, title: "Discard unsaved changes?", body: body,
		cancel: "Keep editing", confirm: confirm, danger: true,
		onYes: then,
	}})
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
	if up.App != nil && up.App.Revision > f.app.Revision && !f.dirty() {
		f.app = *up.App
		f.showName(f.app.Name)
		f.checks.set = f.app.Scopes
	}
	cmd := f.keys.update(updateMsg{up})
	f.refocus()
	return cmd
}

// refocus moves the focus off a field that went away, such as the key
// table with its last key.
func (f *appForm) refocus() {
	if fs := f.fields(); !slices.Contains(fs, f.focus) {
		if slices.Contains(fs, fCreateKey) {
			f.setFocus(fCreateKey)
		} else {
			f.setFocus(fs[0])
		}
	}
}

// confirmReload tells the editor that someone else saved first, and offers
// to start again from their version; nothing is overwritten silently.
func (f *appForm) confirmReload(c *store.ConflictError) tea.Cmd {
	return f.c.post(openDialogMsg{&confirmDialog{
		c: f.c, title: "Someone else changed this app",
		body:    fmt.Sprintf("While you were editing, %s. Your changes were not saved.", clean(c.What())),
		caution: "Reload shows their version and discards your edits; Keep editing lets you copy them first.",
		cancel:  "Keep editing", confirm: "Reload",
		onYes: func() tea.Cmd {
			f.app = c.Current
			f.showName(c.Current.Name)
			f.checks.set = c.Current.Scopes
			f.err = ""
			return tea.Batch(f.keys.load(), f.c.toast("Reloaded %q.", clean(c.Current.Name)))
		},
	}})
}

// submit is Next for a new app and Save for an existing one.
func (f *appForm) submit() tea.Cmd {
	if f.checks.set.IsEmpty() {
		f.err = describe(store.ErrNoScopes)
		f.tab = 0
		return f.setFocus(fScopes)
	}
	st, actor, name, set := f.c.store, f.c.actor, f.name(), f.checks.set
	if !f.editing {
		f.saving = true
		return f.c.write(func() tea.Msg {
			app, err := st.CreateApp(actor, name, set)
			return appCreatedMsg{app: app, err: err}
		})
	}
	if !f.dirty() {
		return f.c.post(showListMsg{selectID: f.app.ID})
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
	if msg.err != nil {
		return f.fail(msg.err)
	}
	return tea.Batch(f.c.post(showKeyStepMsg{app: msg.app}), f.c.toast("App %q created.", clean(msg.app.Name)))
}

// save writes the edited name and scopes, unless someone else changed them
// since this window read the app: then it offers to reload instead.
func (f *appForm) save() tea.Cmd {
	name := f.title.Value()
	if !f.renamed() {
		name = f.app.Name // as stored, even if another tool put controls in it: SaveApp keeps it
	}
	st, actor, base, set := f.c.store, f.c.actor, f.app, f.checks.set
	f.saving = true
	return f.c.write(func() tea.Msg {
		app, err := st.SaveApp(actor, base, name, set)
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
	if msg.err != nil {
		return f.fail(msg.err)
	}
	return tea.Batch(f.c.post(showListMsg{selectID: msg.app.ID}), f.c.toast("App %q updated.", clean(msg.app.Name)))
}

func (f *appForm) fail(err error) tea.Cmd {
	f.err = describe(err)
	var nameErr *store.NameError
	if errors.As(err, &nameErr) {
		return f.setFocus(fTitle)
	}
	return nil
}

func (f *appForm) View() string {
	s, w, h := f.c.styles, f.c.width, f.c.height
	fieldW := min(w, 48)
	f.title.SetWidth(fieldW - 1)
	head := strings.Split(s.field(s.Title.Render(f.title.View()), fieldW, f.focus == fTitle), "\n")
	switch {
	case f.err != "":
		head = append(head, s.Error.Render(truncate(f.err, w)))
	case !f.c.canWrite():
		head = append(head, s.Caution.Render(truncate("Read-only: viewers can look but not change anything.", w)))
	case f.editing:
		head = append(head, s.Hint.Render(truncate(fmt.Sprintf("Created by %s on %s · %s", clean(f.app.CreatedBy), f.c.date(f.app.CreatedAt), countKeys(len(f.keys.table.keys))), w)))
	default:
		head = append(head, s.Hint.Render(truncate("Name the app, then select the scopes its API keys may use.", w)))
	}
	if f.editing {
		head = append(head, strings.Split(s.tabBar(w, tabNames, f.tab, f.focus == fTabs), "\n")...)
	} else {
		head = append(head, "")
	}

	// Under the list: the focused scope's description, or the rule for keys.
	var notes []string
	if f.editing && f.tab == 1 {
		notes = []string{"", s.Hint.Render(truncate("API keys can't be edited: roll a key to replace it, or delete it.", w))}
		if k, ok := f.keys.table.selected(); ok && f.focus == fKeys {
			if status := f.c.keyStatus(f.c.now(), k); status != "" {
				notes = append([]string{""}, wrapStyled(s.Caution, status, w)...)
			}
		}
	} else {
		room := max(1, min(2, h-len(head)-1-len(f.checks.all)-len(scopes.Resources)))
		desc := wrap(f.checks.current().Description, w)
		if len(desc) > room {
			desc = append(desc[:room-1], truncate(strings.Join(desc[room-1:], " "), w))
		}
		notes = wrapStyled(s.Hint, strings.Join(desc, " "), w)
		if h-len(head)-1-len(f.checks.all)-len(scopes.Resources)-len(notes) > 0 {
			notes = append([]string{""}, notes...) // a breath before it, where there is room
		}
	}
	primary := "Next"
	if f.editing {
		primary = "Save"
	}
	fi := -1
	switch f.focus {
	case fCancel:
		fi = 0
	case fPrimary:
		fi = 1
	}
	cancel := "Cancel"
	if !f.c.canWrite() {
		cancel = "Back"
	}
	buttons := s.buttonRow(w, fi, button{label: cancel}, button{label: primary, disabled: f.checks.set.IsEmpty() || !f.c.canWrite()})

	bodyH := max(1, h-len(head)-1)
	var body []string
	if f.editing && f.tab == 1 {
		body = f.keysView(max(1, bodyH-len(notes)))
	} else {
		body = f.checks.view(s, w, max(1, bodyH-len(notes)), f.focus == fScopes)
	}
	body = append(body, notes...)
	for len(body) < bodyH {
		body = append(body, "")
	}
	return strings.Join(slices.Concat(head, body, []string{buttons}), "\n")
}

func (f *appForm) keysView(height int) []string {
	s, w := f.c.styles, f.c.width
	if f.keys.err != nil {
		return wrapStyled(s.Error, describe(f.keys.err), w)
	}
	lines := f.keys.table.view(f.c, w, max(2, height-2), f.focus == fKeys)
	btn := 0
	if f.focus != fCreateKey {
		btn = -1
	}
	btns := []button{{label: "Create API Key", disabled: !f.c.canWrite()}}
	if k, ok := f.keys.table.selected(); ok {
		// The selected key's actions, for the mouse as the seed's icons are;
		// r and d do the same from the keyboard.
		btns = append(btns, button{label: "Roll key", disabled: !f.c.canWrite() || k.State(f.c.now()) == store.KeyScheduled},
			button{label: "Delete key", disabled: !f.c.canWrite()})
	}
	return append(lines, "", s.buttonRow(0, btn, btns...))
}

func (f *appForm) ShortHelp() []key.Binding {
	k := f.c.keys
	if !f.c.canWrite() {
		b := []key.Binding{k.Next}
		switch f.focus {
		case fTabs:
			b = append(b, with(k.Left, "API Scopes"), with(k.Right, "API Keys"))
		case fScopes, fKeys:
			b = append(b, k.Up, k.Down)
		}
		return append(b, with(k.Back, "back"))
	}
	b := []key.Binding{k.Next}
	switch f.focus {
	case fTitle:
		b = append(b, with(k.Enter, "to scopes"))
	case fTabs:
		b = append(b, with(k.Prev, "rename"), with(k.Left, "API Scopes"), with(k.Right, "API Keys"))
	case fScopes:
		b = append(b, k.Up, k.Down, k.Toggle)
	case fKeys:
		b = append(b, k.Up, k.Down, k.Roll, with(k.Delete, "delete key"), k.CreateKey)
	case fCreateKey:
		b = append(b, with(k.Enter, "create API key"))
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
	if f.editing && f.focus == fScopes {
		b = append(b, k.Narrow)
	}
	return append(b, with(k.Back, "back"))
}

func (f *appForm) FullHelp() [][]key.Binding {
	k := f.c.keys
	return [][]key.Binding{
		{k.Next, k.Prev, with(k.Enter, "press"), k.Toggle, k.Narrow},
		{with(k.Left, "scopes tab"), with(k.Right, "keys tab"), k.CreateKey, k.Roll, with(k.Delete, "delete key")},
		{k.Save, with(k.Back, "back")},
	}
}
