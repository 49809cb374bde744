// Package tui is the settings console: Settings › Security & Control › API
// Scopes as a Bubble Tea program. A root model draws the frame (breadcrumb,
// navigation, messages, help) and routes messages to the active page or to
// the dialog on top of it.
package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// Options configure a console.
type Options struct {
	Store *store.Store
	Actor store.Actor // who acts: the "Created by" of what they create

	Clipboard     Clipboard        // where Copy and Close copies; SystemClipboard if nil
	Location      *time.Location   // for created-on dates; time.Local if nil
	ToastDuration time.Duration    // how long success messages stay; 4 s if zero
	Now           func() time.Time // for "3 min ago" and expiry; time.Now if nil

	// Demo, if set, marks the console as a demonstration and opens it with
	// the demo's story.
	Demo *Demo
}

// MinWidth and MinHeight are the smallest terminal the layout fits; below
// it the console says so instead of drawing a broken screen.
const (
	MinWidth  = 64
	MinHeight = 18

	navWidth    = 22  // the left navigation, border included
	navMinWidth = 100 // below this terminal width the navigation folds into the breadcrumb
)

// page is one screen of the console's content area.
type page interface {
	Update(tea.Msg) tea.Cmd
	View() string
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
}

// dialog is a modal box drawn over the page; it gets every key until it
// closes itself with closeDialogMsg.
type dialog interface {
	Update(tea.Msg) tea.Cmd
	View() string
	ShortHelp() []key.Binding
}

// Model is the console's root model.
type Model struct {
	c      *common
	copy   Clipboard
	toastD time.Duration

	page   page
	crumb  string // the breadcrumb's last part beyond API Scopes, if any
	dialog dialog
	help   help.Model

	toast   string
	toastOK bool
	toastID int

	changes     <-chan struct{} // the store's change feed: other sessions' changes show at once
	stopChanges func()

	demo *Demo // non-nil in a demonstration

	pageInit tea.Cmd // the first page's start-up command, for Init
	spin     spinnerState
}

// storeChangedMsg says the database changed, perhaps in another session.
type storeChangedMsg struct{}

