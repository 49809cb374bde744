package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"apiscopes/store"
)

// ErrBackupOverDatabase refuses a backup whose destination is the database
// it copies.
var ErrBackupOverDatabase = errors.New("the backup would overwrite the database it copies")

// BackupFile writes a consistent copy of the database to path and proves it
// sound before it is kept: the copy goes to a temporary file beside path, is
// synced, reopened and checked from end to end (CheckFile), and only then
// renamed over path. A failed backup leaves path as it was. The copy is
// private to its owner (0600), like the database.
func BackupFile(st *store.Store, path string) error {
	return BackupFileContext(context.Background(), st, path)
}

// BackupFileContext is BackupFile, given up as soon as ctx ends (a signal,
// a server shutting down) with ctx's error: its temporary file is removed
// and path is left as it was. The temporary file, .apiscopes-backup-*.tmp
// beside path, is removed on every failure; those that a killed backup
// left are removed by the next backup into the same folder.
func BackupFileContext(ctx context.Context, st *store.Store, path string) error {
	if err := refuseSelf(st, path); err != nil {
		return err
	}
	if err := backupFile(ctx, st, path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

func backupFile(ctx context.Context, st *store.Store, path string) (err error) {
	f, err := createBackupTemp(filepath.Dir(path))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		f.Close() // and with it the lock that marks it as being written
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = WriteBackup(st, ctxWriter{ctx, f}); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // bbolt's copy error keeps only its text
		}
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = CheckFile(ctx, tmp); err != nil {
		return fmt.Errorf("the copy failed its check: %w", err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	beforeRename(f)
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// WriteBackup writes a consistent copy of st's whole database to w as an
// apiscopes database file, while writers go on: the copy is the database as
// it was when the backup began. It returns how many bytes it wrote.
//
// A store on another engine (a cluster) is copied at one revision into a
// new file first (store.Copy), which is then written to w.
func WriteBackup(st *store.Store, w io.Writer) (int64, error) {
	if e, ok := st.Engine().(*Engine); ok {
		return e.WriteBackup(w)
	}
	dir, err := os.MkdirTemp("", ".apiscopes-backup-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "copy.db")
	e, err := Open(path, Options{})
	if err != nil {
		return 0, err
	}
	_, err = store.Copy(context.Background(), st.Engine(), e, nil)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

// refuseSelf refuses path if it is the database file itself.
func refuseSelf(st *store.Store, path string) error {
	e, ok := st.Engine().(*Engine)
	if !ok {
		return nil
	}
	db, errDB := os.Stat(e.path)
	out, errOut := os.Stat(path)
	if errDB == nil && errOut == nil && os.SameFile(db, out) {
		return fmt.Errorf("backup to %s: %w", path, ErrBackupOverDatabase)
	}
	return nil
}

// syncDir makes a rename in dir durable. Where a folder cannot be synced
// (some systems refuse), the rename is still atomic, only perhaps not yet
// on disk.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// CheckFile opens the database file at path read-only and checks it from
// end to end, as Check does (opening it checked its pages): use it on a
// backup before relying on it. It fails with ErrNotDatabase, ErrDamaged, or
// ErrLocked if a process holds the file for writing.
func CheckFile(ctx context.Context, path string, opts ...store.CheckOption) error {
	s, err := OpenStore(path, Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		return err
	}
	return errors.Join(s.CheckRecords(ctx, opts...), s.Close())
}

// Hot backups: a folder of timestamped, checked copies that a long-running
// process (apiscopes serve) refreshes on a ticker, keeping the newest few.
const (
	backupPrefix = "apiscopes-"
	backupSuffix = ".db"
	backupStamp  = "20060102T150405.000Z" // sorts as it reads: by time

	// DefaultBackupKeep is how many hot backups a folder keeps when the
	// caller does not say.
	DefaultBackupKeep = 7
)

// HotBackup writes a checked backup of the database into dir, named
// apiscopes-<UTC time>.db (dir is created, private, if missing), then
// removes the oldest such backups beyond keep (DefaultBackupKeep if keep is
// not positive). It returns the new backup's path. Files in dir not named
// like a backup are never touched, and a failed backup removes nothing.
func HotBackup(st *store.Store, dir string, keep int) (string, error) {
	if keep <= 0 {
		keep = DefaultBackupKeep
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup folder: %w", err)
	}
	at := st.Now().UTC()
	path := filepath.Join(dir, backupPrefix+at.Format(backupStamp)+backupSuffix)
	for exists(path) { // two backups within a millisecond: keep both, in order
		at = at.Add(time.Millisecond)
		path = filepath.Join(dir, backupPrefix+at.Format(backupStamp)+backupSuffix)
	}
	if err := BackupFile(st, path); err != nil {
		return "", err
	}
	backups, err := ListBackups(dir)
	if err != nil {
		return path, err
	}
	for _, old := range backups[:max(0, len(backups)-keep)] {
		if err := os.Remove(old); err != nil {
			return path, fmt.Errorf("remove old backup: %w", err)
		}
	}
	return path, nil
}

// ListBackups returns the hot backups in dir, oldest first.
func ListBackups(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		stamp, ok := strings.CutPrefix(name, backupPrefix)
		stamp, ok2 := strings.CutSuffix(stamp, backupSuffix)
		if !ok || !ok2 || !e.Type().IsRegular() {
			continue
		}
		if _, err := time.Parse(backupStamp, stamp); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	slices.Sort(out)
	return out, nil
}

// KeepBackups takes a hot backup into dir at once and then every interval
// until ctx ends, keeping the newest keep. It is what `apiscopes serve
// --backup-dir DIR --backup-every D` runs beside the server. Each outcome,
// the new file or the reason it failed, goes to report (if not nil); a
// failure does not stop the next attempt.
func KeepBackups(ctx context.Context, st *store.Store, dir string, every time.Duration, keep int, report func(path string, err error)) {
	KeepBackupsWhile(ctx, st, dir, every, keep, nil, report)
}

// KeepBackupsWhile is KeepBackups for one of several replicas: a backup is
// taken only when leads (if not nil) says this replica does the
// housekeeping.
func KeepBackupsWhile(ctx context.Context, st *store.Store, dir string, every time.Duration, keep int,
	leads func() bool, report func(path string, err error)) {
	if report == nil {
		report = func(string, error) {}
	}
	if every <= 0 {
		report("", fmt.Errorf("backup every %v: the interval must be positive", every))
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		if leads == nil || leads() {
			report(HotBackup(st, dir, keep))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
