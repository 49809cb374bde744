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
// selected app.
type appList struct {
	c       *common
	apps    []store.App
	shown   []int // indexes into apps that pass the filter
	cursor  int   // index into shown
	offset  int
	onNew   bool // the Create button has the focus instead of the table
	filter  textinput.Model
	editing bool // typing in the filter
	err     error
}

func newAppList(c *common, selectID uint64) *appList {
	l := &appList{c: c, filter: newInput(c.styles, "name, creator or scope")}
	l.reload(selectID)
	return l
}

// reload reads the apps again, keeping the selection on the same app (or on
// selectID when it is non-zero).
func (l *appList) reload(selectID uint64) {
	if selectID == 0 {
		if a, ok := l.selected(); ok {
			selectID = a.ID
		}
	}
	l.apps, l.err = l.c.store.Apps()
	l.applyFilter()
	for i, idx := range l.shown {
		if l.apps[idx].ID == selectID {
			l.cursor = i
		}
	}
	l.onNew = len(l.apps) == 0
}

func (l *appList) applyFilter() {
	q := strings.ToLower(strings.TrimSpace(l.filter.Value()))
	l.shown = l.shown[:0]
	for i, a := range l.apps {
		if q == "" || strings.Contains(strings.ToLower(a.Name), q) ||
			strings.Contains(strings.ToLower(a.CreatedBy), q) ||
			strings.Contains(strings.ToLower(strings.Join(a.Scopes.Names(), " ")+" "+a.Scopes.String()), q) {
			l.shown = append(l.shown, i)
		}
	}
	l.cursor = max(0, min(l.cursor, len(l.shown)-1))
}

func (l *appList) selected() (store.App, bool) {
	if l.cursor < 0 || l.cursor >= len(l.shown) {
		return store.App{}, false
	}
	return l.apps[l.shown[l.cursor]], true
}

func (l *appList) Update(msg tea.Msg) tea.Cmd {
	if _, ok := msg.(dataChangedMsg); ok {
		l.reload(0)
		return nil
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
				l.applyFilter()
				return nil
			}
		}
		var cmd tea.Cmd
		l.filter, cmd = l.filter.Update(msg)
		l.applyFilter()
		return cmd
	}
	if !ok {
		return nil
	}
	k := l.c.keys
	switch {
	case key.Matches(km, k.Filter) && len(l.apps) > 0:
		l.editing, l.onNew = true, false
		return l.filter.Focus()
	case key.Matches(km, k.Back) && l.filter.Value() != "":
		l.filter.SetValue("")
		l.applyFilter()
	case key.Matches(km, k.New):
		return l.create()
	case key.Matches(km, k.Next, k.Prev) && len(l.shown) > 0:
		l.onNew = !l.onNew
	case key.Matches(km, k.Up):
		l.onNew = false
		l.cursor = max(0, l.cursor-1)
	case key.Matches(km, k.Down):
		l.onNew = false
		l.cursor = max(0, min(len(l.shown)-1, l.cursor+1))
	case key.Matches(km, k.Enter):
		if l.onNew || len(l.shown) == 0 {
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

func (l *appList) create() tea.Cmd {
	if !l.c.canWrite() {
		return toastErr(fmt.Errorf("%w: viewers can't create apps", store.ErrPermission))
	}
	return l.c.post(showNewAppMsg{})
}

func (l *appList) edit() tea.Cmd {
	if a, ok := l.selected(); ok {
		return l.c.post(showEditAppMsg{id: a.ID})
	}
	return nil
}

func (l *appList) confirmDelete() tea.Cmd {
	a, ok := l.selected()
	if !ok {
		return nil
	}
	if !l.c.canWrite() {
		return toastErr(fmt.Errorf("%w: viewers can't delete apps", store.ErrPermission))
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
			if err := c.store.DeleteApp(c.actor, a.ID); err != nil {
				return toastErr(err)
			}
			l.reload(0)
			return toast("App %q deleted.", clean(a.Name))
		},
	}})
}

func (l *appList) View() string {
	s, w := l.c.styles, l.c.width
	head := []string{}
	title := s.Title.Render("API Scopes")
	if len(l.apps) > 0 {
		btn := s.buttonRow(0, boolIndex(l.onNew), button{label: "Create an App", disabled: !l.c.canWrite()})
		title = lipgloss.JoinHorizontal(lipgloss.Top, title, lipgloss.PlaceHorizontal(w-lipgloss.Width(title), lipgloss.Right, btn))
	}
	head = append(head, title, s.Hint.Render(truncate("Apps with scoped API keys: each key may use only its app's scopes.", w)), "")
	if l.err != nil {
		return strings.Join(append(head, wrapStyled(s.Error, describe(l.err), w)...), "\n")
	}
	if len(l.apps) == 0 {
		return strings.Join(head, "\n") + "\n" + l.emptyView(l.c.height-len(head))
	}
	if l.editing || l.filter.Value() != "" {
		label := s.Hint.Render("Filter ")
		head = append(head, label+l.filter.View())
	}
	detail := l.detailView()
	tableH := l.c.height - len(head) - len(detail) - 1
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
	if len(l.shown) == 0 {
		return []string{head, s.Hint.Render("  No app matches the filter. esc clears it.")}
	}
	// Only the rows that fit are drawn: the cost follows the screen, not the data.
	height = max(1, height-1)
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+height {
		l.offset = l.cursor - height + 1
	}
	l.offset = max(0, min(l.offset, len(l.shown)-height))
	lines := []string{head}
	for i := l.offset; i < len(l.shown) && i < l.offset+height; i++ {
		a := l.apps[l.shown[i]]
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
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)), s.Title.Render(truncate(clean(a.Name), w))}
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
	if len(l.apps) == 0 {
		if !l.c.canWrite() {
			return []key.Binding{k.Quit}
		}
		return []key.Binding{with(k.Enter, "create an API app"), k.New, k.Quit}
	}
	b := []key.Binding{k.Up, k.Down, with(k.Enter, "edit"), k.New, k.Delete, k.Filter}
	if !l.c.canWrite() {
		b = []key.Binding{k.Up, k.Down, with(k.Enter, "view"), k.Filter}
	}
	if l.filter.Value() != "" {
		b = append(b, with(k.Back, "clear filter"))
	}
	return append(b, k.Quit)
}

func (l *appList) FullHelp() [][]key.Binding {
	k := l.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, with(k.Next, "create button")},
		{with(k.Enter, "edit app"), with(k.Delete, "delete app"), k.New},
		{k.Filter, with(k.Back, "clear filter"), k.Quit},
	}
}

func boolIndex(b bool) int {
	if b {
		return 0
	}
	return -1
}
