package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
)

// seedStore makes a few apps and keys and returns the keys' texts.
func seedStore(t *testing.T, s *Store) []string {
	t.Helper()
	var texts []string
	for i, name := range []string{"Risk & Compliance", "Customer Support", "Marketing"} {
		app := mustCreateApp(t, s, name, randomSet(randFor(i), 0))
		for k := range i + 1 {
			text, _ := mustCreateKey(t, s, app.ID, fmt.Sprintf("key %d", k))
			texts = append(texts, text)
		}
	}
	return texts
}

// randFor is a seeded generator for test data.
func randFor(i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), 1)) }

func TestBackupFileIsACheckedPrivateCopy(t *testing.T) {
	s := newTestStore(t)
	texts := seedStore(t, s)
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := s.BackupFile(out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if err := CheckFile(out); err != nil {
		t.Fatalf("CheckFile(backup) = %v", err)
	}
	want := takeSnapshot(t, s)
	b, err := Open(out, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := takeSnapshot(t, b); !got.equal(want) {
		t.Errorf("the backup differs from the database:\n got %+v\nwant %+v", got, want)
	}
	for _, text := range texts {
		if d, err := b.Verify(text, scopes.WorkflowDeploy); err != nil || d.Reason == UnknownKey {
			t.Errorf("a key is unknown in the backup: %v, %v", d, err)
		}
	}
	// A read-only store refuses changes with a write error, and the file
	// stays as it was.
	if _, err := b.CreateApp(admin, "x", scopes.Full()); !errors.Is(err, ErrWriteFailed) {
		t.Errorf("CreateApp on a read-only store = %v, want ErrWriteFailed", err)
	}
}

func TestBackupRefusesTheDatabaseItself(t *testing.T) {
	s := newTestStore(t)
	seedStore(t, s)
	before, _ := os.ReadFile(s.Path())
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(s.Path(), link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{s.Path(), link} {
		if err := s.BackupFile(out); !errors.Is(err, ErrBackupOverDatabase) {
			t.Errorf("BackupFile(%s) = %v, want ErrBackupOverDatabase", out, err)
		}
	}
	if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
		t.Error("the refused backup changed the database")
	}
}

func TestBackupFailureKeepsThePreviousFile(t *testing.T) {
	s := newTestStore(t)
	seedStore(t, s)
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(out, []byte("previous backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupFile(filepath.Join(dir, "missing", "copy.db")); err == nil {
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
// as `serve` does: every backup is sound and holds a whole number of
// changes (each app with its keys and its audit records).
func TestHotBackupsWhileWriting(t *testing.T) {
	s := newTestStore(t)
	dir := t.TempDir()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 200; i++ {
				app, err := s.CreateApp(admin, fmt.Sprintf("w%d app %d", w, i), scopes.Full())
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.CreateKey(admin, app.ID, "k"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var paths []string
	for range 10 {
		path, err := s.HotBackup(dir, 100)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	stop()
	wg.Wait()
	for _, p := range paths {
		if err := CheckFile(p); err != nil {
			t.Errorf("hot backup %s: %v", filepath.Base(p), err)
		}
	}
}

func TestHotBackupRotation(t *testing.T) {
	s := newTestStore(t) // its clock moves a second per reading
	seedStore(t, s)
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	others := []string{"notes.txt", "apiscopes-latest.db", "apiscopes-20000101T000000.000Z.db.bak"}
	for _, name := range others {
		writeFile(t, filepath.Join(dir, name), []byte("not mine"))
	}
	var made []string
	for range 5 {
		path, err := s.HotBackup(dir, 3)
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
	if filepath.Base(made[0]) != "apiscopes-20250314T092702.000Z.db" {
		t.Errorf("first backup is named %s", filepath.Base(made[0]))
	}
}

func TestHotBackupSameMillisecond(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newTestStore(t, WithClock(func() time.Time { return at }))
	dir := t.TempDir()
	a, err := s.HotBackup(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.HotBackup(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := ListBackups(dir); !slices.Equal(list, []string{a, b}) {
		t.Errorf("backups %v, want %v then %v", list, a, b)
	}
}

func TestKeepBackups(t *testing.T) {
	s := newTestStore(t)
	seedStore(t, s)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan error, 100)
	done := make(chan struct{})
	go func() {
		s.KeepBackups(ctx, dir, time.Millisecond, 2, func(path string, err error) {
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
	s.KeepBackups(context.Background(), dir, 0, 2, func(_ string, err error) { got = err })
	if got == nil {
		t.Error("KeepBackups with a zero interval did not complain")
	}
}

// TestRestoreFromBackup follows the README's restore steps: stop the
// process, copy the backup over the database file, start again. The
// database is then exactly as it was when the backup was taken.
func TestRestoreFromBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	s, err := Open(path, WithClock(newTestClock().Now), WithRandom(testRandom(9)))
	if err != nil {
		t.Fatal(err)
	}
	old := seedStore(t, s)
	backup := filepath.Join(t.TempDir(), "apiscopes-backup.db")
	if err := s.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	want := takeSnapshot(t, s)

	// Life goes on: a new key, a deleted app, then the file is lost.
	apps, _ := s.Apps()
	newer, _ := mustCreateKey(t, s, apps[0].ID, "after the backup")
	if err := s.DeleteApp(admin, apps[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, []byte("the disk ate it"))

	// Restore: check the backup, copy it over the database.
	if err := CheckFile(backup); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)

	s, err = Open(path)
	if err != nil {
		t.Fatalf("open the restored database: %v", err)
	}
	defer s.Close()
	if got := takeSnapshot(t, s); !got.equal(want) {
		t.Errorf("restored database differs from the backup's moment")
	}
	for _, text := range old {
		if d, _ := s.Verify(text, scopes.WorkflowDeploy); d.Reason == UnknownKey {
			t.Error("a key from before the backup is unknown after the restore")
		}
	}
	if d, _ := s.Verify(newer, scopes.WorkflowDeploy); d.Reason != UnknownKey {
		t.Errorf("a key made after the backup is %v after the restore", d.Reason)
	}
	if _, err := s.CreateApp(admin, "after the restore", scopes.Full()); err != nil {
		t.Errorf("the restored database refuses a change: %v", err)
	}
}

// TestBackupOfADamagedFileIsRefused: if the file is damaged under a running
// store (a failing disk), a backup copies the damage, fails its check and is
// not kept; and a hot backup that fails removes none of the good ones.
func TestBackupOfADamagedFileIsRefused(t *testing.T) {
	s := newTestStore(t)
	seedStore(t, s)
	dir := t.TempDir()
	var good []string
	for range 2 {
		path, err := s.HotBackup(dir, 2)
		if err != nil {
			t.Fatal(err)
		}
		good = append(good, path)
	}

	f, err := os.OpenFile(s.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for i := bytes.Index(data, []byte(`"name":"Marketing"`)); i >= 0; {
		if _, err := f.WriteAt([]byte{0xff, 0xff}, int64(i/page*page+8)); err != nil { // the page's type
			t.Fatal(err)
		}
		j := bytes.Index(data[i+1:], []byte(`"name":"Marketing"`))
		if j < 0 {
			break
		}
		i += 1 + j
	}
	f.Close()

	out := filepath.Join(t.TempDir(), "copy.db")
	if err := s.BackupFile(out); !errors.Is(err, ErrDamaged) {
		t.Errorf("backup of a damaged file = %v, want ErrDamaged", err)
	}
	if exists(out) {
		t.Error("the damaged copy was kept")
	}
	if _, err := s.HotBackup(dir, 2); !errors.Is(err, ErrDamaged) {
		t.Errorf("hot backup of a damaged file = %v, want ErrDamaged", err)
	}
	if list, _ := ListBackups(dir); !slices.Equal(list, good) {
		t.Errorf("after a failed hot backup the folder holds %v, want the good %v", list, good)
	}
}
