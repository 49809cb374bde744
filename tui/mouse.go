package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// The mouse works as the seed's clicks do: rows, buttons, tabs, checkboxes
// and dialog buttons respond to a left click, the wheel scrolls. Hit testing
// reads the screen as drawn — a click's line of plain text and its column —
// so a page needs no map of where it put things: a button is the
// "[ label ]" under the pointer, a checkbox the "[x] name" on the line.

// hit is where a click landed, in the coordinates of the page's content or
// of the dialog's box.
type hit struct {
	x, y   int
	line   string // the plain text of line y
	button string // the label of the button under the click, if any
}

// clickable is a page or dialog that responds to clicks.
type clickable interface{ click(h hit) tea.Cmd }

// mouse handles a mouse message: a left click goes to the dialog, the
// navigation or the page under it; the wheel moves the page's selection.
func (m *Model) mouse(msg tea.Msg) tea.Cmd {
	c := m.c
	if c.termW < MinWidth || c.termH < MinHeight {
		return nil
	}
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		if m.dialog != nil {
			return nil
		}
		switch msg.Button {
		case tea.MouseWheelUp:
			return m.page.Update(tea.KeyPressMsg{Code: tea.KeyUp})
		case tea.MouseWheelDown:
			return m.page.Update(tea.KeyPressMsg{Code: tea.KeyDown})
		}
		return nil
	case tea.MouseClickMsg:
		if msg.Button != tea.MouseLeft {
			return nil
		}
		if m.dialog != nil {
			return m.clickDialog(msg.X, msg.Y)
		}
		if c.termW >= navMinWidth && msg.X < 1+navWidth {
			return m.clickNav(msg.Y - 2)
		}
		left := 1
		if c.termW >= navMinWidth {
			left += navWidth + 1
		}
		return clickIn(m.page, m.page.View(), msg.X-left, msg.Y-2, c.width, c.height)
	}
	return nil
}

func (m *Model) clickDialog(x, y int) tea.Cmd {
	box := m.dialog.View()
	bx := max(0, (m.c.termW-lipgloss.Width(box))/2)
	by := max(0, (m.c.termH-lipgloss.Height(box))/2)
	return clickIn(m.dialog, box, x-bx, y-by, lipgloss.Width(box), lipgloss.Height(box))
}

// clickNav opens the navigation's page on line y of it (line 0 is the
// group's heading). It leaves only the list pages: a form asks before it
// is left, and is left with its own buttons.
func (m *Model) clickNav(y int) tea.Cmd {
	items := navItems(m.c.keys)
	f := m.page.frame()
	if y < 1 || y > len(items) || f.typing || !f.quits {
		return nil
	}
	switch items[y-1].name {
	case f.section:
		return nil
	case sectionAudit:
		return m.c.post(showAuditMsg{})
	}
	return m.c.post(showListMsg{})
}

// clickIn passes a click at (x, y) of a drawn view of w×h cells to target.
func clickIn(target any, view string, x, y, w, h int) tea.Cmd {
	t, ok := target.(clickable)
	if !ok || x < 0 || y < 0 || x >= w || y >= h {
		return nil
	}
	lines := strings.Split(view, "\n")
	if y >= len(lines) {
		return nil
	}
	line := ansi.Strip(lines[y])
	return t.click(hit{x: x, y: y, line: line, button: buttonAt(line, x)})
}

// buttonAt is the label of the "[ label ]" button that covers column x of
// a plain line, or "".
func buttonAt(line string, x int) string {
	col := 0
	start, startCol := -1, 0
	for i, r := range line {
		switch {
		case r == '[' && strings.HasPrefix(line[i:], "[ "):
			start, startCol = i, col
		case r == ']' && start >= 0 && i > start+1 && line[i-1] == ' ':
			if x >= startCol && x <= col {
				return strings.TrimSpace(line[start+1 : i])
			}
			start = -1
		}
		col += ansi.StringWidth(string(r))
	}
	return ""
}

// spanAt reports whether text appears on line covering column x.
func spanAt(line, text string, x int) bool {
	from := 0
	for {
		i := strings.Index(line[from:], text)
		if i < 0 {
			return false
		}
		i += from
		col := ansi.StringWidth(line[:i])
		if x >= col && x < col+ansi.StringWidth(text) {
			return true
		}
		from = i + len(text)
	}
}
