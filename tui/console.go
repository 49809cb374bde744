// Package tui is the settings console: Settings › Security & Control › API
// Scopes as a Bubble Tea program. A root model draws the frame (breadcrumb,
// navigation, messages, help) and routes messages to the active page or to
// the dialog on top of it.
package tui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"apiscopes/store"
)

// Options configure a console.
type Options struct {
	Store Store // usually a *store.Store
	// Context ends the console's store calls when it is done: the SSH
	// session's, or the program's. Background if nil.
	Context context.Context
	Actor   store.Actor // who acts: the "Created by" of what they create

	Clipboard Clipboard // where Copy and Close copies; SystemClipboard if nil
	// Location is the zone every time on screen is shown in, and a date
	// typed is read in. If nil, it is UTC, or the zone the TZ variable of
	// the program's environment names (tea.EnvMsg): locally the process's
	// TZ, over SSH the one the client sent.
	Location      *time.Location
	ToastDuration time.Duration    // how long success messages stay; 4 s if zero
	Now           func() time.Time // for "3 min ago" and expiry; time.Now if nil

	// Demo, if set, marks the console as a demonstration and opens it with
	// the demo's story.
	Demo *Demo

	// Term is the terminal's type (TERM), when known before the program
	// starts: a monochrome one ("xterm-mono") is drawn without colour from
	// the first frame. If empty, the program's environment says (tea.EnvMsg).
	Term string
}

// MinWidth and MinHeight are the smallest terminal the layout fits; below
// it the console says so instead of drawing a broken screen.
const (
	MinWidth  = 64
	MinHeight = 18

	navWidth    = 22  // the left navigation, border included
	navMinWidth = 100 // below this terminal width the navigation folds into the breadcrumb
)

// page is one screen of the console's content area, c.width × c.height
// cells. The root never asks what kind of page it has: the page declares
// what the root needs (frame).
type page interface {
	Update(tea.Msg) tea.Cmd
	// layout works out sizes and scrolling for the content area; draw then
	// only draws. The root calls both at the end of every Update.
	layout()
	draw() drawing
	// click answers a click on one of the areas draw named.
	click(id string) tea.Cmd
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	frame() pageFrame
}

// pageFrame is what a page declares to the frame around it.
type pageFrame struct {
	section string // the navigation page it belongs to
	crumb   string // the breadcrumb's last part beyond the section, if any
	typing  bool   // a text field has the keyboard: letters are text
	quits   bool   // q quits from here, and the navigation may leave it
	busy    string // what it is waiting for, for the spinner; "" when idle
	focus   string // the area that has the focus
}

// dialog is a modal box drawn over the page; it gets every key until it
// closes itself with closeDialogMsg.
type dialog interface {
	Update(tea.Msg) tea.Cmd
	draw() drawing // the whole box, border and all
	click(id string) tea.Cmd
	focused() string // the area that has the focus
	ShortHelp() []key.Binding
}

// busyDialog is a dialog that can be waiting for the store.
type busyDialog interface{ busy() string }

// guard is a page or dialog that has something to lose when the console
// quits: a key on screen or on its way, unsaved edits. quitting asks about
// it, as esc would, and says what it did; atStake says what would be lost,
// in a sentence that ends with what to do, or "" when nothing would.
type guard interface {
	quitting() (tea.Cmd, quitAnswer)
	atStake() string
}

// quitAnswer is a guard's answer to ctrl+c.
type quitAnswer int

const (
	quitFree  quitAnswer = iota // nothing to lose here
	quitAsked                   // a question is on screen: a second ctrl+c quits
	quitHeld                    // a key is on its way: it is shown first, whatever is pressed
)

// quitAskedMsg says a question about quitting is on screen, asked after
// ctrl+c: a second ctrl+c quits.
type quitAskedMsg struct{}

