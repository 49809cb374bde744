package tui

import (
	"fmt"
	"slices"
	"strings"

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
	focus field // fKeys, fCreateKey or fPrimary (Done)
}

// newKeyStep follows the creation of app, which has no keys yet.
func newKeyStep(c *common, app store.App, copy Clipboard) *keyStep {
	return &keyStep{c: c, app: app, keys: keyActions{c: c, appID: app.ID, copy: copy}, focus: fCreateKey}
}

func (p *keyStep) frame() pageFrame {
	return pageFrame{section: sectionScopes, crumb: clean(p.app.Name), busy: p.keys.busy()}
}

func (p *keyStep) fields() []field {
	if len(p.keys.table.keys) > 0 {
		return []field{fKeys, fCreateKey, fPrimary}
	}
	return []field{fCreateKey, fPrimary}
}

func (p *keyStep) Update(msg tea.Msg) tea.Cmd {
	if up, ok := msg.(updateMsg); ok && up.up.Event.AppID == p.app.ID && up.up.App != nil {
		p.app = *up.up.App
	}
	switch msg.(type) {
	case updateMsg, keysLoadedMsg, keyCreatedMsg, keyRolledMsg, keyDeletedMsg, resyncMsg:
		before := len(p.keys.table.keys)
		cmd := p.keys.update(msg)
		if len(p.keys.table.keys) > before {
			p.focus = fPrimary // a key was made: Done is the next step
		}
		if !slices.Contains(p.fields(), p.focus) {
			p.focus = fCreateKey
		}
		return cmd
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := p.c.keys
	fs := p.fields()
	i := slices.Index(fs, p.focus)
	switch {
	case key.Matches(km, k.Back):
		return p.done()
	case key.Matches(km, k.Next), p.focus != fKeys && key.Matches(km, k.Right):
		p.focus = fs[(i+1)%len(fs)]
	case key.Matches(km, k.Prev), p.focus != fKeys && key.Matches(km, k.Left):
		p.focus = fs[(i+len(fs)-1)%len(fs)]
	case key.Matches(km, k.CreateKey):
		return p.keys.create(p.app)
	case p.focus == fKeys && key.Matches(km, k.Up):
		p.keys.table.move(true)
	case p.focus == fKeys && key.Matches(km, k.Down):
		p.keys.table.move(false)
	case p.focus == fKeys && key.Matches(km, k.Delete):
		return p.keys.confirmDelete(p.app.Name)
	case p.focus == fKeys && key.Matches(km, k.Roll):
		return p.keys.roll(p.app)
	case key.Matches(km, k.Enter):
		switch p.focus {
		case fCreateKey:
			return p.keys.create(p.app)
		case fPrimary:
			return p.done()
		}
	}
	return nil
}

func (p *keyStep) done() tea.Cmd { return p.c.post(showListMsg{selectID: p.app.ID}) }

func (p *keyStep) View() string {
	s, w := p.c.styles, p.c.width
	lines := []string{
		s.Title.Render(truncate(clean(p.app.Name), w)),
		s.Hint.Render(truncate("Scopes: "+p.app.Scopes.Summary(), w)),
		"",
	}
	lines = append(lines, wrapStyled(s.Text, "Create an API key to let a service use this app. Each key may use only this app's scopes, and is shown only once.", w)...)
	lines = append(lines, "", s.Heading.Render(fmt.Sprintf("API Keys (%d)", len(p.keys.table.keys))))
	tableH := max(2, p.c.height-len(lines)-2)
	lines = append(lines, p.keys.table.view(p.c, w, tableH, p.focus == fKeys)...)
	for len(lines) < p.c.height-1 {
		lines = append(lines, "")
	}
	fi := map[field]int{fCreateKey: 0, fPrimary: 1}[p.focus]
	if p.focus == fKeys {
		fi = -1
	}
	lines = append(lines, s.buttonRow(w, fi, button{label: "Create API Key"}, button{label: "Done"}))
	return strings.Join(lines, "\n")
}

func (p *keyStep) ShortHelp() []key.Binding {
	k := p.c.keys
	b := []key.Binding{k.Next, k.CreateKey}
	if p.focus == fKeys {
		b = append(b, k.Up, k.Down, k.Roll, with(k.Delete, "delete key"))
	}
	return append(b, with(k.Enter, "press"), with(k.Back, "done"))
}

func (p *keyStep) FullHelp() [][]key.Binding {
	k := p.c.keys
	return [][]key.Binding{{k.Next, k.Prev, with(k.Enter, "press")}, {k.CreateKey, k.Roll, with(k.Delete, "delete key")}, {with(k.Back, "done"), k.ForceQuit}}
}