// New returns the console on the app list.
func New(o Options) *Model {
	if o.Clipboard == nil {
		o.Clipboard = SystemClipboard()
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.ToastDuration == 0 {
		o.ToastDuration = 4 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &common{store: o.Store, actor: o.Actor, styles: NewStyles(true), keys: DefaultKeyMap(), loc: o.Location,
		now: o.Now, termW: 80, termH: 24}
	m := &Model{c: c, copy: o.Clipboard, toastD: o.ToastDuration, help: help.New(), demo: o.Demo}
	m.resize(80, 24)
	m.restyle(true)
	m.page, m.pageInit = newAppList(c, 0)
	m.changes, m.stopChanges = o.Store.Changes()
	if o.Demo != nil {
		m.dialog = &welcomeDialog{c: c, demo: o.Demo}
	}
	return m
}

func (m *Model) Init() tea.Cmd {
	return tea.Batch(tea.RequestBackgroundColor, m.waitForChange(), m.pageInit, m.spin.watch(m.page))
}

// Close ends the console's subscription to the store's changes; call it
// once the program has finished.
func (m *Model) Close() { m.stopChanges() }

// waitForChange waits for the next change to the database.
func (m *Model) waitForChange() tea.Cmd {
	ch := m.changes
	return func() tea.Msg {
		if _, ok := <-ch; !ok {
			return nil
		}
		return storeChangedMsg{}
	}
}

func (m *Model) restyle(isDark bool) {
	m.c.styles = NewStyles(isDark)
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
	cmd := m.update(msg)
	for len(m.c.outbox) > 0 {
		next := m.c.outbox[0]
		m.c.outbox = m.c.outbox[1:]
		cmd = tea.Batch(cmd, m.update(next))
	}
	return m, tea.Batch(cmd, m.spin.watch(m.page))
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return nil
	case tea.BackgroundColorMsg:
		m.restyle(msg.IsDark())
		return nil
	case tea.KeyPressMsg:
		return m.updateKey(msg)
	case tea.MouseClickMsg, tea.MouseWheelMsg:
		return m.mouse(msg)

	case showListMsg:
		p, cmd := newAppList(m.c, msg.selectID)
		return tea.Batch(m.show(p, ""), cmd)
	case showAuditMsg:
		p, cmd := newAuditLog(m.c)
		return tea.Batch(m.show(p, ""), cmd)
	case spinnerMsg:
		return m.spin.update(msg, m.page)
	case showNewAppMsg:
		p, cmd := newAppForm(m.c)
		return tea.Batch(m.show(p, "New app"), cmd)
	case showKeyStepMsg:
		return m.show(newKeyStep(m.c, msg.app, m.copy), clean(msg.app.Name))
	case showEditAppMsg:
		p, cmd := newEditForm(m.c, msg.id, m.copy)
		if p == nil {
			return tea.Batch(cmd, m.c.post(dataChangedMsg{}))
		}
		return tea.Batch(m.show(p, clean(p.app.Name)), cmd)

	case openDialogMsg:
		m.dialog = msg.d
		return nil
	case closeDialogMsg:
		m.dialog = nil
		return nil

	case toastMsg:
		m.toastID++
		m.toast, m.toastOK = msg.text, !msg.isErr
		id := m.toastID
		return tea.Tick(m.toastD, func(time.Time) tea.Msg { return toastExpiredMsg{id: id} })
	case toastExpiredMsg:
		if msg.id == m.toastID {
			m.toast = ""
		}
		return nil
	case copiedMsg:
		cmd := toast("API key copied %s.", msg.where)
		if m.dialog != nil {
			cmd = tea.Batch(cmd, m.dialog.Update(msg)) // the key dialog closes, or explains OSC 52
		}
		return cmd
	case storeChangedMsg:
		return tea.Batch(m.page.Update(dataChangedMsg{}), m.waitForChange())
	case terminalCopyMsg:
		return TerminalClipboard()(msg.text)
	case appsLoadedMsg:
		if msg.idx != nil {
			m.c.apps = msg.idx
		}
		return m.page.Update(msg)
	case dataChangedMsg, filterStepMsg, auditLoadedMsg:
		return m.page.Update(msg) // the page under a dialog shows the change too
	}
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	return m.page.Update(msg)
}

func (m *Model) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.c.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit
	}
	if m.dialog != nil {
		return m.dialog.Update(msg)
	}
	typing := m.typing()
	switch {
	case !typing && key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.resize(m.c.termW, m.c.termH)
		return nil
	case !typing && key.Matches(msg, k.Quit):
		switch m.page.(type) {
		case *appList, *auditLog:
			return tea.Quit
		}
	}
	return m.page.Update(msg)
}

// typing reports whether a text field has the keyboard, so letters are text.
func (m *Model) typing() bool {
	switch p := m.page.(type) {
	case *appList:
		return p.editing
	case *auditLog:
		return p.editing
	case *appForm:
		return p.focus == fTitle
	}
	return false
}

func (m *Model) show(p page, crumb string) tea.Cmd {
	m.page, m.crumb, m.dialog = p, crumb, nil
	m.resize(m.c.termW, m.c.termH)
	return nil
}

func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "apiscopes — " + m.section()
	return v
}

// render draws the whole screen as text.
func (m *Model) render() string {
	c, s := m.c, m.c.styles
	if c.termW < MinWidth || c.termH < MinHeight {
		msg := lipgloss.JoinVertical(lipgloss.Center,
			s.Title.Render("Terminal too small"),
			s.Hint.Render(fmt.Sprintf("%d×%d — apiscopes needs at least %d×%d.", c.termW, c.termH, MinWidth, MinHeight)),
			s.Hint.Render("Enlarge the window, or press ctrl+c to quit."))
		return lipgloss.Place(c.termW, c.termH, lipgloss.Center, lipgloss.Center, msg)
	}
	content := lipgloss.NewStyle().Width(c.width).Height(c.height).MaxHeight(c.height).Render(m.page.View())
	body := content
	if c.termW >= navMinWidth {
		body = lipgloss.JoinHorizontal(lipgloss.Top, m.navView(), " ", content)
	}
	screen := strings.Join([]string{
		m.headerView(),
		"",
		lipgloss.NewStyle().PaddingLeft(1).Render(body),
		m.toastView(),
		lipgloss.NewStyle().PaddingLeft(1).Render(m.helpView()),
	}, "\n")
	if m.dialog == nil {
		return screen
	}
	box := m.dialog.View()
	x := max(0, (c.termW-lipgloss.Width(box))/2)
	y := max(0, (c.termH-lipgloss.Height(box))/2)
	return lipgloss.NewCompositor(lipgloss.NewLayer(screen), lipgloss.NewLayer(box).X(x).Y(y).Z(1)).Render()
}

