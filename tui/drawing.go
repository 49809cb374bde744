package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// drawing is a page or a dialog as drawn: its lines, and the areas of them
// that answer the mouse, each named by the id of what is there (a button, a
// row, a tab, a checkbox). The root stacks the drawings into lipgloss layers
// and resolves a click with the compositor's hit test: a click lands on the
// thing drawn under it, whatever text that thing shows.
type drawing struct {
	lines []string
	areas []area
}

// area is a rectangle of a drawing that answers a click as id.
type area struct {
	id         string
	x, y, w, h int
	button     bool // a push button that can be pressed: the keyboard must reach it too
}

// add appends lines (each may hold several, separated by "\n").
func (d *drawing) add(lines ...string) {
	for _, l := range lines {
		d.lines = append(d.lines, strings.Split(l, "\n")...)
	}
}

// addArea appends a line that answers a click as id across its whole width.
func (d *drawing) addArea(id, line string) {
	d.mark(id, 0, len(d.lines), lipgloss.Width(line), 1)
	d.add(line)
}

// mark names a rectangle of the drawing.
func (d *drawing) mark(id string, x, y, w, h int) {
	if id != "" && w > 0 && h > 0 {
		d.areas = append(d.areas, area{id: id, x: x, y: y, w: w, h: h})
	}
}

// embed appends another drawing's lines below, its areas moved with it.
func (d *drawing) embed(sub drawing) { d.embedAt(sub, 0) }

// embedAt is embed with the sub-drawing's areas x cells to the right: its
// lines were placed after an indent of that many cells.
func (d *drawing) embedAt(sub drawing, x int) {
	y := len(d.lines)
	for _, a := range sub.areas {
		a.x, a.y = a.x+x, a.y+y
		d.areas = append(d.areas, a)
	}
	d.lines = append(d.lines, sub.lines...)
}

// fill pads the drawing with blank lines to height lines.
func (d *drawing) fill(height int) {
	for len(d.lines) < height {
		d.lines = append(d.lines, "")
	}
}

// height is how many lines it has.
func (d *drawing) height() int { return len(d.lines) }

func (d drawing) String() string { return strings.Join(d.lines, "\n") }

// find is the area named id, if drawn.
func (d drawing) find(id string) (area, bool) {
	for _, a := range d.areas {
		if a.id == id {
			return a, true
		}
	}
	return area{}, false
}

// button is one push button of a row; id is what a click or the focus
// ring calls it. A focused button is drawn filled, a disabled one faint but
// still marked when it has the focus; enter presses the focused one.
type button struct {
	id       string
	label    string
	disabled bool
	danger   bool
}

// buttons appends a row of buttons, right-aligned within width (0: left),
// the one whose id is focus highlighted.
func (d *drawing) buttons(s *Styles, width int, focus string, btns ...button) {
	d.addRow(s.buttonRow(width, focus, btns...))
}

// addRow appends a line of buttons whose places buttonRow gave, on the
// drawing's next line.
func (d *drawing) addRow(line string, areas []area) {
	y := len(d.lines)
	for _, a := range areas {
		a.y = y
		d.areas = append(d.areas, a)
	}
	d.add(line)
}

// buttonRow draws buttons left to right, right-aligned within width, and
// says where each is.
func (s *Styles) buttonRow(width int, focus string, btns ...button) (string, []area) {
	parts := make([]string, len(btns))
	areas := make([]area, len(btns))
	x := 0
	for i, b := range btns {
		parts[i] = s.button(b, b.id == focus && focus != "")
		w := lipgloss.Width(parts[i])
		areas[i] = area{id: b.id, x: x, w: w, h: 1, button: !b.disabled}
		x += w + 2
	}
	row := strings.Join(parts, "  ")
	if shift := width - lipgloss.Width(row); width > 0 && shift > 0 {
		row = strings.Repeat(" ", shift) + row
		for i := range areas {
			areas[i].x += shift
		}
	}
	return row, areas
}

// withReason puts why the buttons of a row (drawn by buttonRow within
// width) are disabled just left of them, when there is room for it.
func (s *Styles) withReason(width int, reason, row string, areas []area) (string, []area) {
	text := strings.TrimLeft(row, " ")
	said := s.Hint.Render(reason) + "  "
	lead := width - lipgloss.Width(text) - lipgloss.Width(said)
	if width <= 0 || lead < 1 {
		return row, areas
	}
	shift := lipgloss.Width(said) + lead - (lipgloss.Width(row) - lipgloss.Width(text))
	moved := make([]area, len(areas))
	for i, a := range areas {
		a.x += shift
		moved[i] = a
	}
	return strings.Repeat(" ", lead) + said + text, moved
}

// button draws one button; without colour a focused one reads [›Save‹].
func (s *Styles) button(b button, focused bool) string {
	label := "[ " + b.label + " ]"
	if focused && s.plain {
		label = "[" + s.focusMark(b.label) + "]"
	}
	switch {
	case b.disabled && focused:
		return s.ButtonDisabledFocused.Render(label)
	case b.disabled:
		return s.ButtonDisabled.Render(label)
	case focused && b.danger:
		return s.ButtonDanger.Render(label)
	case focused:
		return s.ButtonFocused.Render(label)
	}
	return s.Button.Render(label)
}

// blank is a block of spaces w×h: the content of a layer that only marks
// where something is.
func blank(w, h int) string {
	line := strings.Repeat(" ", w)
	lines := make([]string, h)
	for i := range lines {
		lines[i] = line
	}
	return strings.Join(lines, "\n")
}
