package tui

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Styles is the console's palette and the styles built from it. One accent
// colour, greys for structure, and green/red only for outcomes; every colour
// has a light and a dark variant chosen by the terminal's background.
type Styles struct {
	isDark bool
	colour bool // false: no style has a colour
	// plain: the terminal draws no colour, so the focus is also marked in
	// text (see withoutColour).
	plain bool

	Accent, Muted, Subtle, Success, Danger, Warning color.Color

	App         lipgloss.Style // the "apiscopes" badge
	DemoBadge   lipgloss.Style // "DEMO" beside it in a demonstration
	Crumb       lipgloss.Style
	CrumbActive lipgloss.Style
	NavGroup    lipgloss.Style
	NavItem     lipgloss.Style
	NavActive   lipgloss.Style
	NavBorder   lipgloss.Style

	Title      lipgloss.Style
	Heading    lipgloss.Style
	Text       lipgloss.Style
	Hint       lipgloss.Style
	Error      lipgloss.Style
	Caution    lipgloss.Style
	TableHead  lipgloss.Style
	Row        lipgloss.Style
	RowActive  lipgloss.Style // the selected row of a focused list
	RowCurrent lipgloss.Style // the selected row of an unfocused list
	Check      lipgloss.Style
	Secret     lipgloss.Style

	Button         lipgloss.Style
	ButtonFocused  lipgloss.Style
	ButtonDisabled lipgloss.Style
	// ButtonDisabledFocused is a button that cannot be pressed now but has
	// the focus: the focus must show wherever it is.
	ButtonDisabledFocused lipgloss.Style
	ButtonDanger          lipgloss.Style // a focused destructive button

	Tab       lipgloss.Style
	TabActive lipgloss.Style
	TabRule   lipgloss.Style

	Dialog       lipgloss.Style
	DialogDanger lipgloss.Style
	Backdrop     lipgloss.Style // the page behind an open dialog
	DialogTitle  lipgloss.Style

	ToastOK   lipgloss.Style
	ToastInfo lipgloss.Style
	ToastWarn lipgloss.Style
	ToastErr  lipgloss.Style

	HelpKey  lipgloss.Style
	HelpDesc lipgloss.Style
	HelpSep  lipgloss.Style
}

// NewStyles builds the styles for a dark or a light terminal background.
func NewStyles(isDark bool) *Styles { return newStyles(isDark, true) }

// newStyles builds the styles, in colour or with no colour at all (for a
// monochrome terminal: not one colour escape reaches it).
func newStyles(isDark, colour bool) *Styles {
	ld := lipgloss.LightDark(isDark)
	if !colour {
		ld = func(color.Color, color.Color) color.Color { return lipgloss.NoColor{} }
	}
	s := &Styles{
		colour:  colour,
		isDark:  isDark,
		Accent:  ld(lipgloss.Color("#5B4BD6"), lipgloss.Color("#9D8CFF")),
		Muted:   ld(lipgloss.Color("#6E6E73"), lipgloss.Color("#8E8E93")),
		Subtle:  ld(lipgloss.Color("#D4D4D8"), lipgloss.Color("#3A3A40")),
		Success: ld(lipgloss.Color("#1A7F37"), lipgloss.Color("#56D364")),
		Danger:  ld(lipgloss.Color("#C4272E"), lipgloss.Color("#FF6B6B")),
		Warning: ld(lipgloss.Color("#9A6700"), lipgloss.Color("#E3B341")),
	}
	onAccent := ld(lipgloss.Color("#FFFFFF"), lipgloss.Color("#1B1530"))
	selBg := ld(lipgloss.Color("#ECE9FF"), lipgloss.Color("#2A2540"))
	base := lipgloss.NewStyle()

	s.App = base.Bold(true).Foreground(onAccent).Background(s.Accent).Padding(0, 1)
	s.DemoBadge = base.Bold(true).Foreground(onAccent).Background(s.Warning).Padding(0, 1)
	s.Crumb = base.Foreground(s.Muted)
	s.CrumbActive = base.Bold(true)
	s.NavGroup = base.Foreground(s.Muted).Bold(true)
	s.NavItem = base.PaddingLeft(2)
	s.NavActive = base.Foreground(s.Accent).Bold(true).Border(lipgloss.ThickBorder(), false, false, false, true).
		BorderForeground(s.Accent).PaddingLeft(1)
	s.NavBorder = base.Border(lipgloss.NormalBorder(), false, true, false, false).BorderForeground(s.Subtle)

	s.Title = base.Bold(true)
	s.Heading = base.Foreground(s.Muted).Bold(true)
	s.Text = base
	s.Hint = base.Foreground(s.Muted)
	s.Error = base.Foreground(s.Danger)
	s.Caution = base.Foreground(s.Warning)
	s.TableHead = base.Foreground(s.Muted).Bold(true)
	s.Row = base
	s.RowActive = base.Foreground(s.Accent).Background(selBg).Bold(true)
	s.RowCurrent = base.Background(selBg)
	s.Check = base.Foreground(s.Accent)
	s.Secret = base.Bold(true).Foreground(s.Accent)

	s.Button = base.Foreground(s.Muted)
	s.ButtonFocused = base.Bold(true).Foreground(onAccent).Background(s.Accent)
	s.ButtonDisabled = base.Foreground(s.Subtle)
	s.ButtonDisabledFocused = base.Foreground(s.Muted).Background(selBg).Underline(true)
	s.ButtonDanger = base.Bold(true).Foreground(ld(lipgloss.Color("#FFFFFF"), lipgloss.Color("#1B1530"))).Background(s.Danger)

	s.Tab = base.Foreground(s.Muted).Padding(0, 1)
	s.TabActive = base.Foreground(s.Accent).Bold(true).Padding(0, 1).Underline(true)
	s.TabRule = base.Foreground(s.Subtle)

	s.Dialog = base.Border(lipgloss.RoundedBorder()).BorderForeground(s.Accent).Padding(1, 2)
	s.DialogDanger = s.Dialog.BorderForeground(s.Danger)
	s.Backdrop = base.Foreground(s.Subtle)
	s.DialogTitle = base.Bold(true)

	s.ToastOK = base.Foreground(s.Success)
	s.ToastInfo = base
	s.ToastWarn = base.Foreground(s.Warning)
	s.ToastErr = base.Foreground(s.Danger)

	s.HelpKey = base.Foreground(s.Muted).Bold(true)
	s.HelpDesc = base.Foreground(s.Muted)
	s.HelpSep = base.Foreground(s.Subtle)
	return s
}
