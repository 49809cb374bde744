package tui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// button is one push button of a row. A focused button is drawn filled;
// enter presses it.
type button struct {
	label    string
	disabled bool
	danger   bool
}

// buttonRow draws buttons left to right, the focused one (or none, with -1)
// highlighted, right-aligned within width.
func (s *Styles) buttonRow(width int, focused int, btns ...button) string {
	parts := make([]string, len(btns))
	for i, b := range btns {
		label := "[ " + b.label + " ]"
		switch {
		case b.disabled:
			parts[i] = s.ButtonDisabled.Render(label)
		case i == focused && b.danger:
			parts[i] = s.ButtonDanger.Render(label)
		case i == focused:
			parts[i] = s.ButtonFocused.Render(label)
		default:
			parts[i] = s.Button.Render(label)
		}
	}
	row := strings.Join(parts, "  ")
	return lipgloss.PlaceHorizontal(width, lipgloss.Right, row)
}

// tabBar draws tab names over a rule that is heavy under the active tab, so
// the active tab shows without colour too; when the bar itself has the focus
// the active tab is also filled.
func (s *Styles) tabBar(width int, names []string, active int, focused bool) string {
	parts := make([]string, len(names))
	var rule strings.Builder
	for i, n := range names {
		switch {
		case i == active && focused:
			parts[i] = s.ButtonFocused.Padding(0, 1).Render(n)
		case i == active:
			parts[i] = s.TabActive.Render(n)
		default:
			parts[i] = s.Tab.Render(n)
		}
		w := lipgloss.Width(parts[i])
		if i > 0 {
			rule.WriteString(s.TabRule.Render("┴")) // under the separator
		}
		if i == active {
			rule.WriteString(s.TabActive.UnsetPadding().UnsetUnderline().Render(strings.Repeat("━", w)))
		} else {
			rule.WriteString(s.TabRule.Render(strings.Repeat("─", w)))
		}
	}
	bar := strings.Join(parts, s.TabRule.Render("│"))
	rest := max(0, width-lipgloss.Width(rule.String()))
	return bar + "\n" + rule.String() + s.TabRule.Render(strings.Repeat("─", rest))
}

// truncate shortens text to width cells, marking the cut with "…".
func truncate(s string, width int) string { return ansi.Truncate(s, width, "…") }

// pad truncates or pads text to exactly width cells.
func pad(s string, width int) string {
	s = truncate(s, width)
	if w := lipgloss.Width(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

// follow returns the first row to show of n rows in height lines, moved
// from offset just enough that the cursor's row stays in sight.
func follow(offset, cursor, height, n int) int {
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+height {
		offset = cursor - height + 1
	}
	return max(0, min(offset, n-height))
}

// window returns at most height lines of lines, scrolled so that line focus
// stays visible; offset is the first line shown last time and is updated.
func window(lines []string, height, focus int, offset *int) []string {
	if height <= 0 {
		return nil
	}
	if len(lines) <= height {
		*offset = 0
		return lines
	}
	*offset = follow(*offset, focus, height, len(lines))
	return lines[*offset : *offset+height]
}

// wrap breaks text into lines of at most width cells.
func wrap(s string, width int) []string {
	if width <= 0 {
		return nil
	}
	return strings.Split(lipgloss.Wrap(s, width, ""), "\n")
}

// radioRow draws one-of-many choices as "(•) Chosen  ( ) Other", wrapped to
// width. When the row has the focus the chosen one is drawn as the focused
// row of a list is.
func radioRow(s *Styles, width int, options []string, chosen int, focused bool) string {
	parts := make([]string, len(options))
	for i, o := range options {
		switch {
		case i == chosen && focused:
			parts[i] = s.RowActive.Render("(•) " + o)
		case i == chosen:
			parts[i] = "(" + s.Check.Render("•") + ") " + o
		default:
			parts[i] = s.Hint.Render("( ) " + o)
		}
	}
	var lines []string
	line := ""
	for _, p := range parts {
		if line != "" && lipgloss.Width(line)+2+lipgloss.Width(p) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += "  "
		}
		line += p
	}
	return strings.Join(append(lines, line), "\n")
}

// labels maps a slice of choices to their labels.
func labels[T any](items []T, label func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = label(it)
	}
	return out
}