// Model is the console's root model.
type Model struct {
	c      *common
	copy   Clipboard
	toastD time.Duration

	list   *appList  // kept between visits, as the audit log is
	audit  *auditLog // nil until first opened
	policy *policyPage
	approv *approvalsPage
	page   page
	dialog dialog
	help   help.Model

	toast     string
	toastKind toastKind
	toastID   int

	sub     *store.Subscription // the store's change feed: every session's changes show at once
	held    []store.Update      // updates that arrived while this console's own change was in flight
	askedCC bool                // the last key was a ctrl+c that asked instead of quitting

	demo      *Demo // non-nil in a demonstration
	zoneFixed bool  // Options.Location was given: TZ does not change it

	profile   colorprofile.Profile // the terminal's colours, once the program says
	mono      bool                 // the terminal's type has no colour, whatever else says so
	termFixed bool                 // Options.Term was given

	initCmd tea.Cmd // the first page's start-up command, for Init
	spin    spinnerState

	shown atomic.Pointer[ShownKey] // the key shown once on screen, for ShownKey

	screen  string                     // the screen as last drawn, at the end of Update
	hits    *lipgloss.Compositor       // where each clickable area of it is, for the mouse
	areas   map[string]image.Rectangle // the same, by id: what is on screen where
	buttons []string                   // the ids of the buttons that take clicks now
}

// New returns the console on the app list. It reads the first page of apps
// before it returns, so the first frame shows them.
func New(o Options) *Model {
	if o.Clipboard == nil {
		o.Clipboard = SystemClipboard()
	}
	zoneFixed := o.Location != nil
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.ToastDuration == 0 {
		o.ToastDuration = 4 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	c := &common{ctx: o.Context, store: o.Store, actor: o.Actor, styles: NewStyles(true), keys: DefaultKeyMap(), loc: o.Location,
		now: o.Now, termW: 80, termH: 24}
	m := &Model{c: c, copy: o.Clipboard, toastD: o.ToastDuration, help: help.New(), demo: o.Demo, zoneFixed: zoneFixed,
		mono: monochrome(o.Term), termFixed: o.Term != ""}
	m.resize(80, 24)
	m.restyle(true)
	m.sub = o.Store.Subscribe()
	c.policy, _ = o.Store.Policy(c.ctx) // unreadable: no policy shown; the pages that need it read it again
	if list, err := o.Store.Approvals(c.ctx); err == nil {
		c.waiting = len(list)
	}
	m.checkReadOnly()
	var err error
	c.apps, err = firstApps(c.ctx, o.Store)
	if o.Demo != nil && o.Demo.Select != "" && err == nil && !c.apps.answers("") &&
		!slices.ContainsFunc(c.apps.apps, func(a store.App) bool { return store.FoldName(a.Name) == store.FoldName(o.Demo.Select) }) {
		c.apps, err = appsFrom(c.ctx, o.Store, o.Demo.Select) // the story's app is further down
	}
	want := ""
	if o.Demo != nil {
		want = o.Demo.Select
	}
	m.list = newAppList(c, err, want)
	m.page = m.list
	if o.Demo != nil {
		m.dialog = &welcomeDialog{c: c, demo: o.Demo}
	}
	m.draw()
	return m
}

func (m *Model) Init() tea.Cmd {
	return tea.Batch(tea.RequestBackgroundColor, waitForUpdate(m.sub), m.initCmd, m.spin.watch(m.busy()))
}

// Close ends the console's subscription to the store's changes; call it
// once the program has finished.
func (m *Model) Close() { m.sub.Close() }

func (m *Model) restyle(isDark bool) {
	m.c.styles = newStyles(isDark, !m.mono)
	if m.mono || m.colourless() {
		m.c.styles.withoutColour()
	}
	hs := help.DefaultStyles(isDark)
	hs.ShortKey, hs.FullKey = m.c.styles.HelpKey, m.c.styles.HelpKey
	hs.ShortDesc, hs.FullDesc = m.c.styles.HelpDesc, m.c.styles.HelpDesc
	hs.ShortSeparator, hs.FullSeparator, hs.Ellipsis = m.c.styles.HelpSep, m.c.styles.HelpSep, m.c.styles.HelpSep
	m.help.Styles = hs
}

func (m *Model) resize(w, h int) {
	m.c.termW, m.c.termH = w, h
	m.help.SetWidth(w - 2)
	m.c.width = w - 2
	if w >= navMinWidth {
		m.c.width -= navWidth + 1
	}
	m.c.height = h - 4 - (m.helpHeight() - 1)
}

func (m *Model) helpHeight() int {
	if m.help.ShowAll && m.page != nil {
		return lipgloss.Height(m.helpView())
	}
	return 1
}

func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.small() && isInput(msg) {
		// Nothing acts on a screen nobody can see (see smallInput).
		cmd := m.smallInput(msg)
		m.draw()
		return m, cmd
	}
	cmd := m.update(msg)
	for len(m.c.outbox) > 0 {
		// What a message posts is handled right after it, before the
		// messages queued earlier: a replayed key that leaves a page takes
		// the next key to the page it opened.
		next, later := m.c.outbox[0], m.c.outbox[1:]
		m.c.outbox = nil
		cmd = tea.Batch(cmd, m.update(next))
		m.c.outbox = append(m.c.outbox, later...)
	}
	cmd = tea.Batch(cmd, m.spin.watch(m.busy()))
	m.draw()
	return m, cmd
}

