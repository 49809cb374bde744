package cli

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// invocation is one run of the command tree: the streams it reads and
// writes, the environment its flags default from, and, when another
// process runs it on a caller's behalf, what that process gives it.
type invocation struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer // every message; keys in it are shown by their hint
	getenv func(string) string

	// served is set when the database's holder or the SSH server runs the
	// tree for someone else: the store it holds, who asks, and how to
	// reach them. Nil in a process running its own command line.
	served *Session

	loc     *time.Location  // where times are shown (see zone)
	root    *cobra.Command  // the tree
	cmd     *cobra.Command  // the command running, once its flags are parsed
	cmdArgs []string        // its arguments
	fromEnv map[string]bool // its flags set from APISCOPES_ variables

	// A command that may be sent to the database's holder (see forward):
	sent    sent     // what the holder gets for the flags handled here
	keyFile *os.File // --out: made before the key exists; a new key goes there
}

// Session is a run of the command tree on behalf of someone who reached
// a process serving the database: a command sent to the holder of a file,
// or an SSH client's. The command runs on Store as Actor, with no
// environment but TZ; Remote (SSH) refuses every flag naming a path, a
// database or a cluster.
type Session struct {
	Store  *store.Store
	Actor  store.Actor
	Remote bool

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal says whether the caller's stdin is a terminal, where
	// confirmations are asked.
	Terminal bool
	// Ask puts a question to the caller's terminal and returns the line
	// typed; nil asks on Stdin and Stderr.
	Ask func(question string) (string, error)
	// Deliver hands the caller the output that holds a new key's text and
	// reports whether it arrived; nil writes it to Stdout.
	Deliver func(out []byte) error
	// TZ is the zone the caller asked times to be shown in ("" for UTC).
	TZ string
	// Sessions lists the SSH server's open sessions (the sessions
	// command); nil where there is no such list.
	Sessions func(w io.Writer)
	// ReadOnly refuses every change: an SSH key listed with restrict (and
	// no command= naming the one change it runs) reads only.
	ReadOnly bool
}

// Serve runs args, the words of a command line, for a session and returns
// the exit status. The tree has only the commands a session may run.
func Serve(ctx context.Context, s Session, args []string) int {
	inv := &invocation{stdin: s.Stdin, stdout: s.Stdout, stderr: redactKeys(s.Stderr), served: &s,
		getenv: func(name string) string { return "" }}
	if inv.stdin == nil {
		inv.stdin = eofReader{}
	}
	return inv.execute(ctx, args)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// isTerminal reports whether the invocation's stdin is a terminal: the
// caller's, for a session.
func (inv *invocation) isTerminal() bool {
	if inv.served != nil {
		return inv.served.Terminal
	}
	f, ok := inv.stdin.(*os.File)
	return ok && isTerminal(f)
}
