package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"charm.land/ssh"
	"github.com/anmitsu/go-shlex"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// CommandCall is a command an SSH client runs instead of the console
// (`ssh HOST app list`): the same command tree as the command line's, run
// on the server's store as the person the allow-lists name.
type CommandCall struct {
	Actor    store.Actor
	Args     []string
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Terminal bool // the client asked for a terminal: questions may be asked
	// Ask puts a question to the client's terminal and returns the line
	// typed; nil without a terminal.
	Ask func(question string) (string, error)
	TZ  string // the zone the client asked times in (its TZ)
	// ReadOnly is a key listed with restrict and no command=: it may run
	// the commands that only read.
	ReadOnly bool
	// Sessions writes the open sessions (the sessions command).
	Sessions func(io.Writer)
}

// Bounds on what a client may send as a command.
const (
	MaxCommandArgs = 64       // words
	MaxCommandLen  = 16 << 10 // bytes, all the words together
)

// command runs a client's command: one the key's line forces with
// command= (whatever the client asked, as sshd does), or the client's own.
// The session is admitted, counted, audited, revoked and checked for its
// standing like a console session; one that follows the audit trail has
// places of its own and no idle timeout.
func (s *SSH) command(sess ssh.Session, o *openSession, args []string) {
	if forced := o.entry.opts.command; forced != "" {
		var err error
		if args, err = shlex.Split(forced, true); err != nil || len(args) == 0 {
			s.refuse(sess, RefusedCommand, "command refused: the key's command= cannot be read", "your key's command= cannot be read; ask an admin to fix its line", "user", o.person, "line", o.entry.Source)
			return
		}
	}
	if r := checkCommand(args); r != nil {
		s.refuse(sess, RefusedCommand, "command refused: "+r.Error(), r.Error(), "user", o.person)
		return
	}
	if s.cfg.Commands == nil {
		s.refuse(sess, RefusedCommand, "command refused: this server runs no commands", "this server runs only the console: connect without a command", "user", o.person)
		return
	}
	o.command = strings.Join(args, " ")
	o.follows = follows(args)
	if r := s.admit(o); r != nil {
		s.refuse(sess, r.reason, "command refused", r.message, "user", o.person)
		return
	}
	defer s.leave(o)
	if ok, skipped := s.logins.record(o.fp); ok {
		s.recordSession(sess.Context(), store.ActionSessionLogin, o, "", skipped)
	}
	s.cfg.Log.Info("command", "user", o.person, "role", o.entry.Role, "remote", o.remote.String(), "command", commandName(args))

	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	if !o.runCommand(cancel) {
		return
	}
	idle := time.Duration(0)
	if !o.follows {
		idle = s.cfg.IdleTimeout
	}
	life := newLifetime(s.cfg.MaxSessionTime)
	defer life.stop()
	go s.tendCommand(ctx, sess, o, newIdleClock(idle, nil, nil), life)

	_, _, hasPty := sess.Pty()
	var stdout, stderr io.Writer = sess, sess.Stderr()
	call := CommandCall{
		Actor: store.Actor{Name: o.person, Role: o.role, Origin: fmt.Sprintf("ssh %s %s", o.remote, o.fp), Key: o.fp,
			Standing: func() (store.Role, error) { return s.standing(o) }},
		Args: args, Stdin: sess, Stdout: stdout, Stderr: stderr, Terminal: hasPty,
		TZ: sessionTZ(sess.Environ()), ReadOnly: o.entry.opts.restrict && o.entry.opts.command == "",
		Sessions: func(w io.Writer) { s.listSessions(w, time.Now()) },
	}
	if hasPty {
		call.Stderr = ssh.NewPtyWriter(sess.Stderr())
		call.Ask = func(q string) (string, error) { return askOnTerminal(sess, q) }
	}
	code := s.cfg.Commands(ctx, call)
	_, _, ended, why := o.state()
	switch ended {
	case endShutdown:
		fmt.Fprintln(call.Stderr, "apiscopes: the server is shutting down.")
		code = max(code, 3)
	case endIdle:
		fmt.Fprintf(call.Stderr, "apiscopes: ended after %s idle.\n", s.cfg.IdleTimeout)
		code = max(code, 2)
	case endLifetime:
		fmt.Fprintf(call.Stderr, "apiscopes: sessions last at most %s.\n", s.cfg.MaxSessionTime)
		code = max(code, 2)
	case endRevoked:
		fmt.Fprintf(call.Stderr, "apiscopes: your access was revoked (%s).\n", why)
		code = max(code, 1)
	}
	_ = sess.Exit(code)
}

