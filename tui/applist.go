package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// appList is the API Scopes page: the empty state with Create an API App, or
// the table of apps with Create an App, a filter, and the selected app in
// full below. It shows the console's app index (appIndex), which the change
// feed keeps current.
type appList struct {
	c     *common
	idx   *appIndex
	list  list
	focus focusRing // "list" or "create"
	err   error

	want     string // an app to select once it is known, by name (the demo's first)
	deleting uint64 // the app being deleted, while the store works on it

	usage listUsage // what the filter's unused: word needs

	// layout
	detail []string // the selected app's pane, as laid out
	cols   []column
	widths []int
}

// unusedWord explains the filter's unused: word while the filter is typed.
var unusedWord = key.NewBinding(key.WithKeys("unused:30d"), key.WithHelp("unused:30d", "unused scopes"))

// viewersCannot is why a viewer's write buttons are disabled, said beside
// them.
const viewersCannot = "viewers cannot change apps"

// The app list's parts.
const (
	partList   = "list"
	partCreate = "create"
	partEdit   = "edit"
	partDelete = "delete"
)

// newAppList shows the console's app index, or the error reading it, with
// the app named want selected once it is there.
func newAppList(c *common, err error, want string) *appList {
	l := &appList{c: c, list: newList(c, "name, creator, scope or unused:30d"), err: err, want: want}
	if c.canWrite() {
		l.focus.set(partList, partCreate, partEdit, partDelete)
	} else {
		l.focus.set(partList, partEdit) // Create and Delete are shown disabled, and say why
	}
	l.focus.sideBySide([]string{partEdit, partDelete})
	l.list.query = l.setQuery
	l.setIndex(c.apps)
	return l
}

func (l *appList) frame() pageFrame {
	return pageFrame{section: sectionScopes, typing: l.list.editing, quits: true, busy: l.busy(), focus: l.focused()}
}

// focused is the part with the focus: the Create button, or the list (then
// the selected row, or the filter).
func (l *appList) focused() string {
	switch {
	case len(l.idx.apps) == 0:
		return partCreate
	case l.list.editing:
		return "filter"
	case l.focus.is(partList) && l.list.rows.len() == 0:
		return "" // no app passes the filter
	case l.focus.is(partList):
		return rowID(l.list.cursor)
	}
	return l.focus.cur
}

// setIndex shows idx, keeping the selection on the same app.
func (l *appList) setIndex(idx *appIndex) tea.Cmd {
	var id uint64
	if a, ok := l.selected(); ok {
		id = a.ID
	}
	l.idx = idx
	cmd := l.list.setRows(l.hay(idx))
	if l.want != "" {
		for i, a := range idx.apps {
			if store.FoldName(a.Name) == store.FoldName(l.want) {
				id, l.want = a.ID, ""
				l.list.cursor = i
				break
			}
		}
	}
	l.selectApp(id)
	if len(idx.apps) == 0 {
		l.focus.focus(partCreate)
	}
	return cmd
}

// show is the list coming back on screen, with app id (if not zero)
// selected and the focus on the rows.
func (l *appList) show(id uint64) {
	l.selectApp(id)
	if len(l.idx.apps) > 0 {
		l.focus.focus(partList)
	}
}

// selectApp moves the cursor to the app with this id when it is shown.
func (l *appList) selectApp(id uint64) {
	if id != 0 {
		if i := l.idx.find(id); i >= 0 {
			l.list.selectIndex(i)
			return
		}
	}
	l.list.clamp()
}

func (l *appList) selected() (store.App, bool) {
	if l.idx == nil {
		return store.App{}, false
	}
	i, ok := l.list.selected()
	if !ok || i >= len(l.idx.apps) {
		return store.App{}, false
	}
	return l.idx.apps[i], true
}

