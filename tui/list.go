package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// list is a scrolling list of rows with a filter: the app list and the
// audit log are each one, with their own rows and panes around it. It keeps
// the cursor, the filter and the window of rows in view; the window is
// worked out whenever the cursor, the rows or the size change, so drawing
// only reads it. Its cost per keystroke follows the screen, not the number
// of rows (see filtered).
type list struct {
	c       *common
	rows    filtered
	cursor  int // position among the rows that pass the filter
	offset  int // first row in view
	height  int // rows in view
	filter  textinput.Model
	editing bool // typing in the filter

	// query, if set, turns the filter's text into the rows' query, and may
	// have work to start for it (the app list's unused: word).
	query func(text string) (string, tea.Cmd)
}

func newList(c *common, placeholder string) list {
	return list{c: c, filter: newInput(c.styles, placeholder), height: 1}
}

// setRows replaces the rows' searchable text; the caller then selects what
// was selected before (selectIndex).
func (l *list) setRows(hay []string) tea.Cmd {
	cmd := l.rows.setRows(hay)
	l.clamp()
	return cmd
}

// selected is the index (into the rows given to setRows) of the row under
// the cursor.
func (l *list) selected() (int, bool) {
	if l.cursor < 0 || l.cursor >= l.rows.len() {
		return 0, false
	}
	i := l.rows.at(l.cursor)
	return i, i < len(l.rows.hay)
}

// selectIndex puts the cursor on row i, if it passes the filter (as far as
// the search has got).
func (l *list) selectIndex(i int) {
	if l.rows.query == "" {
		l.cursor = i
	} else {
		for j := range l.rows.len() {
			if l.rows.at(j) == i {
				l.cursor = j
				break
			}
		}
	}
	l.clamp()
}

func (l *list) clamp() {
	l.cursor = max(0, min(l.cursor, l.rows.len()-1))
	l.scroll()
}

// resize sets how many rows are in view.
func (l *list) resize(height int) {
	l.height = max(1, height)
	l.scroll()
}

// scroll moves the window just enough to keep the cursor in view.
func (l *list) scroll() { l.offset = follow(l.offset, l.cursor, l.height, l.rows.len()) }

// filtering reports whether a filter is typed or set.
func (l *list) filtering() bool { return l.editing || l.filter.Value() != "" }

// update handles the list's own keys and messages: moving, paging, and the
// filter. It reports whether it handled msg.
func (l *list) update(msg tea.Msg) (tea.Cmd, bool) {
	if msg, ok := msg.(filterStepMsg); ok {
		return l.rows.step(msg), true
	}
	km, isKey := msg.(tea.KeyPressMsg)
	k := l.c.keys
	if l.editing {
		if isKey {
			switch {
			case key.Matches(km, k.Back):
				l.filter.SetValue("")
				fallthrough
			case key.Matches(km, k.Enter, k.Next, k.Up, k.Down) && km.Key().Text == "":
				l.editing = false
				l.filter.Blur()
				return l.applyFilter(), true
			}
		}
		var cmd tea.Cmd
		l.filter, cmd = l.filter.Update(msg)
		return tea.Batch(cmd, l.applyFilter()), true
	}
	if !isKey {
		return nil, false
	}
	var cmd tea.Cmd
	switch {
	case key.Matches(km, k.Filter) && len(l.rows.hay) > 0:
		l.editing = true
		return l.filter.Focus(), true
	case key.Matches(km, k.Back) && l.filter.Value() != "":
		l.filter.SetValue("")
		return l.applyFilter(), true
	case key.Matches(km, k.Up):
		l.cursor = max(0, l.cursor-1)
	case key.Matches(km, k.Down):
		l.cursor, cmd = l.rows.moveDown(l.cursor, 1)
	case key.Matches(km, k.PageUp):
		l.cursor = max(0, l.cursor-l.height)
	case key.Matches(km, k.PageDown):
		l.cursor, cmd = l.rows.moveDown(l.cursor, l.height)
	case key.Matches(km, k.Home):
		l.cursor = 0
	case key.Matches(km, k.End):
		l.cursor, cmd = l.rows.moveDown(l.cursor, l.rows.candidates())
	default:
		return nil, false
	}
	l.scroll()
	return cmd, true
}

// applyFilter narrows the rows to the filter's text, keeping the selected
// row when it still passes.
func (l *list) applyFilter() tea.Cmd {
	sel, had := l.selected()
	text, pre := l.filter.Value(), tea.Cmd(nil)
	if l.query != nil {
		text, pre = l.query(text)
	}
	cmd := tea.Batch(pre, l.rows.setQuery(text))
	if had {
		l.selectIndex(sel)
	}
	l.clamp()
	return cmd
}

// rowID names row n (a position among the rows that pass the filter) for
// the mouse.
func rowID(n int) string { return "row:" + strconv.Itoa(n) }

// click answers a click on a row: the first selects it, a click on the
// selected row opens it (open reports that).
func (l *list) click(id string) (handled, open bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "row:"))
	if !strings.HasPrefix(id, "row:") || err != nil || n >= l.rows.len() {
		return false, false
	}
	if n == l.cursor {
		return true, true
	}
	l.cursor = n
	l.scroll()
	return true, false
}

// view draws the rows in view under a header line. draw draws row i (an
// index into the rows given to setRows), marked as under the cursor or not.
// empty is what an empty filter result says.
func (l *list) view(head string, draw func(i int, cursor bool) string, empty string) drawing {
	s := l.c.styles
	var d drawing
	d.add(head)
	if l.rows.len() == 0 {
		if !l.rows.done() {
			d.add(s.Hint.Render("  Searching…"))
		} else {
			d.add(s.Hint.Render("  " + empty))
		}
		return d
	}
	for n := l.offset; n < l.rows.len() && n < l.offset+l.height; n++ {
		d.addArea(rowID(n), draw(l.rows.at(n), n == l.cursor))
	}
	return d
}

// cursorStyle is how a row under the cursor is drawn: highlighted, with
// "›", while the list has the keyboard; marked but quiet while the focus is
// elsewhere (a button, the filter), so the pane below still shows which
// row it describes (with "·" where there is no colour to tell them apart).
func (l *list) cursorStyle(focused bool) (string, lipgloss.Style) {
	s := l.c.styles
	if focused && !l.editing {
		return "› ", s.RowActive
	}
	return s.currentLead(), s.RowCurrent
}

// filterLine is the filter's input and how much passes, for above the
// table.
func (l *list) filterLine(width int, count string) string {
	s := l.c.styles
	l.filter.SetWidth(max(8, min(40, width-len("Filter ")-lipgloss.Width(count)-3)))
	return s.Hint.Render("Filter ") + l.filter.View() + "  " + s.Hint.Render(count)
}

// plural is noun ("apps") for n of them: "app" for one.
func plural(n int, noun string) string {
	if n == 1 {
		return strings.TrimSuffix(noun, "s")
	}
	return noun
}
