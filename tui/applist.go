package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// appList is the API Scopes page: the empty state with Create an API App, or
// the table of apps with Create an App, a filter and a summary of the
// selected app. Its cost per keystroke follows the screen, not the number of
// apps: it draws only the visible rows, reads only the first page before its
// first frame, and filters lazily (see filtered).
type appList struct {
	c       *common
	idx     *appIndex
	rows    filtered // idx's rows that pass the filter
	cursor  int      // index into rows
	offset  int
	onNew   bool // the Create button has the focus instead of the table
	filter  textinput.Model
	editing bool // typing in the filter
	err     error

	deleting uint64 // the app being deleted, while the store works on it

	usage listUsage // what the filter's unused: word needs

	tableTop int // the line of the table's header as last drawn, for clicks
	drawn    int // how many rows the table drew
}

// newAppList shows the console's app index, or the error reading it.
func newAppList(c *common, err error) *appList {
	l := &appList{c: c, filter: newInput(c.styles, "name, creator or scope"), err: err}
	l.setIndex(c.apps, 0)
	return l
}

func (l *appList) frame() pageFrame {
	return pageFrame{section: sectionScopes, typing: l.editing, quits: true, busy: l.busy()}
}

// setIndex shows idx, keeping the selection on the same app (or selectID
// when it is non-zero).
func (l *appList) setIndex(idx *appIndex, selectID uint64) tea.Cmd {
	if selectID == 0 {
		if a, ok := l.selected(); ok {
			selectID = a.ID
		}
	}
	l.idx = idx
	cmd := l.rows.setRows(l.hay(idx))
	l.selectApp(selectID)
	l.onNew = len(idx.apps) == 0
	return cmd
}

// selectApp moves the cursor to the app with this id when it is shown.
func (l *appList) selectApp(id uint64) {
	if id == 0 {
		l.clamp()
		return
	}
	if l.rows.query == "" {
		if i := l.idx.find(id); i >= 0 {
			l.cursor = i
		}
	} else {
		for i := range l.rows.len() {
			if l.idx.apps[l.rows.at(i)].ID == id {
				l.cursor = i
			}
		}
	}
	l.clamp()
}

func (l *appList) clamp() { l.cursor = max(0, min(l.cursor, l.rows.len()-1)) }

// applyFilter narrows the rows to the filter's text, keeping the selected
// app when it still passes.
func (l *appList) applyFilter() tea.Cmd {
	sel, had := l.selected()
	cmd := l.setQuery()
	if had && l.rows.query == "" {
		l.cursor = l.idx.position(sel) // O(log n): the whole list is the rows
	}
	l.clamp()
	return cmd
}

func (l *appList) selected() (store.App, bool) {
	if l.idx == nil || l.cursor < 0 || l.cursor >= l.rows.len() {
		return store.App{}, false
	}
	i := l.rows.at(l.cursor)
	if i >= len(l.idx.apps) { // the rows are of an index changed under them
		return store.App{}, false
	}
	return l.idx.apps[i], true
}

func (l *appList) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case appsChangedMsg:
		return l.setIndex(l.c.apps, 0)
	case appsLoadedMsg:
		l.err = msg.err
		return l.setIndex(l.c.apps, 0)
	case appDeletedMsg:
		if msg.app.ID != l.deleting {
			return nil
		}
		l.deleting = 0
		if msg.err != nil {
			return l.c.toastErr(msg.err)
		}
		return l.c.toast("App %q deleted.", clean(msg.app.Name))
	case filterStepMsg:
		return l.rows.step(msg)
	case usageLoadedMsg:
		return l.usageLoaded(msg)
	}
	km, ok := msg.(tea.KeyPressMsg)
	if l.editing {
		if ok {
			switch {
			case key.Matches(km, l.c.keys.Back):
				l.filter.SetValue("")
				fallthrough
			case key.Matches(km, l.c.keys.Enter, l.c.keys.Next, l.c.keys.Up, l.c.keys.Down) && km.Key().Text == "":
				l.editing = false
				l.filter.Blur()
				return l.applyFilter()
			}
		}
		var cmd tea.Cmd
		l.filter, cmd = l.filter.Update(msg)
		return tea.Batch(cmd, l.applyFilter())
	}
	if !ok {
		return nil
	}
	k := l.c.keys
	switch {
	case key.Matches(km, k.Filter) && len(l.idx.apps) > 0:
		l.editing, l.onNew = true, false
		return l.filter.Focus()
	case key.Matches(km, k.Back) && l.filter.Value() != "":
		l.filter.SetValue("")
		return l.applyFilter()
	case key.Matches(km, k.New):
		return l.create()
	case key.Matches(km, k.Audit):
		return l.c.post(showAuditMsg{})
	case key.Matches(km, k.Next, k.Prev) && l.rows.len() > 0:
		l.onNew = !l.onNew
	case key.Matches(km, k.Up):
		l.onNew = false
		l.cursor = max(0, l.cursor-1)
	case key.Matches(km, k.Down):
		l.onNew = false
		return l.down(1)
	case key.Matches(km, k.PageUp):
		l.onNew = false
		l.cursor = max(0, l.cursor-l.pageRows())
	case key.Matches(km, k.PageDown):
		l.onNew = false
		return l.down(l.pageRows())
	case key.Matches(km, k.Home):
		l.onNew, l.cursor = false, 0
	case key.Matches(km, k.End):
		l.onNew = false
		return l.down(l.rows.candidates())
	case key.Matches(km, k.Enter):
		if l.onNew || l.rows.len() == 0 {
			return l.create()
		}
		return l.edit()
	case key.Matches(km, k.Edit):
		return l.edit()
	case key.Matches(km, k.Delete):
		return l.confirmDelete()
	}
	return nil
}

