package tui

// ShownKey is an API key being shown once, as the console has it on
// screen: never its text, only what names it.
type ShownKey struct {
	Name, Hint string // sanitized for a terminal
	App        string // its app's name, sanitized
	// Sent is true once Copy and Close sent it to the terminal with OSC
	// 52, which may not have arrived.
	Sent bool
}

// ShownKey reports the API key on screen now, shown once and not closed
// yet: the SSH server keeps such a session from ending for idleness, and
// says in its goodbye when a session ended with one. Safe to call from any
// goroutine; it reflects the screen as last drawn.
func (m *Model) ShownKey() (ShownKey, bool) {
	if k := m.shown.Load(); k != nil {
		return *k, true
	}
	return ShownKey{}, false
}

// noteShownKey records the key on screen for ShownKey.
func (m *Model) noteShownKey() {
	d, ok := m.dialog.(*keyDialog)
	if !ok || d.secret == "" {
		m.shown.Store(nil)
		return
	}
	m.shown.Store(&ShownKey{Name: clean(d.created.Name), Hint: clean(d.created.Hint), App: clean(d.app.Name), Sent: d.sent})
}