func (l *appList) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case appsChangedMsg:
		return l.setIndex(l.c.apps)
	case appsLoadedMsg:
		l.err = msg.err
		return l.setIndex(l.c.apps)
	case appDeletedMsg:
		if msg.app.ID != l.deleting {
			return nil
		}
		l.deleting = 0
		if msg.err != nil {
			return l.c.toastErr(msg.err)
		}
		return l.c.toast("App %q deleted.", clean(msg.app.Name))
	}
	if msg, ok := msg.(usageLoadedMsg); ok {
		return l.usageLoaded(msg)
	}
	if cmd, ok := l.list.update(msg); ok {
		if km, isKey := msg.(tea.KeyPressMsg); isKey && !l.list.editing && key.Matches(km, l.c.keys.Up, l.c.keys.Down,
			l.c.keys.PageUp, l.c.keys.PageDown, l.c.keys.Home, l.c.keys.End) {
			l.focus.focus(partList)
			l.want = ""
		}
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := l.c.keys
	switch {
	case key.Matches(km, k.New):
		return l.create()
	case key.Matches(km, k.Audit):
		return l.c.post(showAuditMsg{})
	case len(l.idx.apps) > 0 && l.focus.move(km, k):
	case key.Matches(km, k.Enter):
		switch {
		case l.focus.is(partCreate) || len(l.idx.apps) == 0:
			return l.create()
		case l.focus.is(partDelete):
			return l.confirmDelete()
		}
		return l.edit()
	case key.Matches(km, k.Edit):
		return l.edit()
	case key.Matches(km, k.Delete):
		return l.confirmDelete()
	}
	return nil
}

// click answers the mouse: Create, the selected app's Edit and Delete, or
// a row (a click on the selected row opens it).
func (l *appList) click(id string) tea.Cmd {
	switch id {
	case partCreate:
		return l.create()
	case partEdit:
		return l.edit()
	case partDelete:
		return l.confirmDelete()
	case "filter":
		l.list.editing = true
		return l.list.filter.Focus()
	}
	if l.list.editing {
		return nil
	}
	handled, open := l.list.click(id)
	if handled {
		l.want = ""
		if open && l.focus.is(partList) {
			return l.edit()
		}
		l.focus.focus(partList)
	}
	return nil
}

func (l *appList) create() tea.Cmd {
	if !l.c.canWrite() {
		return l.c.refuseWrite("viewers can't create apps")
	}
	return l.c.post(showNewAppMsg{})
}

func (l *appList) edit() tea.Cmd {
	if a, ok := l.selected(); ok {
		return l.c.post(showEditAppMsg{app: a})
	}
	return nil
}

func (l *appList) confirmDelete() tea.Cmd {
	a, ok := l.selected()
	if !ok {
		return nil
	}
	if !l.c.canWrite() {
		return l.c.refuseWrite("viewers can't delete apps")
	}
	if l.deleting != 0 {
		return nil // one at a time
	}
	c := l.c
	body := fmt.Sprintf("Delete %q", clean(a.Name))
	if a.Keys > 0 {
		body += fmt.Sprintf(" and its %s?", countKeys(a.Keys))
	} else {
		body += "? It has no API keys."
	}
	return l.c.post(openDialogMsg{newConfirm(c, confirmDialog{
		title: "Delete app", body: body, confirm: "Delete", danger: true,
		caution: "Every service using this app's keys loses access at once. This cannot be undone.",
		onYes: func() tea.Cmd {
			l.deleting = a.ID
			st, actor := c.store, c.actor
			ctx := c.ctx
			return c.write(func() tea.Msg { return appDeletedMsg{app: a, err: st.DeleteApp(ctx, actor, a.ID)} })
		},
	})})
}

// The app table's columns: every one stays at the sizes the console
// supports, and a long name is cut with "…" first (the pane below shows
// it in full), then the scope summary and who made the app. Only on a
// table narrower than the console draws would who and when give way.
var appColumns = []column{
	{title: "Name", min: 16, max: 32, grow: true, shrink: 2},
	{title: "Scopes", min: 10, max: 30, shrink: 1, drop: 2},
	{title: "Created by", min: 8, max: 16, shrink: 1, drop: 3},
	{title: "Created on", whole: true, drop: 4},
	{title: "Keys", whole: true, right: true},
}

// appCells are an app's cells of the table.
func (l *appList) appCells(a store.App) []string {
	return []string{clean(a.Name), scopeSummary(a.Scopes), clean(a.CreatedBy), l.c.date(a.CreatedAt), fmt.Sprint(a.Keys)}
}

// scopeSummary is a set by resource ("Workflows, Models 2/4"), or "All
// scopes".
func scopeSummary(set scopes.Set) string {
	if set == scopes.Full() {
		return "All scopes"
	}
	return set.Summary()
}