// busy is what the console waits for, for the spinner.
func (m *Model) busy() string {
	if m.c.writes > 0 && checking(m.c.store) {
		return "Checking the database before the first change…"
	}
	if d, ok := m.dialog.(busyDialog); ok {
		if b := d.busy(); b != "" {
			return b
		}
	}
	return m.page.frame().busy
}

// idle reports whether nothing is in flight: no store call, no page
// waiting.
func (m *Model) idle() bool { return m.c.writes == 0 && m.c.reads == 0 && m.busy() == "" }

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return nil
	case tea.BackgroundColorMsg:
		m.restyle(msg.IsDark())
		return nil
	case tea.EnvMsg:
		return m.environ(msg)
	case tea.ColorProfileMsg:
		return m.colourProfile(msg.Profile)
	case tea.KeyPressMsg:
		return m.updateKey(msg)
	case tea.MouseClickMsg, tea.MouseWheelMsg:
		return m.mouse(msg)

	case doneMsg:
		return m.done(msg)
	case feedMsg:
		return tea.Batch(m.update(updateMsg(msg)), waitForUpdate(m.sub))
	case updateMsg:
		if m.c.writes > 0 {
			m.held = append(m.held, msg.up)
			return nil
		}
		return m.apply(msg.up)

	case showListMsg:
		return tea.Batch(m.list.show(msg.selectID), m.show(m.list))
	case showAuditMsg:
		var cmd tea.Cmd
		if m.audit == nil {
			m.audit, cmd = newAuditLog(m.c)
		}
		return tea.Batch(m.show(m.audit), cmd)
	case showPolicyMsg:
		var cmd tea.Cmd
		if m.policy == nil {
			m.policy, cmd = newPolicyPage(m.c)
		}
		return tea.Batch(m.show(m.policy), cmd)
	case showApprovMsg:
		var cmd tea.Cmd
		if m.approv == nil {
			m.approv, cmd = newApprovalsPage(m.c)
		}
		return tea.Batch(m.show(m.approv), cmd)
	case policyLoadedMsg:
		if msg.err == nil {
			m.c.policy, m.c.waiting = msg.policy, msg.waiting
		}
		return m.broadcast(msg)
	case spinnerMsg:
		return m.spin.update(msg)
	case showNewAppMsg:
		p, cmd := newAppForm(m.c)
		return tea.Batch(m.show(p), cmd)
	case showKeyStepMsg:
		return m.show(newKeyStep(m.c, msg.app, m.copy))
	case showEditAppMsg:
		p, cmd := newEditForm(m.c, msg.app, m.copy)
		return tea.Batch(m.show(p), cmd)

	case quitAskedMsg:
		m.askedCC = true
		return nil
	case openDialogMsg:
		m.dialog = msg.d
		return nil
	case closeDialogMsg:
		m.dialog = nil
		return nil

	case toastMsg:
		m.toastID++
		m.toast, m.toastKind = msg.text, msg.kind
		id := m.toastID
		return tea.Tick(m.toastD, func(time.Time) tea.Msg { return toastExpiredMsg{id: id} })
	case toastExpiredMsg:
		if msg.id == m.toastID {
			m.toast = ""
		}
		return nil
	case copiedMsg:
		// Said as what happened: OSC 52 is sent, not known to have arrived.
		said := toastMsg{text: "API key copied to the clipboard.", kind: toastOK}
		if msg.where == copiedToTerminal {
			said = toastMsg{text: "Sent to your terminal with OSC 52.", kind: toastInfo}
		}
		cmd := m.c.post(said)
		if m.dialog != nil {
			cmd = tea.Batch(cmd, m.dialog.Update(msg)) // the key dialog closes, or keeps the key in sight
		}
		return cmd
	case terminalCopyMsg:
		return TerminalClipboard()(msg.text)
	case appsChangedMsg, resyncMsg, filterStepMsg, appsLoadedMsg, auditLoadedMsg:
		return m.broadcast(msg)
	}
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	return m.page.Update(msg)
}

