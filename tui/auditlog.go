package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// auditFirst is how many events the Audit Log reads before its first frame;
// a longer trail loads in the background.
const auditFirst = 256

// auditLog is the Audit Log page under Security & Control: every change,
// newest first, with who made it, when, what it did to which app or key,
// and the scopes before and after. Like the app list it draws only the
// visible rows and filters lazily.
type auditLog struct {
	c        *common
	events   []store.Event
	texts    []store.EventText
	complete bool
	rows     filtered
	cursor   int
	offset   int
	filter   textinput.Model
	editing  bool
	err      error
	tableTop int // the line of the table's header as last drawn, for clicks
	drawn    int // how many rows the table drew

	loaded  bool           // the first read has answered
	loading int            // reads in flight
	held    []store.Update // updates that arrived while a read was in flight
}

// auditLoadedMsg brings the newest events, or all of them, read in the
// background.
type auditLoadedMsg struct {
	events   []store.Event
	texts    []store.EventText
	hay      []string
	complete bool
	err      error
}

// newAuditLog opens the log and starts reading its newest events.
func newAuditLog(c *common) (*auditLog, tea.Cmd) {
	a := &auditLog{c: c, filter: newInput(c.styles, "who, what, app, key or scope")}
	return a, a.load(auditFirst)
}

func (a *auditLog) frame() pageFrame {
	return pageFrame{section: sectionAudit, typing: a.editing, quits: true, busy: a.busy()}
}

// load reads the newest n events (every event if n < 0).
func (a *auditLog) load(n int) tea.Cmd {
	a.loading++
	st := a.c.store
	return a.c.read(func() tea.Msg {
		var evs []store.Event
		err := st.EachEvent(func(ev store.Event) error {
			if n >= 0 && len(evs) == n {
				return store.ErrStop
			}
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			return auditLoadedMsg{err: err}
		}
		texts, hay := describeEvents(evs)
		return auditLoadedMsg{events: evs, texts: texts, hay: hay, complete: n < 0 || len(evs) < n}
	})
}

func describeEvents(evs []store.Event) ([]store.EventText, []string) {
	texts, hay := make([]store.EventText, len(evs)), make([]string, len(evs))
	for i, ev := range evs {
		t := ev.Describe()
		texts[i] = t
		hay[i] = strings.ToLower(strings.Join([]string{t.Who, t.What, t.Target, t.Change,
			t.ScopesBefore, t.ScopesAfter, ev.At.Format("2006-01-02")}, "\x00"))
	}
	return texts, hay
}

// set shows these events, keeping the selected one selected.
func (a *auditLog) set(evs []store.Event, texts []store.EventText, hay []string) tea.Cmd {
	var seq uint64
	if ev, ok := a.selected(); ok {
		seq = ev.Seq
	}
	a.events, a.texts = evs, texts
	cmd := a.rows.setRows(hay)
	if seq != 0 && a.rows.query == "" && len(evs) > 0 {
		// Newest first: an event's position follows from its sequence number.
		if i := int(evs[0].Seq) - int(seq); i >= 0 && i < len(evs) && evs[i].Seq == seq {
			a.cursor = i
		}
	}
	a.clamp()
	return cmd
}

func (a *auditLog) clamp() { a.cursor = max(0, min(a.cursor, a.rows.len()-1)) }

func (a *auditLog) selected() (store.Event, bool) {
	if a.cursor < 0 || a.cursor >= a.rows.len() {
		return store.Event{}, false
	}
	return a.events[a.rows.at(a.cursor)], true
}

func (a *auditLog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case auditLoadedMsg:
		return a.loadedMsg(msg)
	case filterStepMsg:
		return a.rows.step(msg)
	case updateMsg: // a change here or in another session: it shows at once
		if a.loading > 0 {
			a.held = append(a.held, msg.up)
		}
		return a.add(msg.up.Event)
	case resyncMsg:
		a.held = nil
		return a.load(auditFirst)
	}
	km, ok := msg.(tea.KeyPressMsg)
	k := a.c.keys
	if a.editing {
		if ok {
			switch {
			case key.Matches(km, k.Back):
				a.filter.SetValue("")
				fallthrough
			case key.Matches(km, k.Enter, k.Next, k.Up, k.Down) && km.Key().Text == "":
				a.editing = false
				a.filter.Blur()
				return a.applyFilter()
			}
		}
		var cmd tea.Cmd
		a.filter, cmd = a.filter.Update(msg)
		return tea.Batch(cmd, a.applyFilter())
	}
	if !ok {
		return nil
	}
	switch {
	case key.Matches(km, k.Filter) && len(a.events) > 0:
		a.editing = true
		return a.filter.Focus()
	case key.Matches(km, k.Back) && a.filter.Value() != "":
		a.filter.SetValue("")
		return a.applyFilter()
	case key.Matches(km, k.Back, k.Scopes):
		return a.c.post(showListMsg{})
	case key.Matches(km, k.Up):
		a.cursor = max(0, a.cursor-1)
	case key.Matches(km, k.Down):
		return a.down(1)
	case key.Matches(km, k.PageUp):
		a.cursor = max(0, a.cursor-a.pageRows())
	case key.Matches(km, k.PageDown):
		return a.down(a.pageRows())
	case key.Matches(km, k.Home):
		a.cursor = 0
	case key.Matches(km, k.End):
		return a.down(a.rows.candidates())
	}
	return nil
}

