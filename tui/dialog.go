package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// dialogBox is a dialog as its parts: a head (the title), a body that
// scrolls when the terminal is too short for all of it, and a foot (the
// buttons) that always shows.
type dialogBox struct {
	danger     bool
	head, body drawing
	foot       drawing
	keep       int    // a body line to keep in view; -1: none
	focus      string // the focused area: kept in view when the body scrolls, and with it keep if there is room
}

// box draws a dialog that fits the terminal: never wider than it, never so
// tall that it covers the header, its buttons always in sight. scroll is
// the body's first line shown, kept by the dialog between frames.
func (c *common) box(b dialogBox, scroll *int) drawing {
	s := c.styles
	style := s.Dialog
	if b.danger {
		style = s.DialogDanger
	}
	padY := 1
	room := c.termH - 2 - 2 // the header and the help stay in sight; the border
	if b.head.height()+b.body.height()+b.foot.height()+2 > room {
		padY = 0 // a short screen: no blank lines inside the border
	}
	style = style.Padding(padY, 2)
	room -= 2 * padY
	bodyRoom := max(1, room-b.head.height()-b.foot.height())

	var inner drawing
	inner.embed(b.head)
	body := b.body
	var keep []int // the lines to keep in view, the last the one that matters most
	if b.keep >= 0 {
		keep = append(keep, b.keep)
	}
	if a, ok := body.find(b.focus); ok && b.focus != "" {
		keep = append(keep, a.y, a.y+a.h-1) // the whole area, its end first where it does not fit
	}
	if body.height() > bodyRoom {
		body = scrolled(c.styles, body, bodyRoom, keep, scroll)
	} else {
		*scroll = 0
	}
	inner.embed(body)
	inner.embed(b.foot)

	var d drawing
	d.add(style.Render(inner.String()))
	for _, a := range inner.areas {
		a.x, a.y = a.x+1+2, a.y+1+padY
		d.areas = append(d.areas, a)
	}
	return d
}

// scrolled is height lines of body, from *offset, moved to keep the lines
// keep names in view (the last first, where they do not all fit); a line
// at the top or at the bottom says when there is more.
func scrolled(s *Styles, body drawing, height int, keep []int, offset *int) drawing {
	n := body.height()
	height = max(3, height)
	view := height - 2 // room for both cue lines
	for _, k := range keep {
		*offset = follow(*offset, k, view, n)
	}
	*offset = max(0, min(*offset, n-view))
	top := *offset > 0
	if !top {
		view++ // no cue at the top: one more line of body
	}
	if *offset+view >= n { // no cue at the bottom either
		view = n - *offset
		if top && view < height-1 {
			*offset, view = max(0, n-(height-1)), min(n, height-1)
			top = *offset > 0
		}
	}
	var d drawing
	if top {
		d.add(s.Hint.Render(fmt.Sprintf("↑ %d more above", *offset)))
	}
	for _, a := range body.areas {
		if a.y >= *offset && a.y < *offset+view {
			a.y += d.height() - *offset
			d.areas = append(d.areas, a)
		}
	}
	d.add(body.lines[*offset : *offset+view]...)
	if below := n - *offset - view; below > 0 {
		d.add(s.Hint.Render(fmt.Sprintf("↓ %d more below", below)))
	}
	return d
}

// scrolls reports whether the dialog's body does not fit the terminal and
// scrolls.
func (c *common) scrolls(b dialogBox) bool {
	return b.head.height()+b.body.height()+b.foot.height() > c.termH-2-2
}

// dialogWidth is the inner text width of a dialog: comfortable to read, and
// never wider than the terminal allows.
func (c *common) dialogWidth() int { return max(20, min(60, c.termW-10)) }

// confirmDialog asks before something that cannot be undone. Cancel has the
// focus at first, so a stray enter never destroys anything.
type confirmDialog struct {
	c       *common
	title   string
	body    string   // what will happen, naming the thing
	detail  []string // drawn lines under the body, such as what a change affects
	caution string   // the consequence, shown in the warning colour
	confirm string   // the confirm button's label
	cancel  string
	danger  bool
	onYes   func() tea.Cmd
	onNo    func() tea.Cmd // besides closing, if set
	focus   focusRing
	scroll  int
}

