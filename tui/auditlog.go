package tui

import (
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// auditFirst is how many events the Audit Log reads before its first frame;
// a longer trail loads in the background.
const auditFirst = 256

// auditLog is the Audit Log page under Security & Control: every change,
// newest first, with who made it, when, what it did to which app or key,
// and the scopes it added and removed. It is the same list as the app list
// (list), with its own rows and pane; the change feed adds new events at
// the top.
type auditLog struct {
	c        *common
	events   []store.Event
	texts    []store.EventText
	list     list
	complete bool
	err      error

	loaded  bool           // the first read has answered
	loading int            // reads in flight
	held    []store.Update // updates that arrived while a read was in flight

	typedAhead []tea.KeyPressMsg // keys pressed before the first read answered: they act on what it brings

	// layout
	detail []string
	widths []int
}

// auditLoadedMsg brings the newest events, or all of them, read in the
// background.
type auditLoadedMsg struct {
	events   []store.Event
	texts    []store.EventText
	loc      *time.Location // the zone of the texts' times
	complete bool
	err      error
}

// newAuditLog opens the log and starts reading its newest events.
func newAuditLog(c *common) (*auditLog, tea.Cmd) {
	a := &auditLog{c: c, list: newList(c, "who, what, when, app, key or scope")}
	return a, a.load(auditFirst)
}

func (a *auditLog) frame() pageFrame {
	f := pageFrame{section: sectionAudit, typing: a.list.editing, quits: true, busy: a.busy(), focus: rowID(a.list.cursor)}
	switch {
	case a.list.editing:
		f.focus = "filter"
	case a.list.rows.len() == 0:
		f.focus = ""
	}
	return f
}

// load reads the newest n events (every event if n < 0).
func (a *auditLog) load(n int) tea.Cmd {
	a.loading++
	st, loc := a.c.store, a.c.loc
	ctx := a.c.ctx
	return a.c.read(func() tea.Msg {
		var evs []store.Event
		err := st.EachEvent(ctx, func(ev store.Event) error {
			if n >= 0 && len(evs) == n {
				return store.ErrStop
			}
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			return auditLoadedMsg{err: err}
		}
		return auditLoadedMsg{events: evs, texts: describeEvents(evs, loc), loc: loc, complete: n < 0 || len(evs) < n}
	})
}

// describeEvents puts events into words, their times in loc.
func describeEvents(evs []store.Event, loc *time.Location) []store.EventText {
	texts := make([]store.EventText, len(evs))
	for i, ev := range evs {
		texts[i] = ev.DescribeIn(loc)
	}
	return texts
}

// rezone shows the events' times in the console's zone, which changed.
func (a *auditLog) rezone() tea.Cmd {
	if len(a.events) == 0 {
		return nil
	}
	return a.set(a.events, describeEvents(a.events, a.c.loc))
}

// haystack is what the filter searches in an event: what the table and the
// pane show of it, as they show it (the time in the console's zone), and
// the scopes' ids besides their names.
func (a *auditLog) haystack(ev store.Event, t store.EventText) string {
	return strings.ToLower(strings.Join([]string{a.c.dateTime(ev.At), t.Who, clean(ev.Origin), t.What, t.Target, t.Change,
		t.ScopesBefore, t.ScopesAfter, strings.Join(ev.ScopesBefore, " "), strings.Join(ev.ScopesAfter, " "),
		clean(ev.NameBefore), clean(ev.KeyHint), clean(ev.NewKeyHint)}, "\x00"))
}

// set shows these events, keeping the selected one selected.
func (a *auditLog) set(evs []store.Event, texts []store.EventText) tea.Cmd {
	var seq uint64
	if ev, ok := a.selected(); ok {
		seq = ev.Seq
	}
	hay := make([]string, len(evs))
	for i := range evs {
		hay[i] = a.haystack(evs[i], texts[i])
	}
	a.events, a.texts = evs, texts
	cmd := a.list.setRows(hay)
	if seq != 0 && len(evs) > 0 {
		// Newest first: an event's position follows from its sequence number.
		if i := int(evs[0].Seq) - int(seq); i >= 0 && i < len(evs) && evs[i].Seq == seq {
			a.list.selectIndex(i)
		}
	}
	return cmd
}

func (a *auditLog) selected() (store.Event, bool) {
	i, ok := a.list.selected()
	if !ok || i >= len(a.events) {
		return store.Event{}, false
	}
	return a.events[i], true
}

func (a *auditLog) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case auditLoadedMsg:
		return a.loadedMsg(msg)
	case updateMsg: // a change here or in another session: it shows at once
		if a.loading > 0 {
			a.held = append(a.held, msg.up)
		}
		return a.add(msg.up.Event)
	case resyncMsg:
		a.held = nil
		return a.load(auditFirst)
	}
	if km, ok := msg.(tea.KeyPressMsg); ok && !a.loaded {
		a.typedAhead = append(a.typedAhead, km)
		return nil
	}
	if cmd, ok := a.list.update(msg); ok {
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if ok && key.Matches(km, a.c.keys.Back, a.c.keys.Scopes) {
		return a.c.post(showListMsg{})
	}
	return nil
}

// click selects the event of a row.
func (a *auditLog) click(id string) tea.Cmd {
	switch {
	case id == "filter":
		a.list.editing = true
		return a.list.filter.Focus()
	case !a.list.editing:
		a.list.click(id)
	}
	return nil
}

// loadedMsg shows what a read found, with the events that arrived while it
// was in flight, and reads the rest of a long trail in the background.
func (a *auditLog) loadedMsg(msg auditLoadedMsg) tea.Cmd {
	a.loading--
	a.loaded = true
	if msg.err != nil {
		a.err, a.complete, a.typedAhead = msg.err, true, nil
		return nil
	}
	a.err, a.complete = nil, msg.complete
	held := a.held
	if a.loading == 0 {
		a.held = nil
	}
	if msg.loc != a.c.loc { // the zone changed while the events were read
		msg.texts = describeEvents(msg.events, a.c.loc)
	}
	cmds := []tea.Cmd{a.set(msg.events, msg.texts)}
	for _, up := range held {
		cmds = append(cmds, a.add(up.Event))
	}
	// The keys typed meanwhile go through the root again, in order: one of
	// them may leave this page, and the rest belong to the next.
	for _, km := range a.typedAhead {
		a.c.post(km)
	}
	a.typedAhead = nil
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
	return a.set(slices.Concat([]store.Event{ev}, a.events), slices.Concat([]store.EventText{ev.DescribeIn(a.c.loc)}, a.texts))
}

// The log's columns: when, who and what always show; who, which app or
// key and the change share the room and its cuts; below 120 columns the
// change gives way (the pane below shows everything in full).
var auditColumns = []column{
	{title: "When", whole: true},
	{title: "Who", min: 8, max: 12, shrink: 1},
	{title: "What", whole: true},
	{title: "Target", min: 11, grow: true, shrink: 2},
	{title: "Change", min: 22, grow: true, shrink: 2, drop: 1},
}

func (a *auditLog) cells(i int) []string {
	ev, t := a.events[i], a.texts[i]
	return []string{a.c.dateTime(ev.At), clean(ev.Actor), t.What, t.Target, t.Change}
}

// layout works out the pane under the table, the rows in view and the
// columns.
func (a *auditLog) layout() {
	w, h := a.c.width, a.c.height
	head := 3
	if a.list.filtering() {
		head++
	}
	a.detail = a.detailLines(w, h-head-1-3) // at least three rows stay in view
	a.list.resize(h - head - 1 - len(a.detail) - 1)
	var rows [][]string
	for n := a.list.offset; n < a.list.rows.len() && n < a.list.offset+a.list.height; n++ {
		rows = append(rows, a.cells(a.list.rows.at(n)))
	}
	a.widths = layoutColumns(auditColumns, rows, w, 2)
}

func (a *auditLog) draw() drawing {
	s, w := a.c.styles, a.c.width
	var d drawing
	d.add(s.Title.Render("Audit Log"),
		s.Hint.Render(truncate("Every change, newest first. Keys are named, never shown.", w)), "")
	switch {
	case a.err != nil:
		d.add(wrapStyled(s.Error, describe(a.err), w)...)
		return d
	case !a.loaded:
		d.add(s.Hint.Render("Loading…"))
		return d
	case len(a.events) == 0:
		msg := lipgloss.JoinVertical(lipgloss.Center, append([]string{s.Title.Render("Nothing has changed yet")},
			wrapStyled(s.Hint, "Each app or key created, changed or deleted is listed here.", w)...)...)
		d.add(lipgloss.Place(w, max(3, a.c.height-d.height()-2), lipgloss.Center, lipgloss.Center, msg))
		return d
	}
	if a.list.filtering() {
		d.addArea("filter", a.list.filterLine(w, a.list.matchCount(a.complete, "latest", "events")))
	}
	head := s.TableHead.Render("  " + tableRow(auditColumns, a.widths, colTitles(auditColumns)))
	d.embed(a.list.view(head, func(i int, cursor bool) string {
		lead, st := "  ", s.Row
		if cursor {
			lead, st = a.list.cursorStyle(true)
		}
		return st.Render(lead + tableRow(auditColumns, a.widths, a.cells(i)))
	}, "No event matches the filter. esc clears it."))
	d.fill(a.c.height - len(a.detail))
	d.add(a.detail...)
	return d
}

// detailLines shows the selected event in full under the table, in at most
// room lines: what happened to what, who did it from where and when, what
// it changed (+ and − for scopes), and, where there is room, the scopes
// before and after.
func (a *auditLog) detailLines(w, room int) []string {
	i, ok := a.list.selected()
	if !ok || i >= len(a.events) {
		return nil
	}
	ev, t := a.events[i], a.texts[i]
	s := a.c.styles
	label := func(l string) string { return s.Hint.Render(pad(l, 8)) }
	field := func(l, v string, most int) []string {
		var out []string
		lines := wrap(v, w-8)
		if len(lines) > most {
			lines = append(lines[:most-1], truncate(strings.Join(lines[most-1:], " "), w-8))
		}
		for i, line := range lines {
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
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)), s.Title.Render(truncate(t.What+" · "+t.Target, w))}
	lines = append(lines, field("Who", who+" · "+a.c.dateTime(ev.At), 1)...)
	change := t.Change
	if ev.Action == store.ActionAppDelete {
		change = countKeys(ev.KeysGone) + " deleted with it"
	}
	if change != "" {
		lines = append(lines, field("Change", change, 2)...)
	}
	// The whole lists, when they add something and there is room.
	var lists []string
	switch {
	case t.ScopesBefore != "" && t.ScopesAfter != "":
		lists = append(field("Before", t.ScopesBefore, 2), field("After", t.ScopesAfter, 2)...)
	case t.ScopesAfter != "" && ev.Action != store.ActionAppCreate:
		lists = field("Scopes", t.ScopesAfter, 2)
	case t.ScopesAfter != "":
		lists = field("Scopes", t.ScopesAfter, 3)
	case t.ScopesBefore != "":
		lists = field("Had", t.ScopesBefore, 2)
	}
	if len(lines)+len(lists) <= room {
		lines = append(lines, lists...)
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
	if a.list.editing {
		return []key.Binding{with(k.Enter, "apply filter"), with(k.Back, "clear filter")}
	}
	if len(a.events) == 0 {
		return []key.Binding{with(k.Back, "API scopes"), k.Quit}
	}
	b := []key.Binding{k.Up, k.Down, k.Filter}
	if a.list.filter.Value() != "" {
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
		{k.Filter, with(k.Back, "clear filter / back"), k.Scopes, k.Policy, k.Approvals},
		{k.Quit},
	}
}
