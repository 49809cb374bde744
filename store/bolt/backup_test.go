package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

func TestBackupFileIsACheckedPrivateCopy(t *testing.T) {
	st := newStore(t)
	texts := seedStore(t, st)
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := BackupFile(st, out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if err := CheckFile(t.Context(), out); err != nil {
		t.Fatalf("CheckFile(backup) = %v", err)
	}
	want := read(t, st)
	b, err := OpenStore(out, Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := read(t, b); got.String() != want.String() {
		t.Errorf("the backup differs from the database:\n%s\nwant\n%s", got, want)
	}
	for _, text := range texts {
		if d, err := b.Verify(text, scopes.WorkflowDeploy); err != nil || !d.Allowed {
			t.Errorf("a key does not verify in the backup: %v, %v", d, err)
		}
	}
	// A read-only store refuses changes with a write error, and the file
	// stays as it was.
	before, _ := os.ReadFile(out)
	if _, err := b.CreateApp(t.Context(), admin, "x", scopes.Full()); !errors.Is(err, store.ErrWriteFailed) {
		t.Errorf("CreateApp on a read-only store = %v, want ErrWriteFailed", err)
	}
	b.Close()
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("a read-only store changed its file")
	}
}

func TestBackupRefusesTheDatabaseItself(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	before, _ := os.ReadFile(fileOf(st))
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(fileOf(st), link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fileOf(st), link} {
		if err := BackupFile(st, out); !errors.Is(err, ErrBackupOverDatabase) {
			t.Errorf("BackupFile(%s) = %v, want ErrBackupOverDatabase", out, err)
		}
	}
	if after, _ := os.ReadFile(fileOf(st)); !bytes.Equal(after, before) {
		t.Error("the refused backup changed the database")
	}
}

func TestBackupFailureKeepsThePreviousFile(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")
	writeFile(t, out, []byte("previous backup"))
	if err := BackupFile(st, filepath.Join(dir, "missing", "copy.db")); err == nil {
		t.Error("a backup into a missing folder succeeded")
	}
	if b, _ := os.ReadFile(out); string(b) != "previous backup" {
		t.Errorf("the previous file is now %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the failed backup left files behind: %v", entries)
	}
}

// TestHotBackupsWhileWriting takes backups while other goroutines write,
// as `serve` does: every backup is sound and holds whole changes only.
func TestHotBackupsWhileWriting(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 200; i++ {
				app, err := st.CreateApp(t.Context(), admin, fmt.Sprintf("w%d app %d", w, i), scopes.Full())
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := st.CreateKey(t.Context(), admin, app.ID, "k"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var paths []string
	for range 10 {
		path, err := HotBackup(st, dir, 100)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	stop()
	wg.Wait()
	for _, p := range paths {
		if err := CheckFile(ctx, p); err != nil { // the store's invariants too: a key without its app would fail
			t.Errorf("hot backup %s: %v", filepath.Base(p), err)
		}
	}
}

func TestHotBackupRotation(t *testing.T) {
	clock := storetest.NewClock(storetest.Epoch)
	st := newStore(t, store.WithClock(clock.Now)) // a second a reading
	seedStore(t, st)
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	others := []string{"notes.txt", "apiscopes-latest.db", "apiscopes-20000101T000000.000Z.db.bak"}
	for _, name := range others {
		writeFile(t, filepath.Join(dir, name), []byte("not mine"))
	}
	first := "apiscopes-" + clock.Peek().Add(time.Second).Format("20060102T150405.000Z") + ".db"
	var made []string
	for range 5 {
		path, err := HotBackup(st, dir, 3)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, path)
	}
	got, err := ListBackups(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, made[2:]) {
		t.Errorf("kept %v, want the newest three %v", got, made[2:])
	}
	for _, name := range others {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("rotation touched %s: %v", name, err)
		}
	}
	if filepath.Base(made[0]) != first {
		t.Errorf("the first backup is named %s, want %s", filepath.Base(made[0]), first)
	}
}

func TestHotBackupSameMillisecond(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := newStore(t, store.WithClock(func() time.Time { return at }))
	dir := t.TempDir()
	a, err := HotBackup(st, dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HotBackup(st, dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := ListBackups(dir); !slices.Equal(list, []string{a, b}) || a == b {
		t.Errorf("backups %v, want %v then %v", list, a, b)
	}
}

func TestKeepBackups(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan error, 100)
	done := make(chan struct{})
	go func() {
		KeepBackups(ctx, st, dir, time.Millisecond, 2, func(path string, err error) {
			if err == nil && !exists(path) {
				err = fmt.Errorf("reported %s, which does not exist", path)
			}
			reports <- err
		})
		close(done)
	}()
	for range 4 {
		if err := <-reports; err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if list, _ := ListBackups(dir); len(list) != 2 {
		t.Errorf("%d backups kept, want 2: %v", len(list), list)
	}
	var got error
	KeepBackups(context.Background(), st, dir, 0, 2, func(_ string, err error) { got = err })
	if got == nil {
		t.Error("KeepBackups with a zero interval did not complain")
	}
}

// TestRestoreFromBackup follows the README's restore steps: stop the
// process, check the backup, copy it over the database file, start again.
// The database is then exactly as it was when the backup was taken.
func TestRestoreFromBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := OpenStore(path, Options{}, store.WithClock(storetest.NewClock(storetest.Epoch).Now),
		store.WithRandom(storetest.Random(9)), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	old := seedStore(t, st)
	backup := filepath.Join(t.TempDir(), "apiscopes-backup.db")
	if err := BackupFile(st, backup); err != nil {
		t.Fatal(err)
	}
	want := read(t, st)

	// Life goes on: a new key, a deleted app, then the file is lost.
	apps, _ := st.Apps(t.Context())
	newer, _ := mustKey(t, st, apps[0].ID, "after the backup")
	if err := st.DeleteApp(t.Context(), admin, apps[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte("the disk ate it"))

	if err := CheckFile(t.Context(), backup); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)

	st, err = OpenStore(path, Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatalf("open the restored database: %v", err)
	}
	defer st.Close()
	if got := read(t, st); got.String() != want.String() {
		t.Errorf("the restored database differs from the backup's moment:\n%s\nwant\n%s", got, want)
	}
	for _, text := range old {
		if d, _ := st.Verify(text, scopes.WorkflowDeploy); !d.Allowed {
			t.Errorf("a key from before the backup is %v after the restore", d.Reason)
		}
	}
	if d, _ := st.Verify(newer, scopes.WorkflowDeploy); d.Reason != store.UnknownKey {
		t.Errorf("a key made after the backup is %v after the restore", d.Reason)
	}
	if _, err := st.CreateApp(t.Context(), admin, "after the restore", scopes.Full()); err != nil {
		t.Errorf("the restored database refuses a change: %v", err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestBackupOfADamagedFileIsRefused: if the file is damaged under a running
// store (a failing disk), the store's Check says so, a backup copies the
// damage, fails its check and is not kept, and a hot backup that fails
// removes none of the good ones.
func TestBackupOfADamagedFileIsRefused(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	dir := t.TempDir()
	var good []string
	for range 2 {
		path, err := HotBackup(st, dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		good = append(good, path)
	}
	f, err := os.OpenFile(fileOf(st), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	record := []byte(`"name":"Marketing"`)
	for from := 0; ; {
		i := bytes.Index(data[from:], record)
		if i < 0 {
			break
		}
		i += from
		if _, err := f.WriteAt([]byte{0xff, 0xff}, int64(i/page*page+8)); err != nil { // the page's type
			t.Fatal(err)
		}
		from = i + 1
	}
	f.Close()

	if err := st.Check(t.Context()); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("Check of a file damaged under the store = %v, want ErrDamaged", err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := BackupFile(st, out); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("backup of a damaged file = %v, want ErrDamaged", err)
	}
	if exists(out) {
		t.Error("the damaged copy was kept")
	}
	if _, err := HotBackup(st, dir, 2); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("hot backup of a damaged file = %v, want ErrDamaged", err)
	}
	if list, _ := ListBackups(dir); !slices.Equal(list, good) {
		t.Errorf("after a failed hot backup the folder holds %v, want the good %v", list, good)
	}
}