// done passes on the answer of a store call: to the app index when it
// changed an app, then to the dialog and the page. Once the last of this
// console's changes in flight has answered, the updates held back meanwhile
// are applied; the ones that tell of this console's own changes change
// nothing, as the answers showed them already.
func (m *Model) done(d doneMsg) tea.Cmd {
	if d.write {
		m.c.writes--
	} else {
		m.c.reads--
	}
	var cmds []tea.Cmd
	switch msg := d.msg.(type) {
	case appsLoadedMsg:
		m.c.loaded(msg)
	case appCreatedMsg:
		if msg.err == nil || errors.Is(msg.err, store.ErrPending) { // made, with a grant waiting
			m.c.apps.put(msg.app)
			cmds = append(cmds, m.broadcast(appsChangedMsg{}))
		}
		if errors.Is(msg.err, store.ErrPending) {
			cmds = append(cmds, m.c.loadPolicy()) // the requests waiting, counted in the navigation
		}
	case appSavedMsg:
		if msg.err == nil || errors.Is(msg.err, store.ErrPending) {
			m.c.apps.put(msg.app)
			cmds = append(cmds, m.broadcast(appsChangedMsg{}))
		}
		if errors.Is(msg.err, store.ErrPending) {
			cmds = append(cmds, m.c.loadPolicy())
		}
	case appDeletedMsg:
		if msg.err == nil {
			m.c.apps.remove(msg.app.ID)
			cmds = append(cmds, m.broadcast(appsChangedMsg{}))
		}
	case policyLoadedMsg:
		if msg.err == nil {
			m.c.policy, m.c.waiting = msg.policy, msg.waiting
		}
	}
	cmds = append(cmds, m.broadcast(d.msg))
	if m.c.writes == 0 {
		held := m.held
		m.held = nil
		for _, up := range held {
			cmds = append(cmds, m.apply(up))
		}
	}
	return tea.Batch(cmds...)
}

// apply shows an update of the change feed everywhere: in the app index,
// the audit log, and the page and dialog on screen. Nothing is read again,
// unless the feed lost updates (Resync).
func (m *Model) apply(up store.Update) tea.Cmd {
	if up.Resync {
		m.checkReadOnly()
		return tea.Batch(m.c.reload(m.c.apps.query), m.c.loadPolicy(), m.broadcast(resyncMsg{}))
	}
	var cmds []tea.Cmd
	if m.c.apps.apply(up) {
		cmds = append(cmds, m.broadcast(appsChangedMsg{}))
	}
	if touchesPolicy(up.Event) || up.Event.Action == store.ActionAppDelete || up.Event.Action == store.ActionAppUpdate {
		cmds = append(cmds, m.c.loadPolicy()) // a request's app changing makes it stale
	}
	return tea.Batch(append(cmds, m.broadcast(updateMsg{up}))...)
}

// checkReadOnly asks the store whether the database takes changes from
// this console: not once it moved past this version's schema, nor while
// it waits for its upgrade to it. The console then reads and says why.
func (m *Model) checkReadOnly() {
	switch {
	case damaged(m.c.store) != nil:
		m.c.readOnly, m.c.readOnlyWhy = "the database is damaged: restore a backup (docs/operations.md)", "the database is damaged"
	case m.c.store.Outdated() != nil:
		m.c.readOnly, m.c.readOnlyWhy = "the database was upgraded by a newer apiscopes: upgrade this one", "upgrade apiscopes"
	case m.c.store.Behind() != nil:
		m.c.readOnly, m.c.readOnlyWhy = "the database waits for its upgrade (apiscopes upgrade)", "waiting for the upgrade"
	default:
		m.c.readOnly, m.c.readOnlyWhy = "", ""
	}
}

