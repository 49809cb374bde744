//go:build unix

package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// cancelAfter is a context that ends after its Err has been asked n times:
// a backup interrupted in the middle of its copy, at the same point on
// every run.
type cancelAfter struct {
	context.Context
	n atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// temps lists the backup temporaries in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, backupTempPattern))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestBackupTemporaryFiles: a backup's temporary file is named
// .apiscopes-backup-*.tmp; it is gone after an interrupted backup (the
// destination untouched) and after a failed one; those a killed backup
// left (no process holds them) are removed by the next backup into the
// folder, while one a running backup holds, and a link that only looks
// like one, are left alone.
func TestBackupTemporaryFiles(t *testing.T) {
	s := newStore(t)
	seedStore(t, s)
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")
	writeFile(t, out, []byte("the previous backup"))

	// Interrupted half-way through the copy.
	err := BackupFileContext(&cancelAfter{Context: context.Background(), n: atomic.Int32{}}, s, out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted backup: %v", err)
	}
	ctx := &cancelAfter{Context: context.Background()}
	ctx.n.Store(2)
	if err := BackupFileContext(ctx, s, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup interrupted after two writes: %v", err)
	}
	if got := temps(t, dir); len(got) != 0 {
		t.Errorf("an interrupted backup left %v", got)
	}
	if b, _ := os.ReadFile(out); string(b) != "the previous backup" {
		t.Error("an interrupted backup changed its destination")
	}

	// Failed at the rename: the destination is a folder.
	if err := BackupFile(s, t.TempDir()); err == nil {
		t.Fatal("a backup over a folder succeeded")
	}
	if got := temps(t, dir); len(got) != 0 {
		t.Errorf("a failed backup left %v", got)
	}

	// What killed backups left, one that is running, and a link.
	stale := filepath.Join(dir, ".apiscopes-backup-111.tmp")
	writeFile(t, stale, []byte("half a copy"))
	running := filepath.Join(dir, ".apiscopes-backup-222.tmp")
	writeFile(t, running, []byte("being written"))
	held, err := os.Open(running)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := lockShared(held); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "not-a-backup")
	writeFile(t, outside, []byte("keep me"))
	link := filepath.Join(dir, ".apiscopes-backup-333.tmp")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := BackupFile(s, out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Error("a stale temporary file survived the next backup")
	}
	if _, err := os.Stat(running); err != nil {
		t.Error("a running backup's temporary file was removed")
	}
	if _, err := os.Lstat(link); err != nil {
		t.Error("a link named like a temporary file was removed")
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep me" {
		t.Error("the file behind a link changed")
	}
	if err := CheckFile(t.Context(), out); err != nil {
		t.Errorf("the backup: %v", err)
	}
}
