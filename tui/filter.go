package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
)

// scanBudget is how many rows one keystroke (or one continuation step) may
// examine. It keeps a keystroke's cost bounded by the screen: with ten rows
// or a hundred thousand, typing a filter character looks at no more than
// this many before the screen is drawn; the rest of the scan continues in
// steps between keys, and a newer keystroke abandons it.
const scanBudget = 1024

// filtered is a list's rows narrowed by a text filter, found lazily: only
// as many matches as the screen needs are looked for at once.
type filtered struct {
	hay     []string // each row's searchable text, lower case
	query   string   // lower case; empty shows every row
	from    []int    // the candidate rows when narrowing a finished query; nil: all rows
	matches []int    // indexes into hay of the rows found so far
	scanned int      // candidates examined for query
	gen     int      // bumped by every new query or new rows
}

// filterStepMsg continues a scan that a keystroke left unfinished.
type filterStepMsg struct {
	f   *filtered
	gen int
}

// setRows replaces the rows and scans them again for the query.
func (f *filtered) setRows(hay []string) tea.Cmd {
	f.hay = hay
	return f.restart()
}

// setQuery changes the filter text. A query that only adds to a finished
// previous one looks among that one's matches instead of every row.
func (f *filtered) setQuery(q string) tea.Cmd {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == f.query {
		return nil
	}
	prev, wasDone := f.query, f.done()
	f.query = q
	if prev != "" && wasDone && strings.Contains(q, prev) {
		// Every match of q is a match of prev.
		f.from, f.matches, f.scanned = f.matches, nil, 0
		f.gen++
		return f.more(0)
	}
	return f.restart()
}

func (f *filtered) restart() tea.Cmd {
	f.from, f.matches, f.scanned = nil, nil, 0
	f.gen++
	return f.more(0)
}

// candidates is how many rows the current scan examines.
func (f *filtered) candidates() int {
	if f.from != nil {
		return len(f.from)
	}
	return len(f.hay)
}

// done reports whether every candidate has been examined for the query.
func (f *filtered) done() bool { return f.query == "" || f.scanned >= f.candidates() }

// len is how many rows are known to match (all of them once done).
func (f *filtered) len() int {
	if f.query == "" {
		return len(f.hay)
	}
	return len(f.matches)
}

// at is the row index of the i-th match.
func (f *filtered) at(i int) int {
	if f.query == "" {
		return i
	}
	return f.matches[i]
}

// more examines up to scanBudget rows, stopping early once want matches are
// known (zero: fill a screen's worth). It returns the step that continues an
// unfinished scan.
func (f *filtered) more(want int) tea.Cmd {
	if f.done() {
		return nil
	}
	if want <= 0 {
		want = 200
	}
	end := min(f.candidates(), f.scanned+scanBudget)
	for ; f.scanned < end && len(f.matches) < want; f.scanned++ {
		row := f.scanned
		if f.from != nil {
			row = f.from[row]
		}
		if strings.Contains(f.hay[row], f.query) {
			f.matches = append(f.matches, row)
		}
	}
	if f.done() {
		return nil
	}
	gen := f.gen
	return func() tea.Msg { return filterStepMsg{f: f, gen: gen} }
}

// step handles a continuation: a stale one (an older query) does nothing.
func (f *filtered) step(msg filterStepMsg) tea.Cmd {
	if msg.f != f || msg.gen != f.gen {
		return nil
	}
	return f.more(len(f.matches) + scanBudget)
}

// moveDown is a cursor n rows further down the matches, and the command that
// looks for more matches when the cursor reaches the last one found so far.
func (f *filtered) moveDown(cursor, n int) (int, tea.Cmd) {
	var cmd tea.Cmd
	if !f.done() && cursor+n >= f.len() {
		cmd = f.more(cursor + n + 1)
	}
	return max(0, min(f.len()-1, cursor+n)), cmd
}
