package tui

import (
	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// environ follows the terminal's environment, as the program reports it
// at start: a monochrome TERM, and the zone TZ names unless the console
// was given one.
func (m *Model) environ(env tea.EnvMsg) tea.Cmd {
	var colour tea.Cmd
	if !m.termFixed {
		colour = m.term(env.Getenv("TERM"))
	}
	return tea.Batch(colour, m.zone(env))
}

// zone shows times in the zone TZ names, unless the console was given one.
func (m *Model) zone(env tea.EnvMsg) tea.Cmd {
	if m.zoneFixed {
		return nil
	}
	loc, err := store.ZoneFromTZ(env.Getenv("TZ"))
	var cmd tea.Cmd
	if err != nil {
		cmd = m.c.post(toastMsg{text: describe(err) + " Times are shown in UTC.", kind: toastWarn})
	}
	if loc.String() == m.c.loc.String() {
		return cmd
	}
	m.c.loc = loc
	if m.audit != nil {
		cmd = tea.Batch(cmd, m.audit.rezone())
	}
	return cmd
}
