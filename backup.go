package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/charmbracelet/x/term"

	"apiscopes/store"
	"apiscopes/store/bolt"
)

const backupUsage = `Usage:
  apiscopes backup [--db PATH] OUT   write a checked copy of the database to OUT (- for stdout)
  apiscopes check [--db PATH] [FILE] check a database or a backup from end to end

Both read the database without changing it. While a console or apiscopes
serve holds the file they say so within a second; apiscopes serve
--backup-dir DIR keeps checked backups itself.

Restore: stop apiscopes, run apiscopes check BACKUP, copy BACKUP over the
database file, start apiscopes again.
`

// backupCommand is `apiscopes backup OUT` until it is done, or until ctrl+c
// or SIGTERM, which give it up cleanly: the temporary file goes, and OUT is
// left as it was.
func backupCommand(db string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return backupCmd(ctx, db, args, stdout, stderr)
}

// backupCmd writes a consistent copy of the database to OUT, checked from
// end to end before it is kept, unless ctx ends first.
func backupCmd(ctx context.Context, db string, args []string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("backup", &db)
	if code, ok := parseSub(fs, args, 1, 1, backupUsage, stdout, stderr); !ok {
		return code
	}
	out := fs.Arg(0)
	st, code, msg := openForReading(db)
	if st == nil {
		if code == lockedCode {
			msg += "\n(while it runs, apiscopes serve --backup-dir DIR keeps checked backups itself)"
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
	defer st.Close()

	if out == "-" {
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(f.Fd()) {
			fmt.Fprintln(stderr, "apiscopes: not writing a database to a terminal; redirect it: apiscopes backup - > FILE")
			return 2
		}
		if _, err := bolt.WriteBackup(st, interruptible{ctx, stdout}); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "apiscopes: backup interrupted; what was written to stdout is not a database")
				return 1
			}
			fmt.Fprintln(stderr, "apiscopes: backup:", err)
			return 1
		}
		return 0
	}
	if err := bolt.BackupFileContext(ctx, st, out); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "apiscopes: backup interrupted; %s was left as it was\n", out)
			return 1
		}
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	size := int64(0)
	if fi, err := os.Stat(out); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "Backed up %s to %s (%s, checked).\n", st.Name(), out, kib(size))
	return 0
}

// checkCmd is `apiscopes check [FILE]`: bbolt's page check and the store's
// invariants on a database or a backup, without writing to it.
func checkCmd(db string, args []string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("check", &db)
	if code, ok := parseSub(fs, args, 0, 1, backupUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "apiscopes check: one file at most\n\n%s", backupUsage)
		return 2
	}
	if fs.NArg() == 1 {
		db = fs.Arg(0)
	}
	st, _, msg := openForReading(db)
	if st == nil {
		fmt.Fprintln(stderr, msg)
		return 1
	}
	defer st.Close()
	// Opening checked the file already; Check says so in one place.
	if err := st.Check(); err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	apps, err := st.Apps()
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s is sound: %d apps.\n", st.Name(), len(apps))
	return 0
}

func subcommandFlags(name string, db *string) *flag.FlagSet {
	fs := newFlagSet(name)
	fs.StringVar(db, "db", *db, "database file")
	return fs
}

// lockedCode is openForReading's code for a file another process holds, so
// that a command can add its own advice; it exits 1 like every failure.
const lockedCode = 3

// openForReading opens a database read-only, never creating one. A file
// another process holds, a missing file or a damaged one gets a message
// that names it.
func openForReading(path string) (*store.Store, int, string) {
	path, err := dbPath(path)
	if err != nil {
		return nil, 1, "apiscopes: " + err.Error()
	}
	st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true}, store.ReadOnly())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, 1, fmt.Sprintf("apiscopes: there is no database at %s; give its path with --db", path)
	case errors.Is(err, store.ErrLocked):
		return nil, lockedCode, "apiscopes: " + err.Error()
	case err != nil:
		return nil, 1, "apiscopes: " + err.Error()
	}
	return st, 0, ""
}

// interruptible is a writer that fails once ctx ends, so that a backup
// streamed to stdout stops at a signal.
type interruptible struct {
	ctx context.Context
	w   io.Writer
}

func (i interruptible) Write(p []byte) (int, error) {
	if err := i.ctx.Err(); err != nil {
		return 0, err
	}
	return i.w.Write(p)
}

func kib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", (n+1023)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
