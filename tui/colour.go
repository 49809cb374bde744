package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

// Focus shows without colour too. On a terminal that draws no colour
// (TERM=dumb, NO_COLOR, a monochrome terminal) the focused button, tab or
// option is marked in text, ›Like this‹, and drawn in reverse video where
// the terminal keeps text attributes; a focused field's rule is heavy.

// monochrome reports whether a terminal type has no colour: by the
// terminfo naming convention, "-m" or "-mono" ("xterm-mono", "linux-m"),
// which the usual detection takes for a colour xterm.
func monochrome(term string) bool {
	return strings.HasSuffix(term, "-mono") || strings.HasSuffix(term, "-m")
}

// colourProfile follows the terminal's colour profile: without colour the
// styles mark the focus in text. A monochrome terminal's styles have no
// colour at all, and the program is told ASCII too (which keeps bold and
// reverse video), in case anything else would send one.
func (m *Model) colourProfile(p colorprofile.Profile) tea.Cmd {
	if m.mono && p > colorprofile.ASCII {
		return send(tea.ColorProfileMsg{Profile: colorprofile.ASCII})
	}
	m.profile = p
	m.restyle(m.c.styles.isDark)
	return nil
}

// term follows the terminal's type: a monochrome one is drawn without
// colour from now on.
func (m *Model) term(term string) tea.Cmd {
	if mono := monochrome(term); mono != m.mono {
		m.mono = mono
		m.restyle(m.c.styles.isDark)
	}
	if m.mono && m.profile > colorprofile.ASCII {
		return send(tea.ColorProfileMsg{Profile: colorprofile.ASCII})
	}
	return nil
}

// colourless reports whether the terminal draws no colour.
func (m *Model) colourless() bool {
	return m.profile == colorprofile.NoTTY || m.profile == colorprofile.ASCII
}

// withoutColour makes the styles show the focus without colour: reverse
// video for what colour filled, and text marks (see Styles.plain); what
// goes faint behind a dialog is faint by the attribute.
func (s *Styles) withoutColour() *Styles {
	s.plain = true
	base := lipgloss.NewStyle()
	s.Backdrop = base.Faint(true)
	s.ButtonFocused = base.Bold(true).Reverse(true)
	s.ButtonDanger = base.Bold(true).Reverse(true)
	s.ButtonDisabledFocused = base.Underline(true)
	s.RowActive = base.Bold(true).Reverse(true)
	s.RowCurrent = base
	return s
}

// focusMark marks text that has the focus when colour cannot: ›text‹.
func (s *Styles) focusMark(text string) string {
	if s.plain {
		return "›" + text + "‹"
	}
	return text
}

// currentLead marks the selected row of a list that does not have the
// focus: "›" as the focused list's, told apart by colour; "·" without.
func (s *Styles) currentLead() string {
	if s.plain {
		return "· "
	}
	return "› "
}