// loadedMsg shows what a read found, with the events that arrived while it
// was in flight, and reads the rest of a long trail in the background.
func (a *auditLog) loadedMsg(msg auditLoadedMsg) tea.Cmd {
	a.loading--
	a.loaded = true
	if msg.err != nil {
		a.err, a.complete = msg.err, true
		return nil
	}
	a.err, a.complete = nil, msg.complete
	held := a.held
	if a.loading == 0 {
		a.held = nil
	}
	cmds := []tea.Cmd{a.set(msg.events, msg.texts, msg.hay)}
	for _, up := range held {
		cmds = append(cmds, a.add(up.Event))
	}
	if !a.complete && a.loading == 0 {
		cmds = append(cmds, a.load(-1))
	}
	return tea.Batch(cmds...)
}

// add shows a new event at the top, unless it is there already.
func (a *auditLog) add(ev store.Event) tea.Cmd {
	if !a.loaded || len(a.events) > 0 && ev.Seq <= a.events[0].Seq {
		return nil
	}
	texts, hay := describeEvents([]store.Event{ev})
	return a.set(slices.Concat([]store.Event{ev}, a.events), slices.Concat(texts, a.texts), slices.Concat(hay, a.rows.hay))
}

func (a *auditLog) applyFilter() tea.Cmd {
	cmd := a.rows.setQuery(a.filter.Value())
	a.clamp()
	return cmd
}

func (a *auditLog) down(n int) tea.Cmd {
	var cmd tea.Cmd
	a.cursor, cmd = a.rows.moveDown(a.cursor, n)
	return cmd
}

func (a *auditLog) pageRows() int { return max(1, a.c.height-12) }

func (a *auditLog) View() string {
	s, w := a.c.styles, a.c.width
	head := []string{
		s.Title.Render("Audit Log"),
		s.Hint.Render(truncate("Every change to apps and keys, newest first. Keys are named, never shown.", w)),
		"",
	}
	if a.err != nil {
		return strings.Join(append(head, wrapStyled(s.Error, describe(a.err), w)...), "\n")
	}
	if !a.loaded {
		return strings.Join(append(head, s.Hint.Render("Loading…")), "\n")
	}
	if len(a.events) == 0 {
		msg := lipgloss.JoinVertical(lipgloss.Center,
			s.Title.Render("Nothing has changed yet"),
			s.Hint.Render("Creating, changing or deleting an app or key adds an entry here."))
		return strings.Join(head, "\n") + "\n" + lipgloss.Place(w, max(3, a.c.height-len(head)-2), lipgloss.Center, lipgloss.Center, msg)
	}
	if a.editing || a.filter.Value() != "" {
		head = append(head, s.Hint.Render("Filter ")+a.filter.View()+"  "+s.Hint.Render(a.matchCount()))
	}
	detail := a.detailView()
	tableH := a.c.height - len(head) - len(detail) - 1
	a.tableTop = len(head)
	lines := append(head, a.tableView(tableH)...)
	for len(lines) < a.c.height-len(detail) {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, detail...), "\n")
}

func (a *auditLog) matchCount() string {
	switch {
	case !a.rows.done():
		return fmt.Sprintf("searching… %s found", thousands(a.rows.len()))
	case !a.complete:
		return fmt.Sprintf("%s of the latest %s events", thousands(a.rows.len()), thousands(len(a.events)))
	}
	return fmt.Sprintf("%s of %s events", thousands(a.rows.len()), thousands(len(a.events)))
}

// auditColumns are the table's widths: the change gets a column only when
// the screen has room for it; the pane below always shows it in full.
type auditColumns struct{ when, who, what, target, change int }

