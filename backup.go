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
	"path/filepath"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

const backupUsage = `Usage:
  apiscopes backup [--db PATH] OUT   write a checked copy of the database to OUT (- for stdout)
  apiscopes check [--db PATH] [FILE] check a database or a backup from end to end

Both read the database without changing it. While a console or apiscopes
serve holds the file, that process answers them; apiscopes serve
--backup-dir DIR also keeps checked backups itself.

Restore: stop apiscopes, run apiscopes check BACKUP, copy BACKUP over the
database file, start apiscopes again.
`

// backupCommand is `apiscopes backup OUT` until it is done, or until ctrl+c
// or SIGTERM, which give it up cleanly: the temporary file goes, and OUT is
// left as it was.
func backupCommand(db database, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return backupCmd(ctx, db, args, stdout, stderr)
}

// backupCmd writes a consistent copy of the database to OUT, checked from
// end to end before it is kept, unless ctx ends first. While a console or
// serve holds the database, that process streams the copy.
func backupCmd(ctx context.Context, db database, args []string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("backup", &db)
	if code, ok := parseSub(fs, args, 1, 1, backupUsage, stdout, stderr); !ok {
		return code
	}
	out := fs.Arg(0)
	if err := db.check(); err != nil {
		fmt.Fprintf(stderr, "apiscopes backup: %v\n", err)
		return 2
	}
	path, err := db.name()
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	if out == "-" {
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(f.Fd()) {
			fmt.Fprintln(stderr, "apiscopes: not writing a database to a terminal; redirect it: apiscopes backup - > FILE")
			return 2
		}
	}
	var size int64
	err = db.reading(func(c *local.Conn) (err error) {
		if out == "-" {
			_, err = c.Backup(interruptible{ctx, stdout})
			return err
		}
		size, err = backupFromHolder(ctx, c, path, out)
		return err
	}, func(st *store.Store) error {
		if out == "-" {
			_, err := bolt.WriteBackup(st, interruptible{ctx, stdout})
			return err
		}
		if err := bolt.BackupFileContext(ctx, st, out); err != nil {
			return err
		}
		if fi, err := os.Stat(out); err == nil {
			size = fi.Size()
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		if out == "-" {
			fmt.Fprintln(stderr, "apiscopes: backup interrupted; what was written to stdout is not a database")
		} else {
			fmt.Fprintf(stderr, "apiscopes: backup interrupted; %s was left as it was\n", out)
		}
		return 1
	}
	if err != nil {
		msg := readError(path, err).Error()
		if errors.Is(err, store.ErrLocked) {
			msg += "\n(while it runs, apiscopes serve --backup-dir DIR keeps checked backups itself)"
		}
		fmt.Fprintln(stderr, "apiscopes:", msg)
		return 1
	}
	if out != "-" {
		fmt.Fprintf(stdout, "Backed up %s to %s (%s, checked).\n", path, out, kib(size))
	}
	return 0
}

// backupFromHolder writes the copy the holder of the database streams to
// out as bolt.BackupFile does: beside out, synced, checked from end to end,
// and only then renamed over it. It refuses to write over the database.
func backupFromHolder(ctx context.Context, c *local.Conn, db, out string) (size int64, err error) {
	if dbi, err := os.Stat(db); err == nil {
		if outi, err := os.Stat(out); err == nil && os.SameFile(dbi, outi) {
			return 0, fmt.Errorf("backup to %s: %w", out, bolt.ErrBackupOverDatabase)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".apiscopes-backup-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", out, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("backup to %s: %w", out, err)
		}
	}()
	if size, err = c.Backup(interruptible{ctx, f}); err != nil {
		return 0, err
	}
	if err = f.Sync(); err != nil {
		return 0, err
	}
	if err = f.Close(); err != nil {
		return 0, err
	}
	if err = bolt.CheckFile(tmp); err != nil {
		return 0, fmt.Errorf("the copy failed its check: %w", err)
	}
	if err = os.Rename(tmp, out); err != nil {
		return 0, err
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		d.Sync()
		d.Close()
	}
	return size, nil
}

// checkCmd is `apiscopes check [FILE]`: bbolt's page check and the store's
// invariants on a database or a backup, without writing to it. While a
// console or serve holds the file, that process runs the check.
func checkCmd(db database, args []string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("check", &db)
	if code, ok := parseSub(fs, args, 0, 1, backupUsage, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "apiscopes check: one file at most\n\n%s", backupUsage)
		return 2
	}
	if fs.NArg() == 1 {
		if givenFlag(args, "etcd") || givenFlag(args, "db") {
			fmt.Fprintln(stderr, "apiscopes check: a file, or --db or --etcd, not both")
			return 2
		}
		db = database{path: fs.Arg(0)} // the file named wins over the environment's database
	}
	if err := db.check(); err != nil {
		fmt.Fprintf(stderr, "apiscopes check: %v\n", err)
		return 2
	}
	path, err := db.name()
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes:", err)
		return 1
	}
	var apps int
	var head store.AuditHead
	var unchecked *store.UncheckedError
	err = db.reading(func(c *local.Conn) (err error) {
		_, apps, head, err = c.Check()
		return err
	}, func(st *store.Store) error {
		check := st.Check
		if !db.cluster() {
			check = st.CheckRecords // opening the file checked its pages already
		}
		if err := check(); err != nil && !errors.As(err, &unchecked) {
			return err
		}
		all, err := st.Apps()
		apps = len(all)
		if err == nil {
			head, err = st.VerifyAudit()
		}
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes:", readError(path, err))
		return 1
	}
	fmt.Fprintf(stdout, "%s is sound: %s.\nAudit trail: %s\n", path, plural(apps, "app"), head)
	if unchecked != nil {
		fmt.Fprintf(stdout, "Not checked: %s: %s.\n", unchecked.What, unchecked.Why)
	}
	return 0
}

func subcommandFlags(name string, db *database) *flag.FlagSet {
	fs := newFlagSet(name)
	db.register(fs)
	return fs
}

// openForReading opens the database at path read-only, never creating
// one, and checks it from end to end. It does not wait for the file's
// lock: a file another process holds fails at once with store.ErrLocked,
// for local.Reach to ask that process instead.
func openForReading(path string) (*store.Store, error) {
	return bolt.OpenStore(path, bolt.Options{ReadOnly: true, Timeout: time.Nanosecond}, store.ReadOnly())
}

// readError is err as a read command reports it: a missing database says
// how to name another.
func readError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, store.ErrLocked) {
		if _, statErr := os.Stat(path); errors.Is(statErr, fs.ErrNotExist) {
			return fmt.Errorf("there is no database at %s; give its path with --db", path)
		}
	}
	return err
}

func kib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", (n+1023)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
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

// plural is n and a noun, in the plural unless n is one: "1 app", "3 apps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
