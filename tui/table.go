package tui

import (
	"cmp"
	"slices"
	"strings"

	"charm.land/lipgloss/v2"
)

// column is one column of a table, as the layout sees it.
type column struct {
	title string
	// min is the narrowest the column may be cut to; a title is never cut.
	min int
	// whole columns are never cut: their minimum is their widest cell (a
	// key's hint, a time, a key's status).
	whole bool
	// max caps the width the data may ask for (0: no cap).
	max int
	// shrink orders the columns that give up width beyond their minimum
	// when the table is too wide: the highest first; columns of one rank
	// share the cut, each in proportion to what it has to give. 0: last.
	shrink int
	// drop orders the columns that leave the table when even the columns'
	// minimums are too wide: the highest first. 0: it never drops.
	drop int
	// grow columns share the room left over.
	grow  bool
	right bool
}

// layoutColumns sizes columns for a table width cells wide from the data
// (rows of cells, as drawn): each column as wide as its widest cell, within
// its cap. A table too wide first loses columns, in their drop order, only
// while the columns' minimums do not fit; then the columns that are left
// shrink, in their shrink order, as far as needed: a long name is cut with
// "…" rather than a summary column lost. Room left over goes to the
// growing columns. A gap of two cells separates columns; lead cells (the
// cursor) come first.
func layoutColumns(cols []column, rows [][]string, width, lead int) []int {
	w := make([]int, len(cols))  // widths
	lo := make([]int, len(cols)) // minimums
	for i, c := range cols {
		title := lipgloss.Width(c.title)
		natural := title
		for _, r := range rows {
			if i < len(r) {
				natural = max(natural, lipgloss.Width(r[i]))
			}
		}
		if c.max > 0 && !c.whole {
			natural = min(natural, max(c.max, title))
		}
		lo[i] = max(c.min, title)
		if c.whole {
			lo[i] = natural
		}
		w[i] = max(natural, lo[i])
	}
	total := func(ws []int) int {
		t, n := lead, 0
		for _, x := range ws {
			if x > 0 {
				t += x
				n++
			}
		}
		return t + 2*max(0, n-1)
	}

	drops := slices.DeleteFunc(indexes(cols), func(i int) bool { return cols[i].drop == 0 })
	slices.SortStableFunc(drops, func(a, b int) int { return cmp.Compare(cols[b].drop, cols[a].drop) })
	for _, i := range drops {
		if total(lo) <= width {
			break
		}
		w[i], lo[i] = 0, 0
	}

	ranks := make([]int, 0, len(cols))
	for _, c := range cols {
		ranks = append(ranks, c.shrink)
	}
	slices.Sort(ranks)
	ranks = slices.Compact(ranks)
	slices.Reverse(ranks) // the highest first, 0 last
	for _, rank := range ranks {
		over := total(w) - width
		if over <= 0 {
			break
		}
		var group []int
		give := 0
		for i, c := range cols {
			if c.shrink == rank && w[i] > lo[i] {
				group = append(group, i)
				give += w[i] - lo[i]
			}
		}
		if give == 0 {
			continue
		}
		cut := min(over, give)
		left := cut
		for _, i := range group {
			share := cut * (w[i] - lo[i]) / give
			w[i] -= share
			left -= share
		}
		for _, i := range group { // what rounding left, a cell each
			if left == 0 {
				break
			}
			if w[i] > lo[i] {
				w[i]--
				left--
			}
		}
	}

	// Still too wide (a table narrower than its columns' minimums, which
	// the console's smallest size does not make): the columns are cut from
	// the right, whole ones too, to their titles.
	for i := len(cols) - 1; i >= 0 && total(w) > width; i-- {
		if w[i] > 0 {
			w[i] = max(lipgloss.Width(cols[i].title), w[i]-(total(w)-width))
		}
	}

	var growing []int
	for i, c := range cols {
		if c.grow && w[i] > 0 {
			growing = append(growing, i)
		}
	}
	if room := width - total(w); room > 0 && len(growing) > 0 {
		for k, i := range growing {
			w[i] += room / len(growing)
			if k < room%len(growing) {
				w[i]++
			}
		}
	}
	return w
}

// indexes is 0, 1, … len(cols)-1.
func indexes(cols []column) []int {
	out := make([]int, len(cols))
	for i := range out {
		out[i] = i
	}
	return out
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
