package cli

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

var testAdmin = store.Actor{Name: "alice", Role: store.Admin, Origin: "test"}

// makeDatabase creates a database at path with the seed's three apps and a
// key for each, and closes it.
func makeDatabase(t *testing.T, path string) {
	t.Helper()
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{"Risk & Compliance", "Customer Support", "Marketing"} {
		app, err := st.CreateApp(t.Context(), testAdmin, name, scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, "prod"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecondProcessIsToldTheDatabaseIsHeld: while one process holds the
// database, a second console says which file is busy and what to do,
// within 1.5 s, and never hangs; backup and check are answered by the
// holder. A holder local commands cannot ask (one without a socket, as on
// a file system without them) gets backup and check the same message in
// the same time. The holder is unharmed.
func TestSecondProcessIsToldTheDatabaseIsHeld(t *testing.T) {
	for _, holder := range []struct {
		name     string
		hold     func(t *testing.T, path string) *store.Store
		answered bool
	}{
		{"a console", func(t *testing.T, path string) *store.Store {
			h, code, msg := openStore(path, io.Discard)
			if h == nil {
				t.Fatalf("%d %s", code, msg)
			}
			t.Cleanup(func() { h.Close() })
			return h.Store()
		}, true},
		{"a holder without a socket", func(t *testing.T, path string) *store.Store {
			st, err := bolt.OpenStore(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}, false},
	} {
		t.Run(holder.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "held.db")
			makeDatabase(t, path)
			st := holder.hold(t, path)
			for _, tt := range []struct {
				name     string
				terminal bool
				args     []string
				answered bool
				advice   string
			}{
				{"console", true, []string{"--db", path}, false, "connect to the running server with ssh"},
				{"backup", false, []string{"--db", path, "backup", filepath.Join(t.TempDir(), "copy.db")}, holder.answered, "serve --backup-dir DIR keeps checked backups"},
				{"check", false, []string{"check", path}, holder.answered, "then try again"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					var stdin *os.File
					if tt.terminal {
						stdin = openTerminal(t)
					}
					res := runChild(t, stdin, tt.args...)
					if tt.answered {
						if res.code != 0 {
							t.Errorf("exit code %d, want 0 (answered by the holder); stderr:\n%s", res.code, res.stderr)
						}
						return
					}
					if res.code != 1 {
						t.Errorf("exit code %d, want 1; stderr:\n%s", res.code, res.stderr)
					}
					for _, want := range []string{path, "is in use by another apiscopes process", "close that process", tt.advice} {
						if !strings.Contains(res.stderr, want) {
							t.Errorf("message does not say %q:\n%s", want, res.stderr)
						}
					}
					if res.elapsed >= 1500*time.Millisecond {
						t.Errorf("the second process took %v to give up, want under 1.5 s", res.elapsed)
					}
				})
			}
			if _, err := st.CreateApp(t.Context(), testAdmin, "still here", scopes.Full()); err != nil {
				t.Errorf("the process holding the database: %v", err)
			}
		})
	}
}

// TestForeignOrDamagedDatabaseIsRefusedUntouched gives the console, backup
// and check files that are not sound apiscopes databases: each gets a clear
// message naming the file, and the file keeps every byte.
func TestForeignOrDamagedDatabaseIsRefusedUntouched(t *testing.T) {
	pageSize := os.Getpagesize()
	// damage changes every page holding the Marketing record (old copies
	// of it linger in free pages), where it holds it.
	damage := func(t *testing.T, path string, with func(page []byte, i int)) {
		t.Helper()
		makeDatabase(t, path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		record := []byte(`"name":"Marketing"`)
		for from := 0; ; {
			i := bytes.Index(data[from:], record)
			if i < 0 {
				break
			}
			i += from
			if i < 2*pageSize {
				t.Fatalf("the record is at %d, inside the meta pages", i)
			}
			p := i / pageSize * pageSize
			with(data[p:p+pageSize], i-p)
			from = i + 1
		}
		writeTestFile(t, path, data)
	}

	tests := []struct {
		name string
		make func(t *testing.T, path string)
		says string
	}{
		{"a shopping list", func(t *testing.T, path string) {
			writeTestFile(t, path, bytes.Repeat([]byte("eggs, milk, bread\n"), 500))
		}, "not an apiscopes database"},
		{"another program's bbolt file", func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bbolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("settings"))
				return b.Put([]byte("theme"), []byte("dark"))
			})
			db.Close()
		}, "not an apiscopes database"},
		{"a garbled record", func(t *testing.T, path string) {
			damage(t, path, func(page []byte, i int) { page[i+7] = '!' })
		}, "is damaged"},
		{"a garbled page header", func(t *testing.T, path string) {
			damage(t, path, func(page []byte, _ int) { page[8], page[9] = 0xff, 0xff })
		}, "is damaged"},
		{"a garbled root page", func(t *testing.T, path string) {
			garbleMetaTarget(t, path, pageSize, 32)
		}, "is damaged: unreadable page"},
		{"a garbled freelist page", func(t *testing.T, path string) {
			garbleMetaTarget(t, path, pageSize, 48)
		}, "should hold the freelist"},
		{"a lost index entry", func(t *testing.T, path string) {
			// A valid bbolt file whose digest index lost a key: only the
			// store's own invariants can see it.
			makeDatabase(t, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bbolt.Tx) error {
				c := tx.Bucket([]byte("digests")).Cursor()
				k, _ := c.First()
				return tx.Bucket([]byte("digests")).Delete(k)
			})
			db.Close()
		}, "has no entry in the digest index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "given.db")
			tt.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			check := func(who string, code int, msg string) {
				t.Helper()
				if code != 1 || !strings.Contains(msg, path) || !strings.Contains(msg, tt.says) {
					t.Errorf("%s: exit %d, message %q; want 1 and a message naming the file that says %q", who, code, msg, tt.says)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Fatalf("%s changed the file it refused", who)
				}
			}
			// The console first, in this process: a refused file must not stay
			// locked, or backup and check would then say it is in use.
			// It loads the index and then checks the file behind it: damage
			// the load does not meet is found by that check, after which the
			// console writes nothing.
			st, code, msg := openStore(path, io.Discard) // what the console runs once it has a terminal
			if st != nil {
				<-st.Store().Checked()
				if err := st.Store().Damaged(); err != nil {
					code, msg = ExitRefused, "apiscopes: "+err.Error()
				}
				st.Close()
			}
			check("console", code, msg)
			code, _, msg = runCmd(t, "--db", path, "backup", filepath.Join(t.TempDir(), "copy.db"))
			check("backup", code, msg)
			code, _, msg = runCmd(t, "check", path)
			check("check", code, msg)
		})
	}
}