// layout works out the pane under the table, the rows in view and the
// columns, for the content area.
func (l *appList) layout() {
	w, h := l.c.width, l.c.height
	l.detail = l.detailLines(w)
	head := 3
	if h < 16 {
		head = 2 // no blank line under the hint on a short screen
	}
	if l.list.filtering() {
		head++
	}
	l.list.resize(h - head - 1 - len(l.detail) - 1)
	var rows [][]string
	for n := l.list.offset; n < l.list.rows.len() && n < l.list.offset+l.list.height; n++ {
		if i := l.list.rows.at(n); i < len(l.idx.apps) {
			rows = append(rows, l.appCells(l.idx.apps[i]))
		}
	}
	l.cols = appColumns
	l.widths = layoutColumns(l.cols, rows, w, 2)
}

func (l *appList) draw() drawing {
	s, w := l.c.styles, l.c.width
	var d drawing
	title := s.Title.Render("API Scopes")
	if len(l.idx.apps) > 0 {
		line, areas := s.buttonRow(w-lipgloss.Width(title), l.focused(),
			button{id: partCreate, label: "Create an App", disabled: !l.c.canWrite()})
		if !l.c.canWrite() {
			line, areas = s.withReason(w-lipgloss.Width(title), l.c.cannotWrite(viewersCannot), line, areas)
		}
		d.add(title + line)
		for _, a := range areas {
			a.x += lipgloss.Width(title)
			d.areas = append(d.areas, a)
		}
	} else {
		d.add(title)
	}
	d.add(s.Hint.Render(truncate("Each API key may use only its app's scopes.", w)))
	if l.c.height >= 16 {
		d.add("")
	}
	if l.err != nil {
		d.add(wrapStyled(s.Error, describe(l.err), w)...)
		return d
	}
	if len(l.idx.apps) == 0 {
		d.embed(l.emptyView(l.c.height - d.height()))
		return d
	}
	if l.list.filtering() {
		d.addArea("filter", l.list.filterLine(w, l.list.matchCount(l.idx.complete, "first", "apps")))
	}
	head := s.TableHead.Render("  " + tableRow(l.cols, l.widths, colTitles(l.cols)))
	d.embed(l.list.view(head, func(i int, cursor bool) string {
		lead, st := "  ", s.Row
		if cursor {
			lead, st = l.list.cursorStyle(l.focus.is(partList))
		}
		return st.Render(lead + tableRow(l.cols, l.widths, l.appCells(l.idx.apps[i])))
	}, "No app matches the filter. esc clears it."))
	d.fill(l.c.height - len(l.detail))
	if len(l.detail) > 0 {
		y := d.height()
		d.add(l.detail...)
		// The row's actions as buttons, for the mouse (the seed's hover
		// icons); e and d do the same from the keyboard.
		_, areas := l.actionButtons()
		for _, a := range areas {
			a.y = y + 1
			d.areas = append(d.areas, a)
		}
	}
	return d
}

func colTitles(cols []column) []string {
	t := make([]string, len(cols))
	for i, c := range cols {
		t[i] = c.title
	}
	return t
}

// actionButtons are the selected app's Edit (View for a viewer) and
// Delete, right-aligned on the pane's first line.
func (l *appList) actionButtons() (string, []area) {
	edit := "Edit"
	if !l.c.canWrite() {
		edit = "View"
	}
	return l.c.styles.buttonRow(l.c.width, l.focus.cur, button{id: partEdit, label: edit},
		button{id: partDelete, label: "Delete", disabled: !l.c.canWrite()})
}

func (l *appList) emptyView(height int) drawing {
	s := l.c.styles
	focus := partCreate
	if !l.c.canWrite() {
		focus = "" // nothing a viewer may press
	}
	btn, areas := s.buttonRow(0, focus, button{id: partCreate, label: "Create an API App", disabled: !l.c.canWrite()})
	lines := []string{
		s.Title.Render("No API apps yet"),
		s.Hint.Render("Create an app, select the scopes it may use,"),
		s.Hint.Render("then generate API keys for it."),
		"",
		btn,
	}
	if !l.c.canWrite() {
		lines = append(lines, s.Caution.Render(l.c.cannotWrite(viewersCannot+": ask an admin")))
	}
	block := lipgloss.JoinVertical(lipgloss.Center, lines...)
	bh := max(lipgloss.Height(block), height-2)
	placed := lipgloss.Place(l.c.width, bh, lipgloss.Center, lipgloss.Center, block)
	var d drawing
	d.add(placed)
	// Where Place put the button: centred, on the block's fifth line.
	x := (l.c.width - lipgloss.Width(block)) / 2
	y := (bh-lipgloss.Height(block))/2 + 4
	bx := x + (lipgloss.Width(block)-lipgloss.Width(btn))/2
	for _, a := range areas {
		a.x, a.y = bx+a.x, y
		d.areas = append(d.areas, a)
	}
	return d
}

