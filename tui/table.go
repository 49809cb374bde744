package tui

import (
	"slices"
	"strings"

	"charm.land/lipgloss/v2"
)

// column is one column of a table, as the layout sees it.
type column struct {
	title string
	// min is the narrowest the column may be cut to; a column whose text
	// must never be cut (a key's hint) has min equal to its width. A title
	// is never cut.
	min int
	// max caps the width the data may ask for (0: no cap).
	max int
	// drop is the order in which columns give way when the table is too
	// wide, the highest first: the column shrinks to its minimum, then
	// drops out. 0: it never drops.
	drop int
	// grow takes the room left over (one column a table). Its yield is
	// when, in the order of drop, it gives up its width beyond its minimum;
	// 0: only once every column that may drop has.
	grow  bool
	yield int
	right bool
}

// layoutColumns sizes columns for a table width cells wide from the data
// (rows of cells, as drawn): each column as wide as its widest cell, within
// its cap. While that is too wide, the columns give way in their order
// (drop, yield): each shrinks as far as needed and as its minimum allows;
// one that may drop and is still too much drops out (width 0). Room left
// over goes to the growing column. A gap of two cells separates columns;
// lead cells (the cursor) come first.
func layoutColumns(cols []column, rows [][]string, width, lead int) []int {
	cols = slices.Clone(cols)
	for i, c := range cols {
		cols[i].min = max(c.min, lipgloss.Width(c.title))
	}
	w := make([]int, len(cols))
	for i, c := range cols {
		w[i] = lipgloss.Width(c.title)
		for _, r := range rows {
			if i < len(r) {
				w[i] = max(w[i], lipgloss.Width(r[i]))
			}
		}
		if c.max > 0 {
			w[i] = min(w[i], c.max)
		}
		w[i] = max(w[i], cols[i].min)
	}
	total := func() int {
		t, n := lead, 0
		for _, x := range w {
			if x > 0 {
				t += x
				n++
			}
		}
		return t + 2*max(0, n-1)
	}
	shrink := func(i int) {
		if over := total() - width; over > 0 && w[i] > cols[i].min {
			w[i] = max(cols[i].min, w[i]-over)
		}
	}
	rank := func(c column) int {
		if c.grow {
			return c.yield
		}
		return c.drop
	}
	order := make([]int, 0, len(cols))
	for i, c := range cols {
		if rank(c) > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return rank(cols[b]) - rank(cols[a]) })
	for _, i := range order {
		if total() <= width {
			break
		}
		if shrink(i); total() > width && !cols[i].grow {
			// It drops, unless growing columns that yield after it have
			// the room to spare.
			slack := 0
			for g, c := range cols {
				if c.grow && c.yield > 0 && c.yield < cols[i].drop {
					slack += w[g] - c.min
				}
			}
			if total()-slack > width {
				w[i] = 0
			}
		}
	}
	for i := range cols {
		shrink(i)
	}
	if room := width - total(); room > 0 {
		for i, c := range cols {
			if c.grow && w[i] > 0 {
				w[i] += room
			}
		}
	}
	return w
}

// tableRow joins cells into the plain text of a row of the given widths; a
// dropped column (width 0) is left out. The caller styles the row whole.
func tableRow(cols []column, widths []int, cells []string) string {
	var b strings.Builder
	first := true
	for i, c := range cols {
		if widths[i] <= 0 {
			continue
		}
		if !first {
			b.WriteString("  ")
		}
		first = false
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		if c.right {
			cell = strings.Repeat(" ", max(0, widths[i]-lipgloss.Width(cell))) + cell
		}
		b.WriteString(pad(cell, widths[i]))
	}
	return b.String()
}

// cellSpan is where column col starts in a row drawn by tableRow, and how
// wide it is (0 if dropped).
func cellSpan(widths []int, col int) (x, w int) {
	for _, cw := range widths[:col] {
		if cw > 0 {
			x += cw + 2
		}
	}
	return x, widths[col]
}
