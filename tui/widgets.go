package tui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// tabBar draws tab names over a rule that is heavy under the active tab, so
// the active tab shows without colour too; when the bar itself has the focus
// the active tab is also filled. It says where each tab is: tab i answers a
// click as "tab:i".
func (s *Styles) tabBar(width int, names []string, active int, focused bool) drawing {
	parts := make([]string, len(names))
	var rule strings.Builder
	var areas []area
	x := 0
	for i, n := range names {
		switch {
		case i == active && focused && s.plain:
			parts[i] = s.ButtonFocused.Render(s.focusMark(n))
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
			x++
		}
		areas = append(areas, area{id: "tab:" + strconv.Itoa(i), x: x, y: 0, w: w, h: 2})
		x += w
		if i == active {
			rule.WriteString(s.TabActive.UnsetPadding().UnsetUnderline().Render(strings.Repeat("━", w)))
		} else {
			rule.WriteString(s.TabRule.Render(strings.Repeat("─", w)))
		}
	}
	bar := strings.Join(parts, s.TabRule.Render("│"))
	rest := max(0, width-lipgloss.Width(rule.String()))
	d := drawing{areas: areas}
	d.add(bar, rule.String()+s.TabRule.Render(strings.Repeat("─", rest)))
	return d
}

// truncate shortens text to width cells, marking the cut with "…".
func truncate(s string, width int) string { return ansi.Truncate(s, width, "…") }

// truncateMiddle shortens text to width cells by cutting its middle, so
// that names which differ only at the end ("svc-one", "svc-one (rolled)")
// still differ when cut.
func truncateMiddle(s string, width int) string {
	if lipgloss.Width(s) <= width {
		return s
	}
	if width < 8 {
		return truncate(s, width)
	}
	tail := min(10, (width-1)/2)
	return ansi.Truncate(s, width-1-tail, "") + "…" + ansi.TruncateLeft(s, lipgloss.Width(s)-tail, "")
}

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

// wrap breaks text into lines of at most width cells.
func wrap(s string, width int) []string {
	if width <= 0 {
		return nil
	}
	return strings.Split(lipgloss.Wrap(s, width, ""), "\n")
}

// radioArea is where choice n of a radio row was drawn.
type radioArea struct{ n, x, y, w int }

// radioRow draws one-of-many choices as "(•) Chosen  ( ) Other", wrapped to
// width, and says where each choice is. When the row has the focus the
// chosen one is drawn as the focused row of a list is.
func radioRow(s *Styles, width int, options []string, chosen int, focused bool) (string, []radioArea) {
	parts := make([]string, len(options))
	for i, o := range options {
		switch {
		case i == chosen && focused:
			parts[i] = s.RowActive.Render(s.focusMark("(•) " + o))
		case i == chosen:
			parts[i] = "(" + s.Check.Render("•") + ") " + o
		default:
			parts[i] = s.Hint.Render("( ) " + o)
		}
	}
	var lines []string
	var areas []radioArea
	line := ""
	for i, p := range parts {
		if line != "" && lipgloss.Width(line)+2+lipgloss.Width(p) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += "  "
		}
		areas = append(areas, radioArea{n: i, x: lipgloss.Width(line), y: len(lines), w: lipgloss.Width(p)})
		line += p
	}
	return strings.Join(append(lines, line), "\n"), areas
}

// labels maps a slice of choices to their labels.
func labels[T any](items []T, label func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = label(it)
	}
	return out
}