// garbleMetaTarget makes a database and garbles the type of the page its
// current meta page points to at offset field: 32 is the root bucket's page,
// 48 the freelist's (bbolt's meta layout, after the 16-byte page header).
func garbleMetaTarget(t *testing.T, path string, pageSize, field int) {
	t.Helper()
	makeDatabase(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	meta := 0
	if binary.LittleEndian.Uint64(data[pageSize+64:]) > binary.LittleEndian.Uint64(data[64:]) {
		meta = pageSize // the second meta page has the newer transaction
	}
	id := int(binary.LittleEndian.Uint64(data[meta+field:]))
	if id < 2 || (id+1)*pageSize > len(data) {
		t.Fatalf("meta field %d points at page %d", field, id)
	}
	data[id*pageSize+8], data[id*pageSize+9] = 0xff, 0xff
	writeTestFile(t, path, data)
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apiscopes.db")
	makeDatabase(t, path)
	before, _ := os.ReadFile(path)

	out := filepath.Join(dir, "backup.db")
	code, stdout, stderr := runCmd(t, "--db", path, "backup", out)
	if code != 0 || !strings.Contains(stdout, "Backed up "+path+" to "+out) || !strings.Contains(stdout, "checked") {
		t.Fatalf("backup = %d, %q, %q", code, stdout, stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("backup changed the database")
	}
	code, stdout, stderr = runCmd(t, "check", out)
	if code != 0 || !strings.Contains(stdout, "is sound: 3 apps") {
		t.Errorf("check backup = %d, %q, %q", code, stdout, stderr)
	}

	// The subcommand takes --db after its name too, and - for stdout.
	var buf bytes.Buffer
	code = run([]string{"backup", "--db", path, "-"}, strings.NewReader(""), &buf, &bytes.Buffer{})
	if code != 0 || buf.Len() == 0 {
		t.Fatalf("backup - = %d with %d bytes", code, buf.Len())
	}
	streamed := filepath.Join(dir, "streamed.db")
	writeTestFile(t, streamed, buf.Bytes())
	if err := bolt.CheckFile(t.Context(), streamed); err != nil {
		t.Errorf("the streamed backup: %v", err)
	}

	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--db", path, "backup"}, 2, "wants 1 argument(s), got 0"},
		{[]string{"--db", path, "backup", "a", "b"}, 2, `unexpected argument "b": it takes at most 1`},
		{[]string{"--db", path, "backup", path}, 1, "would overwrite the database it copies"},
		{[]string{"--db", filepath.Join(dir, "none.db"), "backup", out}, 1, "there is no database at " + filepath.Join(dir, "none.db")},
		{[]string{"check", "a", "b"}, 2, `unexpected argument "b": it takes at most 1`},
	} {
		code, _, stderr := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.err) {
			t.Errorf("apiscopes %v = %d, %q; want %d, %q", tt.args, code, stderr, tt.code, tt.err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("backup of a missing database created one")
	}
}
