// Command apiscopes is a terminal settings console for scoped API apps and
// their API keys: Settings › Security & Control › API Scopes.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime/debug"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/tui"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module's build information.
var version = ""

const usage = `apiscopes — manage scoped API apps and their API keys

Usage:
  apiscopes [--db PATH]            open the console (Settings › Security & Control › API Scopes)
  apiscopes serve [flags]          serve the console over SSH and the verify API over HTTP (serve -h)
  apiscopes verify --scope ID [--json] < key
                                   check a key: exit 0 allowed, 1 denied, 2 error
  apiscopes audit [--json]         print the audit log, newest first (--json: JSON Lines)
  apiscopes audit --verify         check the audit trail's hash chain and print its head
  apiscopes demo [--apps N]        the console on a throw-away database with a bank's apps and keys;
                                   --apps adds N more apps to try it at scale; deleted on exit
  apiscopes backup OUT             write a checked copy of the database to OUT
  apiscopes check [FILE]           check the database, or a backup, from end to end
  apiscopes scan [PATH…]           find API keys left in files (exit 1 if any); never prints them
  apiscopes usage [--unused-for 90d] [--json]
                                   when each app's scopes were last used, and refused checks
  apiscopes migrate --from-db FILE --to-etcd ENDPOINTS (or back: --from-etcd … --to-db FILE)
                                   copy a whole database between the file and an etcd cluster
  apiscopes version                print the version
  apiscopes -h                     show this help

` + databaseHelp + `

In the console: n new app, enter edit, d delete, / filter, a audit log, ? all keys, q quit.
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the whole command line, returning the exit code: 0 done, 1 failed,
// 2 misused.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	stderr = redactKeys(stderr)
	fs := newFlagSet("apiscopes")
	var db database
	db.register(fs)
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "apiscopes: %v\n\n%s", err, usage)
		return 2
	}
	switch cmd := fs.Arg(0); cmd {
	case "":
		if err := db.check(); err != nil {
			fmt.Fprintf(stderr, "apiscopes: %v\n", err)
			return 2
		}
		return console(db, stdin, stdout, stderr)
	case "serve":
		return serveCommand(fs.Args()[1:], db, stdout, stderr)
	case "verify":
		return verifyCommand(fs.Args()[1:], db, stdin, stdout, stderr)
	case "backup":
		return backupCommand(db, fs.Args()[1:], stdout, stderr)
	case "check":
		return checkCmd(db, fs.Args()[1:], stdout, stderr)
	case "audit":
		return audit(db, fs.Args()[1:], stdout, stderr)
	case "usage":
		return usageCmd(db, fs.Args()[1:], stdout, stderr)
	case "scan":
		return scanCmd(db, fs.Args()[1:], stdin, stdout, stderr)
	case "migrate":
		return migrateCmd(fs.Args()[1:], stdout, stderr)
	case "demo":
		if namesCluster(args) {
			return refuseDemoCluster(stderr)
		}
		return demo(fs.Args()[1:], stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "apiscopes", buildVersion())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "apiscopes: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// newFlagSet is a subcommand's flag set, named "apiscopes NAME"; errors go
// to parseSub, which prints them with the usage.
func newFlagSet(name string) *flag.FlagSet {
	if name != "apiscopes" {
		name = "apiscopes " + name
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags sets each flag from APISCOPES_<FLAG> first, then from args,
// so the command line wins; a bad value in either is an error naming it. An
// empty variable counts as unset.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "APISCOPES_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := os.Getenv(name); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q is not a valid value for --%s", name, v, f.Name)
				if f.DefValue != "" {
					err = fmt.Errorf("%w (its default is %s)", err, f.DefValue)
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	// --db and --etcd choose one database: the one the command line names
	// wins over the other's variables (a replica's shell keeps
	// APISCOPES_ETCD and its companions).
	if fs.Lookup("db") != nil && fs.Lookup("etcd") != nil {
		fileGiven, clusterGiven := givenFlag(args, "db"), givenFlag(args, "etcd")
		fs.VisitAll(func(f *flag.Flag) {
			switch {
			case fileGiven && !clusterGiven && strings.HasPrefix(f.Name, "etcd") && !givenFlag(args, f.Name),
				clusterGiven && !fileGiven && f.Name == "db":
				f.Value.Set("")
			}
		})
	}
	return nil
}

// parseSub parses a subcommand's flags (environment first, see parseFlags)
// and wants from min to max arguments. When it returns false the command is
// over, with the exit code it returns: help was shown, or the words were
// wrong and the message says how.
func parseSub(fs *flag.FlagSet, args []string, min, max int, help string, stdout, stderr io.Writer) (int, bool) {
	err := parseFlags(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, help)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n\n%s", fs.Name(), err, help)
		return 2, false
	case max == 0 && fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n\n%s", fs.Name(), fs.Arg(0), help)
		return 2, false
	case fs.NArg() < min || fs.NArg() > max:
		want := fmt.Sprintf("%d argument(s)", min)
		if min != max {
			want = fmt.Sprintf("%d to %d arguments", min, max)
		}
		fmt.Fprintf(stderr, "%s: wants %s, got %d\n\n%s", fs.Name(), want, fs.NArg(), help)
		return 2, false
	}
	return 0, true
}

// isTerminal reports whether f, an *os.File or a wrapper that keeps its
// descriptor, is a terminal.
func isTerminal(f interface{ Fd() uintptr }) bool { return term.IsTerminal(f.Fd()) }

// console opens the database and runs the console for the local user.
func console(db database, stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); !ok || !isTerminal(f) {
		fmt.Fprintln(stderr, "apiscopes: the console needs a terminal; run it in one (stdin is not a TTY)")
		return 2
	}
	if db.cluster() {
		st, err := db.openCluster(0)
		if err != nil {
			fmt.Fprintln(stderr, "apiscopes:", err)
			return 1
		}
		defer st.Close()
		return runConsole(st, stdin, stdout, stderr)
	}
	path := db.path
	h, code, msg := openStore(path, stderr)
	if h == nil {
		fmt.Fprintln(stderr, msg)
		return code
	}
	defer h.Close()
	return runConsole(h.Store(), stdin, stdout, stderr)
}

// runConsole runs the console on st for the local user.
func runConsole(st *store.Store, stdin io.Reader, stdout, stderr io.Writer) int {
	m := tui.New(tui.Options{Store: st, Actor: localActor()})
	defer m.Close()
	if _, err := tea.NewProgram(m, tea.WithInput(stdin), tea.WithOutput(stdout)).Run(); err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	return 0
}

// dbPath is path, or the default database when path is empty.
func dbPath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	return bolt.DefaultPath()
}

// openStore opens path, or the default database when path is empty, for
// writing: the process then holds the file, and answers the local commands
// (verify, audit, backup, check) that other processes run on it. A file
// others may read is made private first (warning on warn). On
// failure it returns the exit code and the message for stderr, which names
// the file and what to do.
func openStore(path string, warn io.Writer) (*local.Holder, int, string) {
	path, err := dbPath(path)
	if err != nil {
		return nil, 1, "apiscopes: " + err.Error()
	}
	tightenMode(path, warn)
	h, err := local.OpenStore(path, local.Options{ReaderWait: readerWait})
	if err != nil {
		return nil, 1, "apiscopes: " + err.Error()
	}
	return h, 0, ""
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

func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
