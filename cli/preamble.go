package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// access is what a command does with the database.
type access int

const (
	reads   access = iota // lists, shows, reports: nothing changes
	changes               // one store call a change (apply: one an app)
)

// onDatabase is the one preamble of the commands that work on apps and
// keys: it runs fn on the database the command names, as the person it
// runs for.
//
//   - In a session (a holder's caller, an SSH client), fn runs on the
//     serving process's store as the session's person; a database named
//     on the command line is refused.
//   - On a cluster (--etcd), fn runs on a store opened on it, as the
//     local user.
//   - On a file a console or serve holds, the whole command is sent to
//     that process, which runs it as this process's user (see forward):
//     its open consoles show the change at once.
//   - On a free file, fn runs on the file, opened for as long as fn runs.
func (inv *invocation) onDatabase(cmd *cobra.Command, db *database, a access, fn func(*store.Store, store.Actor) error) error {
	if inv.served != nil {
		return fn(inv.served.Store, inv.served.Actor) // its flags were checked by servedMayRun
	}
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	if db.cluster() {
		var opts []store.Option
		if a == reads {
			opts = append(opts, store.ReadOnly(), store.WithMaintenance(0))
		}
		st, err := db.openCluster(0, opts...)
		if err != nil {
			return fail(ExitUsage, err)
		}
		defer st.Close()
		return fn(st, localActor())
	}
	path, err := dbPath(db.path)
	if err != nil {
		return fail(ExitUsage, err)
	}
	if a == reads {
		if err := db.missing(); err != nil {
			return fail(ExitUsage, err)
		}
	}
	err = local.Reach(path, func(c *local.Conn) error {
		return inv.forward(cmd, c)
	}, func() error {
		st, done, err := inv.openFile(path, a)
		if err != nil {
			return err
		}
		defer done()
		return fn(st, localActor())
	})
	var e *exitError
	if err != nil && !errors.As(err, &e) {
		return fail(ExitCode(err), readError(path, err))
	}
	return err
}

// openFile opens a free database file for a command: read-only for a
// read, for writing for a change (made private first, with a warning).
// It does not wait for a file another process holds: that fails at once
// with store.ErrLocked, for local.Reach to ask the holder instead.
//
// Either way the file is checked as far as the command builds on it
// (store.CheckTail): the counters, the audit head and the trail since the
// newest checkpoint of the state hash, and every app and key record as
// the index loads. Not its pages, nor the whole trail: at a million keys
// that would cost every command a minute. serve and the console check the
// whole file behind their index, and `apiscopes check` does on demand.
func (inv *invocation) openFile(path string, a access) (*store.Store, func(), error) {
	if a == reads {
		st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true, Timeout: time.Nanosecond, SkipPageCheck: true},
			store.ReadOnly(), store.WithOpenCheck(store.CheckTail))
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, nil
	}
	h, err := local.OpenStore(path, local.Options{Timeout: time.Nanosecond, ReaderWait: readerWait, Run: runForHolder,
		Check: store.CheckTail})
	if err != nil {
		return nil, nil, err
	}
	inv.warnIfWasOpen(path, h)
	return h.Store(), func() { h.Close() }, nil
}

// openForReading opens the database at path read-only, never creating
// one, and checks it from end to end. It does not wait for the file's
// lock: a file another process holds fails at once with store.ErrLocked,
// for local.Reach to ask that process instead.
func openForReading(path string) (*store.Store, error) {
	return bolt.OpenStore(path, bolt.Options{ReadOnly: true, Timeout: time.Nanosecond}, store.ReadOnly())
}

// Flags a command handles in the process that runs it, before asking the
// holder: the holder gets what they stand for, never a path of the
// caller's or a key's text.
const (
	clientOnly = "apiscopes/client-only" // the flag is not sent at all
)

// forward has the process holding the database run cmd as this process's
// user, and ends with its exit status. The holder gets the command's words
// and flags (those read from APISCOPES_ variables written out), never the
// database's, nor a flag this process handles itself (--out, -f FILE,
// --text); inv.sent replaces them. Questions come to this terminal, and a
// new key is written here: to stdout, or to the --out file made before.
func (inv *invocation) forward(cmd *cobra.Command, c *local.Conn) error {
	req := local.RunRequest{Args: inv.forwardArgs(cmd), Stdin: inv.sent.stdin, Terminal: inv.isTerminal(),
		TZ: inv.getenv("TZ"), Follow: inv.sent.follow}
	code, err := c.Run(cmd.Context(), req, local.RunIO{
		Stdout:  inv.stdout,
		Stderr:  inv.stderr,
		Ask:     inv.askHere,
		Deliver: inv.deliverHere,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return exit(ExitUsage)
		}
		return fail(ExitUsage, err)
	}
	if code != ExitOK {
		return exit(code) // the holder said why
	}
	return nil
}

// sent is what a command puts in place of the flags it handles itself,
// when the holder runs it.
type sent struct {
	flags  map[string]string // flag name → value the holder gets instead
	stdin  []byte            // what the holder reads as stdin
	follow bool              // the command follows the trail until ended
}

// forwardArgs are cmd's words for the holder: its path below the root, its
// flags as given or read from the environment (the holder reads no
// variables of ours), then its arguments after "--".
func (inv *invocation) forwardArgs(cmd *cobra.Command) []string {
	path := strings.Fields(cmd.CommandPath())[1:]
	args := slices.Clone(path)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if v, ok := inv.sent.flags[f.Name]; ok {
			args = append(args, "--"+f.Name+"="+v)
			return
		}
		if !f.Changed && !inv.fromEnv[f.Name] || slices.Contains(databaseFlags, f.Name) ||
			f.Annotations[clientOnly] != nil || f.Name == "help" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	args = append(args, "--")
	return append(args, inv.cmdArgs...)
}

// markClientOnly marks flags this process handles itself (see forward).
func markClientOnly(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		cmd.Flags().SetAnnotation(n, clientOnly, []string{"true"})
	}
}

// askHere asks the person at this process's terminal.
func (inv *invocation) askHere(question string) (string, error) {
	fmt.Fprint(inv.stderr, question)
	return readLine(inv.stdin)
}

// readLine reads one line, a byte at a time so nothing after it is taken.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	var one [1]byte
	for b.Len() < 1<<10 {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			b.WriteByte(one[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				break
			}
			return "", err
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// deliverHere writes output holding a new key where this process was
// asked to put it: the --out file made before the key existed, or stdout.
// It reports whether the output arrived whole.
func (inv *invocation) deliverHere(out []byte) error {
	if f := inv.keyFile; f != nil {
		inv.keyFile = nil
		_, err := f.Write(out)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	_, err := inv.stdout.Write(out)
	return err
}