// newConfirm opens a confirmation with the focus on Cancel.
func newConfirm(c *common, d confirmDialog) *confirmDialog {
	d.c = c
	if d.cancel == "" {
		d.cancel = "Cancel"
	}
	d.focus.set("cancel", "confirm")
	d.focus.sideBySide([]string{"cancel", "confirm"})
	return &d
}

func (d *confirmDialog) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := d.c.keys
	switch {
	case d.focus.move(km, k):
	case key.Matches(km, k.Back):
		return d.no()
	case key.Matches(km, k.Yes):
		return d.yes()
	case key.Matches(km, k.Up):
		d.scroll--
	case key.Matches(km, k.Down):
		d.scroll++
	case key.Matches(km, k.Enter):
		return d.click(d.focus.cur)
	}
	return nil
}

func (d *confirmDialog) click(id string) tea.Cmd {
	d.focus.focus(id)
	switch id {
	case "cancel":
		return d.no()
	case "confirm":
		return d.yes()
	}
	return nil
}

func (d *confirmDialog) yes() tea.Cmd {
	return tea.Batch(d.c.post(closeDialogMsg{}), d.onYes())
}

func (d *confirmDialog) no() tea.Cmd {
	cmd := d.c.post(closeDialogMsg{})
	if d.onNo != nil {
		cmd = tea.Batch(cmd, d.onNo())
	}
	return cmd
}

func (d *confirmDialog) focused() string { return d.focus.cur }

func (d *confirmDialog) draw() drawing {
	s, w := d.c.styles, d.c.dialogWidth()
	var b dialogBox
	b.danger, b.keep = d.danger, -1
	b.head.add(s.DialogTitle.Render(d.title), "")
	b.body.add(wrap(d.body, w)...)
	if len(d.detail) > 0 {
		b.body.add("")
		b.body.add(d.detail...)
	}
	if d.caution != "" {
		b.body.add("")
		b.body.add(wrapStyled(s.Caution, d.caution, w)...)
	}
	b.foot.add("")
	b.foot.buttons(s, w, d.focus.cur, button{id: "cancel", label: d.cancel},
		button{id: "confirm", label: d.confirm, danger: d.danger})
	return d.c.box(b, &d.scroll)
}

func (d *confirmDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	return []key.Binding{with(k.Next, "switch"), with(k.Enter, "press"), with(k.Yes, strings.ToLower(d.confirm)), with(k.Back, "cancel")}
}

// welcomeDialog shows a Demo's story; enter, esc or space closes it, ↑ and
// ↓ scroll it on a short screen.
type welcomeDialog struct {
	c      *common
	demo   *Demo
	scroll int
}

func (d *welcomeDialog) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := d.c.keys
	switch {
	case key.Matches(km, k.Enter, k.Back, k.Toggle):
		return d.c.post(closeDialogMsg{})
	case key.Matches(km, k.Up):
		d.scroll--
	case key.Matches(km, k.Down):
		d.scroll++
	}
	return nil
}

func (d *welcomeDialog) click(id string) tea.Cmd {
	if id == "start" {
		return d.c.post(closeDialogMsg{})
	}
	return nil
}

func (d *welcomeDialog) focused() string { return "start" }

func (d *welcomeDialog) draw() drawing {
	b := d.box()
	return d.c.box(b, &d.scroll)
}

func (d *welcomeDialog) box() dialogBox {
	s, w := d.c.styles, max(20, min(70, d.c.termW-10)) // a story reads better wide
	var b dialogBox
	b.keep = -1
	b.head.add(s.DialogTitle.Render(d.demo.Title))
	for _, p := range d.demo.Story {
		b.body.add("")
		b.body.add(wrap(p, w)...)
	}
	if d.demo.Note != "" {
		b.body.add("")
		b.body.add(wrapStyled(s.Caution, d.demo.Note, w)...)
	}
	b.foot.add("")
	b.foot.buttons(s, w, "start", button{id: "start", label: "Start"})
	return b
}

func (d *welcomeDialog) ShortHelp() []key.Binding {
	k := d.c.keys
	if d.c.scrolls(d.box()) {
		return []key.Binding{with(k.Enter, "start"), with(k.Down, "read on")}
	}
	return []key.Binding{with(k.Enter, "start")}
}

// wrapStyled wraps text to width and styles each line.
func wrapStyled(st lipgloss.Style, text string, width int) []string {
	var out []string
	for _, l := range wrap(text, width) {
		out = append(out, st.Render(l))
	}
	return out
}
