package server

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// listSessions writes the open sessions as a table: who, as what, from
// where, since when (UTC) and for how long, and with which key.
func (s *SSH) listSessions(w io.Writer, now time.Time) {
	s.mu.Lock()
	open := slices.Collect(maps.Keys(s.sessions))
	s.mu.Unlock()
	slices.SortFunc(open, func(a, b *openSession) int {
		return cmp.Or(a.since.Compare(b.since), cmp.Compare(a.person, b.person))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE\tFROM\tSINCE\tFOR\tRUNS\tKEY")
	for _, o := range open {
		role, _, _, _ := o.state()
		runs := "console"
		if o.command != "" {
			runs = commandName(strings.Fields(o.command))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.person, role, o.remote, o.since.UTC().Format("2006-01-02 15:04:05 UTC"),
			now.Sub(o.since).Round(time.Second), runs, o.fp)
	}
	tw.Flush()
	if len(open) == 0 {
		fmt.Fprintln(w, "(no sessions open)")
	}
}