// broadcast gives a message to the pages that keep state between visits,
// the page on screen and the dialog.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	cmds := []tea.Cmd{m.list.Update(msg)}
	if m.audit != nil {
		cmds = append(cmds, m.audit.Update(msg))
	}
	if m.policy != nil {
		cmds = append(cmds, m.policy.Update(msg))
	}
	if m.approv != nil {
		cmds = append(cmds, m.approv.Update(msg))
	}
	if m.page != page(m.list) && m.page != page(m.audit) && m.page != page(m.policy) && m.page != page(m.approv) {
		cmds = append(cmds, m.page.Update(msg))
	}
	if m.dialog != nil {
		cmds = append(cmds, m.dialog.Update(msg))
	}
	return tea.Batch(cmds...)
}

func (m *Model) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	if key.Matches(msg, k.ForceQuit) {
		return m.ctrlC()
	}
	m.askedCC = false
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	f := m.page.frame()
	switch {
	case !f.typing && key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.resize(m.c.termW, m.c.termH)
		return nil
	case !f.typing && f.quits && key.Matches(msg, k.Quit):
		return tea.Quit
	case !f.typing && f.quits && key.Matches(msg, k.Policy) && f.section != sectionPolicy:
		return m.c.post(showPolicyMsg{})
	case !f.typing && f.quits && key.Matches(msg, k.Approvals) && f.section != sectionApprovals:
		return m.c.post(showApprovMsg{})
	}
	return m.page.Update(msg)
}

// ctrlC quits, unless the dialog or the page has something to lose: then it
// asks, as esc would, and a second ctrl+c quits.
func (m *Model) ctrlC() tea.Cmd {
	if m.askedCC {
		return tea.Quit
	}
	for _, g := range []any{m.dialog, m.page} {
		if g, ok := g.(guard); ok {
			switch cmd, answer := g.quitting(); answer {
			case quitAsked:
				m.askedCC = true
				return cmd
			case quitHeld:
				return cmd
			}
		}
	}
	return tea.Quit
}

// show puts a page on screen. A message about the page left behind goes
// with it: what is said next is about the new one.
func (m *Model) show(p page) tea.Cmd {
	if p != m.page {
		m.toast = ""
	}
	m.page, m.dialog = p, nil
	m.resize(m.c.termW, m.c.termH)
	return nil
}

// View shows the screen drawn at the end of the last Update: the layout is
// computed once per change, and a click is resolved against exactly what
// is on screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.screen)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "apiscopes — " + m.page.frame().section
	return v
}

// draw draws the screen and records where its clickable areas are, and
// what the session around the console may ask about it (ShownKey).
func (m *Model) draw() {
	m.screen, m.hits, m.areas, m.buttons = m.render()
	m.noteShownKey()
}

// focused is the area that has the focus, as the areas name it, and where
// it is on screen (ok false if it is not drawn).
func (m *Model) focused() (id string, at image.Rectangle, ok bool) {
	if m.dialog != nil {
		id = "d:" + m.dialog.focused()
	} else {
		id = "p:" + m.page.frame().focus
	}
	at, ok = m.areas[id]
	return id, at, ok
}

