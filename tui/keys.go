package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every binding of the console, in one place, so help and
// handling never disagree. Pages pick the ones they show.
type KeyMap struct {
	Up, Down, Left, Right   key.Binding
	Next, Prev              key.Binding
	Enter, Back, Toggle     key.Binding
	New, Edit, Delete       key.Binding
	CreateKey, Save, Filter key.Binding
	Help, Quit, ForceQuit   key.Binding
	Yes                     key.Binding
	PageUp, PageDown        key.Binding
	Home, End               key.Binding
	Audit, Scopes           key.Binding // the navigation's pages
	Policy, Approvals       key.Binding
	Roll                    key.Binding // replace an API key, deleting the old one after a grace period
	Narrow                  key.Binding // untick the scopes an app did not use for a while
}

// DefaultKeyMap is what users of k9s and lazygit expect.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Left:      key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "previous tab")),
		Right:     key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "next tab")),
		Next:      key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field")),
		Prev:      key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous field")),
		Enter:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Toggle:    key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "toggle scope")),
		New:       key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new app")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Delete:    key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "delete")),
		CreateKey: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "create API key")),
		Save:      key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more keys")),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Yes:       key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		PageUp:    key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:  key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Home:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		End:       key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last")),
		Audit:     key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "audit log")),
		Scopes:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "API scopes")),
		Policy:    key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "key policy")),
		Approvals: key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "approvals")),
		Roll:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roll key")),
		Narrow:    key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "untick unused")),
	}
}

// with returns b showing a different description in the help bar.
func with(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}