// checkCommand bounds what a client sends as a command.
func checkCommand(args []string) error {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	switch {
	case len(args) > MaxCommandArgs:
		return fmt.Errorf("a command has at most %d words", MaxCommandArgs)
	case n > MaxCommandLen:
		return fmt.Errorf("a command has at most %d KiB of words", MaxCommandLen>>10)
	}
	return nil
}

// follows reports whether a command follows the audit trail until ended.
func follows(args []string) bool {
	if len(args) == 0 || args[0] != "audit" {
		return false
	}
	return slices.ContainsFunc(args[1:], func(a string) bool {
		return a == "--follow" || a == "--follow=true"
	})
}

// commandName is what a command is called in the log: its words up to
// the first flag or argument that may be anything (never a key's text).
func commandName(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 2 {
			break
		}
		words = append(words, store.RedactKeys(a))
	}
	return strings.Join(words, " ")
}

// sessionTZ is the zone a client asked for with TZ, the one variable of
// its environment the server reads.
func sessionTZ(env []string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "TZ="); ok {
			return v
		}
	}
	return ""
}

// tendCommand ends a command session when the connection drops, the
// session is idle or its lifetime is over, or the server ends it; a
// command that follows the trail keeps its connection alive meanwhile.
func (s *SSH) tendCommand(ctx context.Context, sess ssh.Session, o *openSession, idle *idleClock, life *lifetime) {
	var keepalive <-chan time.Time
	if o.follows {
		t := time.NewTicker(followKeepalive)
		defer t.Stop()
		keepalive = t.C
	}
	for {
		select {
		case <-ctx.Done():
			o.end(endDropped)
			return
		case <-idle.expired():
			o.end(endIdle)
			return
		case <-life.over():
			o.end(endLifetime)
			return
		case <-keepalive:
			// A quiet follower writes nothing for long stretches: ask the
			// client, which both keeps the connection alive and finds a
			// client that is gone.
			if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
				if _, _, err := conn.SendRequest("keepalive@openssh.com", true, nil); err != nil {
					o.end(endDropped)
					return
				}
			}
		}
	}
}

// followKeepalive is how often a follower's connection is checked.
const followKeepalive = 30 * time.Second

// askOnTerminal asks a question on the session's terminal, which the
// server only emulates: it echoes what is typed and ends the line at enter.
func askOnTerminal(sess ssh.Session, question string) (string, error) {
	w := ssh.NewPtyWriter(sess.Stderr())
	fmt.Fprint(w, question)
	var line []byte
	var one [1]byte
	for len(line) < 256 {
		if _, err := sess.Read(one[:]); err != nil {
			return "", err
		}
		switch c := one[0]; {
		case c == '\r' || c == '\n':
			fmt.Fprint(w, "\n")
			return string(line), nil
		case c == 3 || c == 4: // ctrl+c, ctrl+d
			fmt.Fprint(w, "\n")
			return "", errors.New("interrupted")
		case c == 127 || c == 8:
			if len(line) > 0 {
				line = line[:len(line)-1]
				fmt.Fprint(w, "\b \b")
			}
		case c >= 0x20 && c < 0x7f:
			line = append(line, c)
			w.Write(one[:])
		}
	}
	return string(line), nil
}