// render draws the whole screen as text, and stacks the areas of the page,
// the navigation and the dialog into layers for the mouse's hit test: a
// dialog's above the page's, its box swallowing clicks that miss its parts.
func (m *Model) render() (string, *lipgloss.Compositor, map[string]image.Rectangle, []string) {
	c := m.c
	areas := map[string]image.Rectangle{}
	if m.small() {
		return m.tooSmall(), lipgloss.NewCompositor(), areas, nil
	}
	var layers []*lipgloss.Layer
	var buttons []string
	mark := func(id string, x, y, w, h, z int) {
		areas[id] = image.Rect(x, y, x+w, y+h)
		layers = append(layers, lipgloss.NewLayer(blank(w, h)).ID(id).X(x).Y(y).Z(z))
	}
	m.page.layout()
	pd := m.page.draw()
	content := lipgloss.NewStyle().Width(c.width).Height(c.height).MaxHeight(c.height).Render(pd.String())
	left := 1
	body := content
	if c.termW >= navMinWidth {
		nav, navAreas := m.navView()
		body = lipgloss.JoinHorizontal(lipgloss.Top, nav, " ", content)
		for _, a := range navAreas {
			mark("n:"+a.id, left+a.x, 2+a.y, a.w, a.h, 1)
		}
		left += navWidth + 1
	}
	for _, a := range pd.areas {
		if a.y < c.height {
			mark("p:"+a.id, left+a.x, 2+a.y, min(a.w, c.width-a.x), min(a.h, c.height-a.y), 1)
			if a.button && m.dialog == nil {
				buttons = append(buttons, "p:"+a.id)
			}
		}
	}
	page := m.headerView() + "\n\n" + lipgloss.NewStyle().PaddingLeft(1).Render(body)
	if m.dialog != nil {
		page = c.styles.Backdrop.Render(ansi.Strip(page)) // the page goes faint behind the dialog
	}
	screen := strings.Join([]string{
		page,
		m.toastView(),
		lipgloss.NewStyle().PaddingLeft(1).Render(m.helpView()),
	}, "\n")
	if m.dialog != nil {
		dd := m.dialog.draw()
		box := dd.String()
		bw, bh := lipgloss.Width(box), lipgloss.Height(box)
		x := max(0, (c.termW-bw)/2)
		y := max(1, (c.termH-bh)/2) // the header stays in sight
		mark("dialog", x, y, bw, bh, 2)
		for _, a := range dd.areas {
			mark("d:"+a.id, x+a.x, y+a.y, a.w, a.h, 3)
			if a.button {
				buttons = append(buttons, "d:"+a.id)
			}
		}
		// The dialog's rows are cleared edge to edge: no word cut by its
		// border reads as part of it.
		screen = lipgloss.NewCompositor(
			lipgloss.NewLayer(screen),
			lipgloss.NewLayer(blank(c.termW, bh)).X(0).Y(y).Z(1),
			lipgloss.NewLayer(box).X(x).Y(y).Z(2),
		).Render()
	}
	return screen, lipgloss.NewCompositor(layers...), areas, buttons
}

func (m *Model) headerView() string {
	s := m.c.styles
	f := m.page.frame()
	badge := s.App.Render("apiscopes")
	if m.demo != nil {
		badge += s.DemoBadge.Render("DEMO")
	}
	who := s.Hint.Render(fmt.Sprintf("%s (%s)", clean(m.c.actor.Name), m.c.actor.Role))
	if sp := m.spin.view(s); sp != "" {
		who = sp + "  " + who
	}
	// Who is acting always shows (it matters over SSH); the breadcrumb gives
	// way from its least specific end, keeping where the admin is.
	room := m.c.termW - 3 - lipgloss.Width(who) - lipgloss.Width(badge) - 1
	if room < 20 {
		who, room = "", m.c.termW-2-lipgloss.Width(badge)-1
	}
	line := badge + " " + m.crumbs(f, room)
	return " " + line + strings.Repeat(" ", max(1, m.c.termW-1-lipgloss.Width(line)-lipgloss.Width(who))) + who
}

// crumbs is the breadcrumb in at most width cells: Settings › Security &
// Control › the section › the page. When it does not fit, the parts give way
// from the left ("… › API Scopes › Untitled app"), and only then is the last
// cut, in its middle.
func (m *Model) crumbs(f pageFrame, width int) string {
	s := m.c.styles
	parts := []string{"Settings", "Security & Control", f.section}
	if f.crumb != "" {
		parts = append(parts, f.crumb)
	}
	join := func(ps []string, lead bool) string {
		styled := make([]string, len(ps))
		for i, p := range ps {
			if i == len(ps)-1 {
				styled[i] = s.CrumbActive.Render(p)
			} else {
				styled[i] = s.Crumb.Render(p)
			}
		}
		out := strings.Join(styled, s.Crumb.Render(" › "))
		if lead {
			out = s.Crumb.Render("… › ") + out
		}
		return out
	}
	for drop := 0; drop < len(parts)-1; drop++ {
		if line := join(parts[drop:], drop > 0); lipgloss.Width(line) <= width {
			return line
		}
	}
	// The section and the page, the page's name cut; or the page alone.
	last := parts[len(parts)-1]
	if f.crumb != "" {
		lead := s.Crumb.Render("… › "+f.section) + s.Crumb.Render(" › ")
		if room := width - lipgloss.Width(lead); room >= 12 {
			return lead + s.CrumbActive.Render(truncate(last, room))
		}
	}
	return s.Crumb.Render("… › ") + s.CrumbActive.Render(truncate(last, max(1, width-4)))
}