// detailLines are the selected app in full under the table: its whole name,
// every scope, its keys, who made it and when, which the table may have had
// to shorten or leave out.
func (l *appList) detailLines(w int) []string {
	a, ok := l.selected()
	if !ok {
		return nil
	}
	s := l.c.styles
	label := func(t string) string { return s.Hint.Render(pad(t, 8)) }
	btns, _ := l.actionButtons()
	btnW := lipgloss.Width(strings.TrimLeft(btns, " "))
	names := wrap(clean(a.Name), max(8, w-btnW-2))
	name := s.Title.Render(names[0])
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)),
		name + strings.Repeat(" ", max(2, w-lipgloss.Width(name)-btnW)) + strings.TrimLeft(btns, " ")}
	for _, n := range names[1:min(len(names), 2)] {
		lines = append(lines, s.Title.Render(n))
	}
	room := 3
	if l.c.height < 16 {
		room = 2
	}
	scopeNames := wrap(scopesLine(a), w-8)
	if len(scopeNames) > room {
		scopeNames = append(scopeNames[:room-1], truncate(strings.Join(scopeNames[room-1:], " "), w-8))
	}
	for i, sl := range scopeNames {
		lead := label("")
		if i == 0 {
			lead = label("Scopes")
		}
		lines = append(lines, lead+sl)
	}
	for i, kl := range wrap(fmt.Sprintf("%s · created by %s on %s", countKeys(a.Keys), clean(a.CreatedBy), l.c.dateTime(a.CreatedAt)), w-8) {
		lead := label("")
		if i == 0 {
			lead = label("Keys")
		}
		lines = append(lines, lead+kl)
	}
	return lines
}

func (l *appList) ShortHelp() []key.Binding {
	k := l.c.keys
	if l.list.editing {
		return []key.Binding{with(k.Enter, "apply filter"), unusedWord, with(k.Back, "clear filter")}
	}
	if len(l.idx.apps) == 0 {
		if !l.c.canWrite() {
			return []key.Binding{k.Audit, k.Quit}
		}
		return []key.Binding{with(k.Enter, "create an API app"), k.New, k.Audit, k.Quit}
	}
	// Arrows need no introduction: the bar keeps its room for the rest.
	b := []key.Binding{with(k.Enter, "edit"), k.New, k.Delete, k.Filter}
	switch {
	case l.focus.is(partCreate):
		b[0] = with(k.Enter, "create an app")
	case l.usage.days > 0 && l.c.canWrite():
		b[0] = with(k.Enter, "edit, then u unticks unused") // the filter found apps with scopes to narrow
	}
	if !l.c.canWrite() {
		b = []key.Binding{with(k.Enter, "view"), k.Filter}
	}
	if l.list.filter.Value() != "" {
		b = append(b, with(k.Back, "clear filter"))
	}
	return append(b, k.Audit, k.Quit)
}

func (l *appList) FullHelp() [][]key.Binding {
	k := l.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{with(k.Enter, "edit app"), with(k.Edit, "edit app"), with(k.Delete, "delete app"), k.New, with(k.Next, "create button")},
		{k.Filter, with(k.Back, "clear filter"), k.Audit, k.Policy, k.Approvals, k.Quit},
	}
}

// busy says what the list is waiting for, for the console's spinner.
func (l *appList) busy() string {
	switch {
	case l.deleting != 0:
		return "Deleting the app…"
	case !l.idx.complete:
		return "Loading apps…"
	}
	return ""
}

// scopesLine is an app's scopes as its pane lists them: the names of those
// it has, then any ids this apiscopes no longer knows (retired since), which
// are kept but never granted.
func scopesLine(a store.App) string {
	line := strings.Join(a.Scopes.Names(), ", ")
	if len(a.Retired) > 0 {
		retired := make([]string, len(a.Retired))
		for i, id := range a.Retired {
			retired[i] = clean(id)
		}
		line += " · retired, not granted: " + strings.Join(retired, ", ")
	}
	return line
}
