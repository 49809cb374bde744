package server

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"charm.land/ssh"

	"apiscopes/store"
)

// Commands an SSH client may run instead of the console: `ssh -p PORT
// HOST sessions`. They need no terminal, so a key listed with restrict or
// no-pty can run them.
const commandHelp = `run ssh without a command for the console, or "sessions" (admins) to list the open sessions`

// command runs a client's command.
func (s *SSH) command(sess ssh.Session, o *openSession, args []string) {
	switch {
	case len(args) == 1 && args[0] == "sessions":
		if o.entry.Role != store.Admin {
			s.refuse(sess, RefusedCommand, "command refused: not an admin", "only admins may list the open sessions", "user", o.person, "command", "sessions")
			return
		}
		if ok, skipped := s.logins.record(o.fp); ok {
			s.recordSession(store.ActionSessionLogin, o, "", skipped)
		}
		s.cfg.Log.Info("sessions listed", "user", o.person, "remote", o.remote.String())
		s.listSessions(sess, time.Now())
		_ = sess.Exit(0)
	default:
		s.refuse(sess, RefusedCommand, "command refused: unknown command", "unknown command: "+commandHelp, "user", o.person)
	}
}

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
	fmt.Fprintln(tw, "USER\tROLE\tFROM\tSINCE (UTC)\tFOR\tKEY")
	for _, o := range open {
		role, _, _, _ := o.state()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.person, role, o.remote, o.since.UTC().Format("2006-01-02 15:04:05"),
			now.Sub(o.since).Round(time.Second), o.fp)
	}
	tw.Flush()
	if len(open) == 0 {
		fmt.Fprintln(w, "(no console sessions open)")
	}
}