func (a *auditLog) columns() auditColumns {
	c := auditColumns{when: 16, who: 14, what: 15}
	rest := a.c.width - 2 - c.when - c.who - c.what - 6
	if rest >= 40 {
		c.target = rest * 3 / 5
		c.change = rest - c.target - 2
	} else {
		c.target = rest
	}
	return c
}

func (a *auditLog) tableView(height int) []string {
	s, cols := a.c.styles, a.columns()
	row := func(cur, when, who, what, target, change string) string {
		line := cur + pad(when, cols.when) + "  " + pad(who, cols.who) + "  " + pad(what, cols.what) + "  " + pad(target, cols.target)
		if cols.change > 0 {
			line += "  " + pad(change, cols.change)
		}
		return line
	}
	head := s.TableHead.Render(row("  ", "When", "Who", "What", "Target", "Change"))
	if a.rows.len() == 0 {
		if !a.rows.done() {
			return []string{head, s.Hint.Render("  Searching…")}
		}
		return []string{head, s.Hint.Render("  No event matches the filter. esc clears it.")}
	}
	height = max(1, height-1)
	a.offset = follow(a.offset, a.cursor, height, a.rows.len())
	lines := []string{head}
	for i := a.offset; i < a.rows.len() && i < a.offset+height; i++ {
		n := a.rows.at(i)
		ev, t := a.events[n], a.texts[n]
		cur, st := "  ", s.Row
		if i == a.cursor {
			cur, st = "› ", s.RowActive
			if a.editing {
				cur, st = "  ", s.RowCurrent
			}
		}
		lines = append(lines, st.Render(row(cur, a.c.dateTime(ev.At), clean(ev.Actor), t.What, t.Target, t.Change)))
	}
	a.drawn = len(lines) - 1
	return lines
}

// detailView shows the selected event in full under the table.
func (a *auditLog) detailView() []string {
	ev, ok := a.selected()
	if !ok {
		return nil
	}
	t := a.texts[a.rows.at(a.cursor)]
	s, w := a.c.styles, a.c.width
	label := func(l string) string { return s.Hint.Render(pad(l, 8)) }
	field := func(l, v string) []string {
		var out []string
		for i, line := range wrap(v, w-8) {
			if i == 2 {
				out[1] = truncate(out[1]+" …", w-8)
				break
			}
			if i == 0 {
				out = append(out, label(l)+line)
			} else {
				out = append(out, label("")+line)
			}
		}
		return out
	}
	who := t.Who
	if ev.Origin != "" {
		who += " · " + clean(ev.Origin)
	}
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)),
		s.Title.Render(truncate(t.What+" · "+t.Target, w)),
		label("Who") + truncate(who+" · "+a.c.dateTime(ev.At), w-8)}
	switch {
	case t.ScopesBefore != "" && t.ScopesAfter != "":
		lines = append(lines, field("Before", t.ScopesBefore)...)
		lines = append(lines, field("After", t.ScopesAfter)...)
	case t.ScopesAfter != "":
		lines = append(lines, field("Scopes", t.ScopesAfter)...)
	case t.ScopesBefore != "":
		lines = append(lines, field("Had", t.ScopesBefore)...)
	}
	if ev.NameBefore != "" {
		lines = append(lines, label("Was")+truncate(clean(ev.NameBefore), w-8))
	}
	if ev.KeyHint != "" {
		lines = append(lines, label("Key")+truncate(t.Change, w-8)) // the hint, and for a roll the new key
	}
	if ev.Action == store.ActionAppDelete {
		lines = append(lines, label("Keys")+countKeys(ev.KeysGone)+" deleted with it")
	}
	return lines
}

func (a *auditLog) busy() string {
	if a.loading > 0 {
		return "Loading the audit log…"
	}
	return ""
}

func (a *auditLog) ShortHelp() []key.Binding {
	k := a.c.keys
	if a.editing {
		return []key.Binding{with(k.Enter, "apply filter"), with(k.Back, "clear filter")}
	}
	b := []key.Binding{k.Up, k.Down, k.Filter}
	if a.filter.Value() != "" {
		b = append(b, with(k.Back, "clear filter"))
	} else {
		b = append(b, with(k.Back, "API scopes"))
	}
	return append(b, k.Quit)
}

func (a *auditLog) FullHelp() [][]key.Binding {
	k := a.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Filter, with(k.Back, "clear filter / back"), k.Scopes},
		{k.Quit},
	}
}
