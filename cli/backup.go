package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// backupCommand is `apiscopes backup OUT` until it is done, or until ctrl+c
// or SIGTERM, which give it up cleanly: the temporary file goes, and OUT is
// left as it was.
func (inv *invocation) backupCommand() *cobra.Command {
	var db database
	cmd := &cobra.Command{
		Use:   "backup OUT",
		Short: "Write a checked copy of the database",
		Long: `Writes a consistent copy of the database to OUT (- for stdout), checked from end to end
before it is kept, without changing the database. While a console or apiscopes serve
holds the file, that process streams the copy; apiscopes serve --backup-dir DIR also
keeps checked backups itself. On a cluster (--etcd) the copy is an ordinary apiscopes
database file.

Restore: stop apiscopes, run apiscopes check BACKUP, copy BACKUP over the database
file, start apiscopes again.

` + databaseNote + `

Exit status: 0 done, 1 failed (OUT left as it was), 2 usage or environment error.`,
		Example: `  apiscopes backup /var/backups/apiscopes-$(date +%F).db
  apiscopes backup - | gzip > backup.db.gz`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inv.backup(cmd.Context(), cmd, db, args[0])
		},
	}
	db.register(cmd)
	return cmd
}

// backup writes a consistent copy of the database to out, checked from
// end to end before it is kept, unless ctx ends first. While a console or
// serve holds the database, that process streams the copy.
func (inv *invocation) backup(ctx context.Context, cmd *cobra.Command, db database, out string) error {
	stdout := inv.stdout
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	path, err := db.name()
	if err != nil {
		return fail(ExitRefused, err)
	}
	if out == "-" {
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(f.Fd()) {
			return usagef(cmd, "not writing a database to a terminal; redirect it: apiscopes backup - > FILE")
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
			return failf(ExitRefused, "backup interrupted; what was written to stdout is not a database")
		}
		return failf(ExitRefused, "backup interrupted; %s was left as it was", out)
	}
	if err != nil {
		msg := readError(path, err).Error()
		if errors.Is(err, store.ErrLocked) {
			msg += " (while it runs, apiscopes serve --backup-dir DIR keeps checked backups itself)"
		}
		return failf(ExitRefused, "%s", msg)
	}
	if out != "-" {
		fmt.Fprintf(stdout, "Backed up %s to %s (%s, checked).\n", path, out, kib(size))
	}
	return nil
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
	if err = bolt.CheckFile(ctx, tmp); err != nil {
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
