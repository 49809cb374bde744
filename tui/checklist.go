package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
)

// checklist is the scope picker: the catalogue grouped by resource, one
// checkbox a scope. ↑/↓ move, space (or enter) ticks.
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
	case key.Matches(msg, km.Toggle), key.Matches(msg, km.Enter):
		c.set = c.set.Toggle(c.all[c.cursor].ID)
	default:
		return false
	}
	return true
}

// current is the scope under the cursor.
func (c *checklist) current() scopes.Scope { return c.all[c.cursor] }

// view draws the grouped checklist in at most height lines, scrolling to keep
// the cursor in sight.
func (c *checklist) view(s *Styles, width, height int, focused bool) []string {
	var lines []string
	focus := 0
	group := ""
	for i, sc := range c.all {
		if sc.Resource != group {
			group = sc.Resource
			lines = append(lines, s.Heading.Render(group))
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
	}
	if focus == 1 {
		focus = 0 // keep the first group's heading in sight
	}
	return window(lines, height, focus, &c.offset)
}
