package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// readCommands are the commands that only read a database, on db.
func readCommands(t *testing.T, db string) [][]string {
	return [][]string{
		{"verify", "--db", db, "--scope", "model:deploy"},
		{"verify", "--db", db, "--scope", "model:deploy", "--json"},
		{"audit", "--db", db},
		{"audit", "--db", db, "--json"},
		{"backup", "--db", db, filepath.Join(t.TempDir(), "copy.db")},
		{"check", db},
	}
}

// TestReadOnlyCommandsChangeNothing: verify, audit, backup and check read
// a database without changing a byte or its mode (even one others may
// read: only writers make it private), never create a file or a folder
// (not for a mistyped path, not behind a dangling link), and refuse a
// file of zero bytes or without buckets, as a restore cut short leaves,
// with a message that says so, instead of taking it for a database.
func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_KEY", "")
	t.Setenv("APISCOPES_JSON", "")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, args := range readCommands(t, path) {
		if code, _, errs := runWithStdin(t, key, args...); code > 1 {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
		fi, _ := os.Stat(path)
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) || fi.Mode().Perm() != 0o644 {
			t.Fatalf("%v changed the database (mode %v)", args, fi.Mode())
		}
	}

	dir := t.TempDir()
	typo := filepath.Join(dir, "typo", "x.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(filepath.Join(dir, "gone", "target.db"), link); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.db")
	writeTestFile(t, empty, nil)
	hollow := filepath.Join(dir, "hollow.db")
	db, err := bolt.Open(hollow, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	hollowBytes, _ := os.ReadFile(hollow)
	for _, tt := range []struct{ db, want string }{
		{typo, "no database at " + typo},
		{link, "no database at " + link},
		{empty, "restore cut short"},
		{hollow, "restore cut short"},
	} {
		for _, args := range readCommands(t, tt.db) {
			code, _, errs := runWithStdin(t, key, args...)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Errorf("%v = %d, %q; want a refusal with %q", args, code, errs, tt.want)
			}
		}
	}
	for _, made := range []string{filepath.Join(dir, "typo"), filepath.Join(dir, "gone")} {
		if _, err := os.Lstat(made); err == nil {
			t.Errorf("a read-only command created %s", made)
		}
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Error("a read-only command wrote into an empty file")
	}
	if b, _ := os.ReadFile(hollow); !bytes.Equal(b, hollowBytes) {
		t.Error("a read-only command wrote into a file without buckets")
	}
}

// TestWritersMakeTheDatabasePrivate: a command that writes (the console,
// serve) makes a database file others may read private (0600) and warns
// on stderr; a private one is opened without a word. A writer refuses an
// empty file, as readers do, rather than make a new database in it.
func TestWritersMakeTheDatabasePrivate(t *testing.T) {
	path, _ := seededDB(t)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	st, code, msg := openStore(path, &warn)
	if st == nil {
		t.Fatalf("%d %s", code, msg)
	}
	st.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after a writer opened it", fi.Mode())
	}
	if !strings.Contains(warn.String(), "warning: "+path+" could be read or written by others (mode 0640)") ||
		!strings.Contains(warn.String(), "now private") {
		t.Errorf("warning %q", warn.String())
	}
	warn.Reset()
	if st, _, _ = openStore(path, &warn); st != nil {
		st.Close()
	}
	if warn.Len() != 0 {
		t.Errorf("a private database got a warning: %q", warn.String())
	}

	empty := filepath.Join(t.TempDir(), "empty.db")
	writeTestFile(t, empty, nil)
	if st, _, msg := openStore(empty, &warn); st != nil || !strings.Contains(msg, "restore cut short") {
		t.Errorf("an empty file opened for writing: %q", msg)
	}
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Error("a writer made a database in an empty file")
	}
}

// TestBackupInterrupted: a backup given up by a signal (its context ends)
// says so, leaves no temporary file and no backup, and a streamed one
// stops.
func TestBackupInterrupted(t *testing.T) {
	path, _ := seededDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")
	var stdout, stderr bytes.Buffer
	code := Run(ctx, []string{"backup", "--db", path, out}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "backup interrupted; "+out+" was left as it was") {
		t.Errorf("backup = %d, %q", code, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("an interrupted backup left %v", entries)
	}
	stderr.Reset()
	code = Run(ctx, []string{"backup", "--db", path, "-"}, nil, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "backup interrupted") {
		t.Errorf("backup - = %d, %d bytes, %q", code, stdout.Len(), stderr.String())
	}
}

// TestAWrongDatabaseIsLeftAsItIs: a file that is not an apiscopes
// database, given to a writer (the console, serve, a change) by --db, by a
// link or by APISCOPES_DB, is refused and keeps its mode and every byte:
// nothing changes a file before it is known to be a database.
func TestAWrongDatabaseIsLeftAsItIs(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	content := []byte("root:x:0:0:root:/root:/bin/bash\n")
	writeTestFile(t, passwd, content)
	if err := os.Chmod(passwd, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(passwd, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{passwd, link} {
		if h, _, msg := openStore(path, io.Discard); h != nil || !strings.Contains(msg, "not an apiscopes database") {
			t.Errorf("the console on %s: %q", path, msg)
		}
		if code, _, errs := runCmd(t, "app", "create", "--db", path, "X", "--scope", "model:deploy"); code == 0 || !strings.Contains(errs, "not an apiscopes database") {
			t.Errorf("app create on %s = %d, %q", path, code, errs)
		}
		t.Setenv("APISCOPES_DB", path)
		if code, _, errs := runCmd(t, "serve", "--http", "127.0.0.1:0"); code == 0 || !strings.Contains(errs, "not an apiscopes database") {
			t.Errorf("serve with APISCOPES_DB=%s = %d, %q", path, code, errs)
		}
		t.Setenv("APISCOPES_DB", "")
	}
	fi, err := os.Stat(passwd)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("the file's mode is %04o, want it left at 0644", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(passwd); !bytes.Equal(b, content) {
		t.Errorf("the file changed: %q", b)
	}
}

// TestOnlyAFileIsADatabase: a FIFO, a folder or a device given as the
// database is refused by every command at once, naming what it is, without
// waiting for anything (a FIFO nobody writes would hang an open).
func TestOnlyAFileIsADatabase(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.db")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	t.Setenv("APISCOPES_KEY", scanFixtureKey)
	for path, what := range map[string]string{fifo: "a FIFO (named pipe)", dir: "a folder", "/dev/null": "a device"} {
		for _, args := range [][]string{
			{"verify", "--scope", "model:deploy"}, {"audit"}, {"audit", "--verify"}, {"check"}, {"usage"},
			{"backup", filepath.Join(t.TempDir(), "copy.db")}, {"app", "list"}, {"app", "create", "X", "--scope", "model:deploy"},
			{"key", "list", "X"}, {"serve", "--http", "127.0.0.1:0"}, {"audit", "--follow"},
		} {
			done := make(chan struct{})
			var code int
			var errs string
			go func() {
				defer close(done)
				code, _, errs = runCmd(t, append(args, "--db", path)...)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%v on %s did not return", args, path)
			}
			if code == 0 || !strings.Contains(errs, what) {
				t.Errorf("%v on %s = %d, %q; want it refused as %s", args, path, code, errs, what)
			}
		}
	}
	if code, _, errs := runCmd(t, "migrate", "--from-db", fifo, "--to-etcd", "http://127.0.0.1:1"); code == 0 || !strings.Contains(errs, "a FIFO") {
		t.Errorf("migrate from a FIFO = %d, %q", code, errs)
	}
}