// navView is the left navigation: Security & Control with its pages, the
// current one marked, each with the key that opens it; it says where each
// page's line is, for the mouse.
func (m *Model) navView() (string, []area) {
	s := m.c.styles
	lines := []string{s.NavGroup.Render("Security & Control")}
	var areas []area
	section := m.page.frame().section
	for i, item := range navItems(m.c.keys) {
		areas = append(areas, area{id: item.name, x: 0, y: i + 1, w: navWidth - 1, h: 1})
		label := item.name
		if item.name == sectionApprovals && m.c.waiting > 0 {
			label = fmt.Sprintf("%s (%d)", item.name, m.c.waiting)
		}
		if item.name == section {
			lines = append(lines, s.NavActive.Render(label))
		} else {
			hint := s.HelpSep.Render(item.key.Help().Key)
			name := s.NavItem.Render(label)
			lines = append(lines, name+strings.Repeat(" ", max(1, navWidth-2-lipgloss.Width(name)-lipgloss.Width(hint)))+hint)
		}
	}
	return s.NavBorder.Width(navWidth).Height(m.c.height).Render(strings.Join(lines, "\n")), areas
}

// navItem is one page of the left navigation.
type navItem struct {
	name string
	key  key.Binding
}

// The navigation's pages.
const (
	sectionScopes    = "API Scopes"
	sectionAudit     = "Audit Log"
	sectionPolicy    = "Key Policy"
	sectionApprovals = "Approvals"
)

func navItems(k KeyMap) []navItem {
	return []navItem{{sectionScopes, k.Scopes}, {sectionAudit, k.Audit}, {sectionPolicy, k.Policy}, {sectionApprovals, k.Approvals}}
}

func (m *Model) toastView() string {
	if m.toast == "" && m.c.readOnly != "" {
		// Said until it is so no more: a message would vanish, the state not.
		return " " + m.c.styles.ToastWarn.Render(truncate("! Read-only: "+m.c.readOnly, m.c.termW-2))
	}
	if m.toast == "" {
		return ""
	}
	s, w := m.c.styles, m.c.termW-2
	switch m.toastKind {
	case toastOK:
		return " " + s.ToastOK.Render(truncate("✓ "+m.toast, w))
	case toastWarn:
		return " " + s.ToastWarn.Render(truncate("! "+m.toast, w))
	case toastErr:
		return " " + s.ToastErr.Render(truncate("✗ "+m.toast, w))
	}
	return " " + s.ToastInfo.Render(truncate(m.toast, w))
}

func (m *Model) helpView() string {
	k := m.c.keys
	if m.dialog != nil {
		return m.shortHelp(m.dialog.ShortHelp(), k.ForceQuit)
	}
	if m.help.ShowAll {
		groups := m.page.FullHelp()
		last := len(groups) - 1
		groups[last] = append(groups[last], with(k.ForceQuit, "quit"), with(k.Help, "fewer keys"))
		return m.help.FullHelpView(groups)
	}
	return m.shortHelp(m.page.ShortHelp(), k.Help)
}

// shortHelp is the help bar: as many bindings as fit, then "…", and always
// last the one that matters most (? for all keys; in a dialog, how to
// quit). (The help bubble keeps adding bindings past its width when its
// ellipsis does not fit either.)
func (m *Model) shortHelp(b []key.Binding, last key.Binding) string {
	w := m.c.termW - 2
	sep := m.c.styles.HelpSep.Render(" • ")
	tail := m.help.ShortHelpView([]key.Binding{last})
	for n := len(b); n >= 0; n-- {
		line := m.help.ShortHelpView(b[:n])
		if n < len(b) {
			line += " " + m.c.styles.HelpSep.Render("…")
		}
		if line != "" {
			line += sep
		}
		line += tail
		if lipgloss.Width(line) <= w {
			return line
		}
	}
	return truncate(tail, w)
}