func (m *Model) headerView() string {
	s := m.c.styles
	sep := s.Crumb.Render(" › ")
	parts := []string{s.Crumb.Render("Settings"), s.Crumb.Render("Security & Control")}
	section := m.section()
	if m.crumb == "" {
		parts = append(parts, s.CrumbActive.Render(section))
	} else {
		parts = append(parts, s.Crumb.Render(section), s.CrumbActive.Render(m.crumb))
	}
	line := s.App.Render("apiscopes") + " " + strings.Join(parts, sep)
	if m.demo != nil {
		line = s.App.Render("apiscopes") + s.DemoBadge.Render("DEMO") + " " + strings.Join(parts, sep)
	}
	who := s.Hint.Render(fmt.Sprintf("%s (%s)", clean(m.c.actor.Name), m.c.actor.Role))
	if sp := m.spin.view(s); sp != "" {
		who = sp + "  " + who
	}
	// Who is acting always shows (it matters over SSH); a long breadcrumb
	// gives way instead, unless the terminal is too narrow for both.
	room := m.c.termW - 3 - lipgloss.Width(who)
	if room < 30 {
		return " " + truncate(line, m.c.termW-2)
	}
	line = truncate(line, room)
	return " " + line + strings.Repeat(" ", m.c.termW-1-lipgloss.Width(line)-lipgloss.Width(who)) + who
}

// navView is the left navigation: Security & Control with its pages, the
// current one marked, each with the key that opens it.
func (m *Model) navView() string {
	s := m.c.styles
	lines := []string{s.NavGroup.Render("Security & Control")}
	section := m.section()
	for _, item := range navItems(m.c.keys) {
		if item.name == section {
			lines = append(lines, s.NavActive.Render(item.name))
		} else {
			hint := s.HelpSep.Render(item.key.Help().Key)
			name := s.NavItem.Render(item.name)
			lines = append(lines, name+strings.Repeat(" ", max(1, navWidth-2-lipgloss.Width(name)-lipgloss.Width(hint)))+hint)
		}
	}
	return s.NavBorder.Width(navWidth).Height(m.c.height).Render(strings.Join(lines, "\n"))
}

// navItem is one page of the left navigation.
type navItem struct {
	name string
	key  key.Binding
}

func navItems(k KeyMap) []navItem {
	return []navItem{{"API Scopes", k.Scopes}, {"Audit Log", k.Audit}}
}

// section is the navigation page the console is on.
func (m *Model) section() string {
	if _, ok := m.page.(*auditLog); ok {
		return "Audit Log"
	}
	return "API Scopes"
}

func (m *Model) toastView() string {
	if m.toast == "" {
		return ""
	}
	s := m.c.styles
	if m.toastOK {
		return " " + s.ToastOK.Render(truncate("✓ "+m.toast, m.c.termW-2))
	}
	return " " + s.ToastErr.Render(truncate("✗ "+m.toast, m.c.termW-2))
}

func (m *Model) helpView() string {
	k := m.c.keys
	if m.dialog != nil {
		return m.shortHelp(append(m.dialog.ShortHelp(), k.ForceQuit))
	}
	if m.help.ShowAll {
		groups := m.page.FullHelp()
		last := len(groups) - 1
		groups[last] = append(groups[last], with(k.Help, "fewer keys"))
		return m.help.FullHelpView(groups)
	}
	return m.shortHelp(append(m.page.ShortHelp(), k.Help))
}

// shortHelp is the help bar: as many bindings as fit, then "…". (The help
// bubble keeps adding bindings past its width when its ellipsis does not
// fit either.)
func (m *Model) shortHelp(b []key.Binding) string {
	w := m.c.termW - 2
	for n := len(b); n > 0; n-- {
		line := m.help.ShortHelpView(b[:n])
		if n < len(b) {
			line += " " + m.c.styles.HelpSep.Render("…")
		}
		if lipgloss.Width(line) <= w {
			return line
		}
	}
	return ""
}