// down moves the selection n rows down, looking for more matches of the
// filter when the cursor reaches the last one found so far.
func (l *appList) down(n int) tea.Cmd {
	var cmd tea.Cmd
	l.cursor, cmd = l.rows.moveDown(l.cursor, n)
	return cmd
}

// pageRows is how many rows a page up or down moves: the table's height.
func (l *appList) pageRows() int { return max(1, l.c.height-12) }

func (l *appList) create() tea.Cmd {
	if !l.c.canWrite() {
		return l.c.toastErr(fmt.Errorf("%w: viewers can't create apps", store.ErrPermission))
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
		return l.c.toastErr(fmt.Errorf("%w: viewers can't delete apps", store.ErrPermission))
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
	return l.c.post(openDialogMsg{&confirmDialog{
		c: c, title: "Delete app", body: body, confirm: "Delete", danger: true,
		caution: "Every service using this app's keys loses access at once. This cannot be undone.",
		onYes: func() tea.Cmd {
			l.deleting = a.ID
			st, actor := c.store, c.actor
			return c.write(func() tea.Msg { return appDeletedMsg{app: a, err: st.DeleteApp(actor, a.ID)} })
		},
	}})
}

func (l *appList) View() string {
	s, w := l.c.styles, l.c.width
	head := []string{}
	title := s.Title.Render("API Scopes")
	if len(l.idx.apps) > 0 {
		btn := s.buttonRow(0, boolIndex(l.onNew), button{label: "Create an App", disabled: !l.c.canWrite()})
		title = lipgloss.JoinHorizontal(lipgloss.Top, title, lipgloss.PlaceHorizontal(w-lipgloss.Width(title), lipgloss.Right, btn))
	}
	head = append(head, title, s.Hint.Render(truncate("Apps with scoped API keys: each key may use only its app's scopes.", w)), "")
	if l.err != nil {
		return strings.Join(append(head, wrapStyled(s.Error, describe(l.err), w)...), "\n")
	}
	if len(l.idx.apps) == 0 {
		return strings.Join(head, "\n") + "\n" + l.emptyView(l.c.height-len(head))
	}
	if l.editing || l.filter.Value() != "" {
		label := s.Hint.Render("Filter ")
		head = append(head, label+l.filter.View()+"  "+s.Hint.Render(l.matchCount()))
	}
	detail := l.detailView()
	tableH := l.c.height - len(head) - len(detail) - 1
	l.tableTop = len(head)
	lines := append(head, l.tableView(tableH)...)
	for len(lines) < l.c.height-len(detail) {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, detail...), "\n")
}

func (l *appList) emptyView(height int) string {
	s := l.c.styles
	block := lipgloss.JoinVertical(lipgloss.Center,
		s.Title.Render("No API apps yet"),
		s.Hint.Render("Create an app, select the scopes it may use,"),
		s.Hint.Render("then generate API keys for it."),
		"",
		s.buttonRow(0, boolIndex(l.c.canWrite()), button{label: "Create an API App", disabled: !l.c.canWrite()}),
	)
	return lipgloss.Place(l.c.width, max(lipgloss.Height(block), height-2), lipgloss.Center, lipgloss.Center, block)
}

// columns are the widths of the table's columns for the content width.
type columns struct{ name, scopes, by, on, keys int }

func (l *appList) columns() columns {
	c := columns{scopes: 8, by: 12, on: 10, keys: 4}
	rest := l.c.width - 2 - c.by - c.on - c.keys - 8
	// Give the scope summary half the room when there is enough for it.
	if rest >= 2*16 {
		c.scopes = min(30, rest/2)
	}
	c.name = rest - c.scopes
	return c
}

