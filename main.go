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

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"apiscopes/store"
	"apiscopes/tui"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module's build information.
var version = ""

const usage = `apiscopes — manage scoped API apps and their API keys

Usage:
  apiscopes [--db PATH]      open the console (Settings › Security & Control › API Scopes)
  apiscopes serve --http ADDR
                             serve the verify API: POST /v1/verify (see apiscopes serve -h)
  apiscopes verify --scope ID [--json] < key
                             check a key: exit 0 allowed, 1 denied, 2 error
  apiscopes version          print the version
  apiscopes -h               show this help

Flags:
  --db PATH   database file (env APISCOPES_DB)
              default: $XDG_DATA_HOME/apiscopes/apiscopes.db, else ~/.local/share/apiscopes/apiscopes.db

In the console: n new app, enter edit, d delete, / filter, ? all keys, q quit.
`

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the whole command line, returning the exit code: 0 done, 1 failed,
// 2 misused.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apiscopes", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", os.Getenv("APISCOPES_DB"), "database file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "apiscopes: %v\n\n%s", err, usage)
		return 2
	}
	switch cmd := fs.Arg(0); cmd {
	case "":
		return console(*db, stdin, stdout, stderr)
	case "serve":
		return serveCommand(fs.Args()[1:], *db, stdout, stderr)
	case "verify":
		return verifyCommand(fs.Args()[1:], *db, stdin, stdout, stderr)
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

// console opens the database and runs the console for the local user.
func console(path string, stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); !ok || !term.IsTerminal(f.Fd()) {
		fmt.Fprintln(stderr, "apiscopes: the console needs a terminal; run it in one (stdin is not a TTY)")
		return 2
	}
	st, code, msg := openStore(path)
	if st == nil {
		fmt.Fprintln(stderr, msg)
		return code
	}
	defer st.Close()

	m := tui.New(tui.Options{Store: st, Actor: localActor()})
	if _, err := tea.NewProgram(m, tea.WithInput(stdin), tea.WithOutput(stdout)).Run(); err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	return 0
}

// openStore opens path, or the default database when path is empty. On
// failure it returns the exit code and the message for stderr, which names
// the file and what to do.
func openStore(path string) (*store.Store, int, string) {
	if path == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return nil, 1, "apiscopes: " + err.Error()
		}
		path = p
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, 1, "apiscopes: " + err.Error()
	}
	return st, 0, ""
}

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
