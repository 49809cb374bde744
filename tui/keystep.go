package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// keyStep follows Next: the app exists, and this page finishes setting it
// up with Create API Key, then Done.
type keyStep struct {
	c     *common
	app   store.App
	keys  keyActions
	focus focusRing // fKeys, fCreateKey and Done

	// layout
	short bool // a short screen: no blank lines between the parts
	pane  []string
}

const ksDone = "done"

// newKeyStep follows the creation of app, which has no keys yet.
func newKeyStep(c *common, app store.App, copy Clipboard) *keyStep {
	p := &keyStep{c: c, app: app, keys: keyActions{c: c, appID: app.ID, copy: copy}}
	p.refocus()
	p.focus.focus(fCreateKey)
	return p
}

func (p *keyStep) frame() pageFrame {
	f := pageFrame{section: sectionScopes, crumb: clean(p.app.Name), busy: p.keys.busy(), focus: p.focus.cur}
	if p.focus.is(fKeys) {
		f.focus = keyRowID(p.keys.table.cursor)
	}
	return f
}

func (p *keyStep) refocus() {
	if len(p.keys.table.keys) > 0 {
		p.focus.set(fKeys, fCreateKey, ksDone)
	} else {
		p.focus.set(fCreateKey, ksDone)
	}
	p.focus.sideBySide([]string{fCreateKey, ksDone})
}

func (p *keyStep) Update(msg tea.Msg) tea.Cmd {
	if up, ok := msg.(updateMsg); ok && up.up.Event.AppID == p.app.ID && up.up.App != nil {
		p.app = *up.up.App
	}
	switch msg.(type) {
	case updateMsg, keysLoadedMsg, keyCreatedMsg, keyRolledMsg, keyDeletedMsg, resyncMsg:
		before := len(p.keys.table.keys)
		cmd := p.keys.update(msg)
		p.refocus()
		if len(p.keys.table.keys) > before {
			p.focus.focus(ksDone) // a key was made: Done is the next step
		}
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := p.c.keys
	switch {
	case key.Matches(km, k.Back):
		return p.done()
	case key.Matches(km, k.CreateKey):
		return p.keys.create(p.app)
	case p.focus.is(fKeys) && key.Matches(km, k.Up):
		p.keys.table.move(true)
	case p.focus.is(fKeys) && key.Matches(km, k.Down):
		p.keys.table.move(false)
	case p.focus.is(fKeys) && key.Matches(km, k.Home, k.End):
		p.keys.table.moveTo(key.Matches(km, k.End))
	case p.focus.is(fKeys) && key.Matches(km, k.Delete):
		return p.keys.confirmDelete(p.app.Name)
	case p.focus.is(fKeys) && key.Matches(km, k.Roll):
		return p.keys.roll(p.app)
	case p.focus.move(km, k):
	case key.Matches(km, k.Enter):
		return p.press(p.focus.cur)
	}
	return nil
}

func (p *keyStep) press(id string) tea.Cmd {
	switch id {
	case fCreateKey:
		return p.keys.create(p.app)
	case ksDone:
		return p.done()
	}
	return nil
}

// click answers the mouse: Create API Key, Done, or a key's row.
func (p *keyStep) click(id string) tea.Cmd {
	if p.keys.table.click(id) {
		p.focus.focus(fKeys)
		return nil
	}
	if p.focus.focus(id) {
		return p.press(id)
	}
	return nil
}

// done goes back to the list; with no key yet it asks first, as the seed
// calls the key step necessary: no service can use an app without one.
func (p *keyStep) done() tea.Cmd {
	back := func() tea.Cmd { return p.c.post(showListMsg{selectID: p.app.ID}) }
	if len(p.keys.table.keys) > 0 {
		return back()
	}
	return p.c.post(openDialogMsg{newConfirm(p.c, confirmDialog{
		title: "Done without an API key?",
		body: fmt.Sprintf("No service can use %q until it has an API key. You can also create one later, on the app's API Keys tab.",
			clean(p.app.Name)),
		cancel: "Create API Key", confirm: "Done without a key",
		onYes: back,
		onNo:  func() tea.Cmd { return p.keys.create(p.app) },
	})})
}

// layout fits the key table and the selected key's pane between the
// introduction and the buttons.
func (p *keyStep) layout() {
	w, h := p.c.width, p.c.height
	p.short = h < 16
	p.pane = p.keys.table.pane(p.c, w)
	top := 2 + len(wrap(keyStepIntro, w)) + 1
	if !p.short {
		top += 2
	}
	room := h - top - 1
	if len(p.pane) > room-3 {
		p.pane = p.pane[:max(0, room-3)]
	}
	p.keys.table.layout(p.c, w, room-len(p.pane))
}

const keyStepIntro = "Create an API key to let a service use this app. Each key may use only this app's scopes, and is shown only once."

func (p *keyStep) draw() drawing {
	s, w := p.c.styles, p.c.width
	var d drawing
	d.add(s.Title.Render(truncate(clean(p.app.Name), w)), s.Hint.Render(truncate("Scopes: "+scopeSummary(p.app.Scopes), w)))
	if !p.short {
		d.add("")
	}
	d.add(wrapStyled(s.Text, keyStepIntro, w)...)
	if !p.short {
		d.add("")
	}
	d.add(s.Heading.Render(fmt.Sprintf("API Keys (%d)", len(p.keys.table.keys))))
	d.embed(p.keys.table.view(p.c, p.focus.is(fKeys)))
	d.fill(p.c.height - 1 - len(p.pane))
	d.add(p.pane...)
	d.fill(p.c.height - 1)
	d.buttons(s, w, p.focus.cur, button{id: fCreateKey, label: "Create API Key"}, button{id: ksDone, label: "Done"})
	return d
}

func (p *keyStep) ShortHelp() []key.Binding {
	k := p.c.keys
	b := []key.Binding{k.Next, k.CreateKey}
	if p.focus.is(fKeys) {
		b = append(b, k.Up, k.Down, k.Roll, with(k.Delete, "delete key"))
	}
	return append(b, with(k.Enter, "press"), with(k.Back, "done"))
}

func (p *keyStep) FullHelp() [][]key.Binding {
	k := p.c.keys
	return [][]key.Binding{{k.Next, k.Prev, with(k.Enter, "press")}, {k.CreateKey, k.Roll, with(k.Delete, "delete key")}, {with(k.Back, "done")}}
}
