package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/tui"
)

// consoleCommand is the root: `apiscopes` opens the console.
func (inv *invocation) consoleCommand() *cobra.Command {
	var db database
	db.session = inv.served != nil
	cmd := &cobra.Command{
		Use:   "apiscopes",
		Short: "Manage scoped API apps and their API keys",
		Long: `apiscopes — Settings › Security & Control › API Scopes, in your terminal.

Without a command it opens the console on the database: create an API app, tick the
scopes it may use, generate its API keys (each shown once), rename, re-scope and delete
apps; every change is audited. The commands below do the same from scripts.

` + databaseNote + `

In the console: n new app, enter edit, d delete, / filter, a audit log, ? all keys, q quit.

Exit status: 0 done, 1 refused, 2 usage or environment error, 3 worth retrying.`,
		Example: `  apiscopes                      # the console on your default database
  apiscopes --db team.db         # on another file
  apiscopes demo                 # a throw-away bank to try it on
  apiscopes app list             # the apps, for scripts too (--json)`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inv.served != nil {
				return usagef(cmd, "the console runs when ssh is given no command; the commands are %s", strings.Join(inv.commandNames(), ", "))
			}
			if err := db.check(); err != nil {
				return usageError(cmd, err)
			}
			return inv.console(cmd.Context(), db)
		},
	}
	if inv.served == nil {
		db.register(cmd)
	}
	return cmd
}

// isTerminal reports whether f, an *os.File or a wrapper that keeps its
// descriptor, is a terminal.
func isTerminal(f interface{ Fd() uintptr }) bool { return term.IsTerminal(f.Fd()) }

// console opens the database and runs the console for the local user.
func (inv *invocation) console(ctx context.Context, db database) error {
	if f, ok := inv.stdin.(*os.File); !ok || !isTerminal(f) {
		return failf(ExitUsage, "the console needs a terminal; run it in one (stdin is not a TTY)")
	}
	if db.cluster() {
		st, err := db.openCluster(0)
		if err != nil {
			return fail(ExitRefused, err)
		}
		defer st.Close()
		return inv.runConsole(ctx, st)
	}
	h, err := inv.openHolder(db.path)
	if err != nil {
		return fail(ExitRefused, err)
	}
	defer h.Close()
	return inv.runConsole(ctx, h.Store())
}

// runConsole runs the console on st for the local user until they quit,
// or until ctx ends (SIGTERM, or a ctrl+c sent from outside): the terminal
// is restored and the database closed cleanly either way.
func (inv *invocation) runConsole(ctx context.Context, st *store.Store) error {
	m := tui.New(tui.Options{Context: ctx, Store: st, Actor: localActor(), Term: inv.getenv("TERM")})
	defer m.Close()
	_, err := tea.NewProgram(m, tea.WithInput(inv.stdin), tea.WithOutput(inv.stdout), tea.WithContext(ctx)).Run()
	if err != nil && !(errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return fail(ExitRefused, err)
	}
	return nil
}

// dbPath is path, or the default database when path is empty.
func dbPath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	return bolt.DefaultPath()
}

// openHolder opens path, or the default database when path is empty, for
// writing: the process then holds the file, and answers the commands that
// other processes run on it (verify, audit, backup, check, and the
// changes of app, key and apply). A file others may read is made private
// first, with a warning on stderr. An error names the file and what to do.
func (inv *invocation) openHolder(path string, opts ...store.Option) (*local.Holder, error) {
	path, err := dbPath(path)
	if err != nil {
		return nil, err
	}
	// The index first, the check behind it: the console shows the list and
	// serve answers at once; changes wait for the check (store.CheckBehind).
	h, err := local.OpenStore(path, local.Options{ReaderWait: readerWait, Run: runForHolder, Check: store.CheckBehind}, opts...)
	if err == nil {
		inv.warnIfWasOpen(path, h)
	}
	return h, err
}

// warnIfWasOpen says on stderr that the database file let group or others
// in, and that it is now private (0600) or why it could not be made so.
func (inv *invocation) warnIfWasOpen(path string, h *local.Holder) {
	was, err := h.MadePrivate()
	switch {
	case was == 0:
	case err != nil:
		fmt.Fprintf(inv.stderr, "apiscopes: warning: %s can be read or written by others (mode %04o), and making it private failed: %v\n",
			path, was, err)
	default:
		fmt.Fprintf(inv.stderr, "apiscopes: warning: %s could be read or written by others (mode %04o); it is now private to its owner (0600)\n",
			path, was)
	}
}

// readerWait is how long a console or server waits for commands that are
// reading the database (each for a moment) to let go of it; zero: the
// default of local.OpenStore.
var readerWait time.Duration

// localActor is the person at this terminal: the OS user, an admin of their
// own database file.
func localActor() store.Actor {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "local user"
	}
	return store.Actor{Name: name, Role: store.Admin, Origin: "local"}
}