func (l *appList) tableView(height int) []string {
	s, cols := l.c.styles, l.columns()
	row := func(cur, name, sc, by, on, keys string) string {
		return cur + pad(name, cols.name) + "  " + pad(sc, cols.scopes) + "  " + pad(by, cols.by) + "  " +
			pad(on, cols.on) + "  " + fmt.Sprintf("%*s", cols.keys, keys)
	}
	head := s.TableHead.Render(row("  ", "Name", "Scopes", "Created by", "Created on", "Keys"))
	if l.rows.len() == 0 {
		if !l.rows.done() {
			return []string{head, s.Hint.Render("  Searching…")}
		}
		return []string{head, s.Hint.Render("  No app matches the filter. esc clears it.")}
	}
	// Only the rows that fit are drawn: the cost follows the screen, not the data.
	height = max(1, height-1)
	l.offset = follow(l.offset, l.cursor, height, l.rows.len())
	lines := []string{head}
	for i := l.offset; i < l.rows.len() && i < l.offset+height; i++ {
		a := l.idx.apps[l.rows.at(i)]
		sc := a.Scopes.Summary()
		if cols.scopes < 16 {
			sc = fmt.Sprintf("%d of %d", a.Scopes.Len(), scopes.Full().Len())
		}
		cur, st := "  ", s.Row
		if i == l.cursor {
			cur, st = "› ", s.RowActive
			if l.onNew || l.editing {
				cur, st = "  ", s.RowCurrent
			}
		}
		lines = append(lines, st.Render(row(cur, clean(a.Name), sc, clean(a.CreatedBy), l.c.date(a.CreatedAt), fmt.Sprint(a.Keys))))
	}
	l.drawn = len(lines) - 1
	return lines
}

// detailView summarizes the selected app under the table: its full name and
// every scope, which the table may have had to shorten.
func (l *appList) detailView() []string {
	a, ok := l.selected()
	if !ok {
		return nil
	}
	s, w := l.c.styles, l.c.width
	label := func(t string) string { return s.Hint.Render(pad(t, 8)) }
	// The row's actions as buttons, for the mouse (the seed's hover icons);
	// e and d do the same from the keyboard.
	edit := "Edit"
	if !l.c.canWrite() {
		edit = "View"
	}
	btns := s.buttonRow(0, -1, button{label: edit}, button{label: "Delete", disabled: !l.c.canWrite()})
	name := s.Title.Render(truncate(clean(a.Name), max(8, w-lipgloss.Width(btns)-2)))
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)),
		name + strings.Repeat(" ", max(2, w-lipgloss.Width(name)-lipgloss.Width(btns))) + btns}
	names := wrap(strings.Join(a.Scopes.Names(), ", "), w-8)
	if len(names) > 3 {
		names = append(names[:2], truncate(names[2]+" …", w-8))
	}
	for i, sl := range names {
		if i == 0 {
			lines = append(lines, label("Scopes")+sl)
		} else {
			lines = append(lines, label("")+sl)
		}
	}
	lines = append(lines, label("Keys")+fmt.Sprintf("%s · created by %s on %s", countKeys(a.Keys), clean(a.CreatedBy), l.c.date(a.CreatedAt)))
	return lines
}

func (l *appList) ShortHelp() []key.Binding {
	k := l.c.keys
	if l.editing {
		return []key.Binding{with(k.Enter, "apply filter"), with(k.Back, "clear filter")}
	}
	if len(l.idx.apps) == 0 {
		if !l.c.canWrite() {
			return []key.Binding{k.Audit, k.Quit}
		}
		return []key.Binding{with(k.Enter, "create an API app"), k.New, k.Audit, k.Quit}
	}
	// Arrows need no introduction: the bar keeps its room for the rest.
	b := []key.Binding{with(k.Enter, "edit"), k.New, k.Delete, k.Filter}
	if !l.c.canWrite() {
		b = []key.Binding{with(k.Enter, "view"), k.Filter}
	}
	if l.filter.Value() != "" {
		b = append(b, with(k.Back, "clear filter"))
	}
	return append(b, k.Audit, k.Quit)
}

func (l *appList) FullHelp() [][]key.Binding {
	k := l.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{with(k.Enter, "edit app"), with(k.Delete, "delete app"), k.New, with(k.Next, "create button")},
		{k.Filter, with(k.Back, "clear filter"), k.Audit, k.Quit},
	}
}

func boolIndex(b bool) int {
	if b {
		return 0
	}
	return -1
}

// matchCount says how many apps pass the filter, or how far the search has
// got while it is still running.
func (l *appList) matchCount() string {
	total := len(l.idx.apps)
	if !l.rows.done() {
		return fmt.Sprintf("searching… %s found", thousands(l.rows.len()))
	}
	if !l.idx.complete {
		return fmt.Sprintf("%s of the first %s apps", thousands(l.rows.len()), thousands(total))
	}
	return fmt.Sprintf("%s of %s apps", thousands(l.rows.len()), thousands(total))
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
