package tui

import (
	"fmt"
	"strconv"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
)

// checklist is the scope picker: the catalogue grouped by resource, one
// checkbox a scope. ↑/↓ move, g/G to the first and the last, space (or
// enter) ticks.
type checklist struct {
	set    scopes.Set
	cursor int // index into the catalogue
	offset int // first line shown when it must scroll
	all    []scopes.Scope
	usage  *scopeUsage // when each scope was last used, shown after its name; nil: nothing
}

func newChecklist(set scopes.Set) checklist { return checklist{set: set, all: scopes.All()} }

// update handles a key for the focused checklist and reports whether it did.
func (c *checklist) update(msg tea.KeyPressMsg, km KeyMap) bool {
	switch {
	case key.Matches(msg, km.Up):
		c.cursor = max(0, c.cursor-1)
	case key.Matches(msg, km.Down):
		c.cursor = min(len(c.all)-1, c.cursor+1)
	case key.Matches(msg, km.Home):
		c.cursor = 0
	case key.Matches(msg, km.End):
		c.cursor = len(c.all) - 1
	case key.Matches(msg, km.Toggle), key.Matches(msg, km.Enter):
		c.set = c.set.Toggle(c.all[c.cursor].ID)
	default:
		return false
	}
	return true
}

// current is the scope under the cursor.
func (c *checklist) current() scopes.Scope { return c.all[c.cursor] }

// scopeID names scope i of the catalogue for the mouse.
func scopeID(i int) string { return "scope:" + strconv.Itoa(i) }

// view draws the grouped checklist in at most height lines, scrolling to
// keep the cursor in sight; a line at the top or the bottom says how many
// scopes are out of sight there. Each scope's line answers a click.
func (c *checklist) view(s *Styles, width, height int, focused bool) drawing {
	var lines []string
	var which []int // the scope of each line; -1 for a heading
	focus := 0
	group := ""
	for i, sc := range c.all {
		if sc.Resource != group {
			group = sc.Resource
			lines = append(lines, s.Heading.Render(group))
			which = append(which, -1)
		}
		box := "[ ]"
		if c.set.Allows(sc.ID) {
			box = "[" + s.Check.Render("x") + "]"
		}
		name, note := c.usage.column(c.all, sc, width-6)
		line := pad("  "+box+" "+name+s.Hint.Render(note), width)
		if i == c.cursor {
			focus = len(lines)
			if focused {
				line = s.RowActive.Render(pad("› "+box+" "+name+note, width))
			}
		}
		lines = append(lines, line)
		which = append(which, i)
	}
	if focus == 1 {
		focus = 0 // keep the first group's heading in sight
	}
	from, to := 0, len(lines)
	var top, bottom string
	if height > 0 && len(lines) > height {
		height = max(3, height)
		off := c.offset
		if focus < off+1 {
			off = focus - 1
		}
		if focus > off+height-2 {
			off = focus - height + 2
		}
		off = max(0, min(off, len(lines)-height))
		c.offset, from, to = off, off, off+height
		count := func(ws []int) int {
			n := 0
			for _, w := range ws {
				if w >= 0 {
					n++
				}
			}
			return n
		}
		if from > 0 {
			top = s.Hint.Render(fmt.Sprintf("↑ %d more", count(which[:from+1])))
		}
		if to < len(lines) {
			bottom = s.Hint.Render(fmt.Sprintf("↓ %d more", count(which[to-1:])))
		}
	}
	var d drawing
	for y := from; y < to; y++ {
		line := lines[y]
		switch {
		case y == from && top != "":
			line = top
		case y == to-1 && bottom != "":
			line = bottom
		case which[y] >= 0:
			d.mark(scopeID(which[y]), 0, y-from, width, 1)
		}
		d.add(line)
	}
	return d
}
