package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

func TestOpenCreatesPrivateFolderAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "apiscopes")
	path := filepath.Join(dir, "apiscopes.db")
	st, err := OpenStore(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Name() != path || fileOf(st) != path {
		t.Errorf("the store names %q, its engine %q; want %q", st.Name(), fileOf(st), path)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s has mode %v, want %v", c.path, got, c.want)
		}
	}
}

func TestOpenReadOnlyNeedsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	if st, err := OpenStore(path, Options{ReadOnly: true}, store.ReadOnly()); err == nil {
		st.Close()
		t.Fatal("a read-only open of a missing file succeeded")
	}
	if exists(path) {
		t.Error("a read-only open created the file")
	}
}

// A second process opening a held database is told, within the lock
// timeout (a second by default), which file is busy and what to do; the
// holder is unharmed. bbolt's lock is per open file, so a second open in
// this process waits as another process would.
func TestOpenLocked(t *testing.T) {
	st := newStore(t)
	start := time.Now()
	st2, err := OpenStore(fileOf(st), Options{})
	elapsed := time.Since(start)
	if err == nil {
		st2.Close()
		t.Fatal("a second open of a held database succeeded")
	}
	var le *store.LockedError
	if !errors.Is(err, store.ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LockedError", err)
	}
	if le.Path != fileOf(st) || !strings.Contains(err.Error(), fileOf(st)) || !strings.Contains(err.Error(), "close that process") {
		t.Errorf("error %q does not name %s and what to do", err, fileOf(st))
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("the second open gave up after %v, want within 1.5s", elapsed)
	}
	if _, err := st.CreateApp(t.Context(), admin, "", scopes.Full()); err != nil {
		t.Errorf("the holder of the lock: %v", err)
	}
	// A shorter timeout is honoured, and a closed database opens at once.
	if _, err := OpenStore(fileOf(st), Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("with a 50ms timeout: %v", err)
	}
	st.Close()
	st2, err = OpenStore(fileOf(st), Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("open after Close: %v", err)
	}
	st2.Close()
}

// damage writes a database at path and changes every page holding the
// Marketing record (old copies of it linger in free pages) with with.
func damage(t *testing.T, path string, with func(page []byte, i int)) {
	t.Helper()
	makeDatabase(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
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
	writeFile(t, path, data)
}

// metaTarget is the page the newest meta page points to at offset field:
// 32 is the root bucket's page, 48 the freelist's (bbolt's meta layout,
// after the 16-byte page header).
func metaTarget(t *testing.T, data []byte, field int) int {
	t.Helper()
	pageSize := os.Getpagesize()
	meta := 0
	if binary.LittleEndian.Uint64(data[pageSize+64:]) > binary.LittleEndian.Uint64(data[64:]) {
		meta = pageSize // the second meta page has the newer transaction
	}
	id := int(binary.LittleEndian.Uint64(data[meta+field:]))
	if id < 2 || (id+1)*pageSize > len(data) {
		t.Fatalf("meta field %d points at page %d", field, id)
	}
	return id
}

func garbleMetaTarget(t *testing.T, path string, field int) {
	t.Helper()
	makeDatabase(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := metaTarget(t, data, field)
	pageSize := os.Getpagesize()
	data[id*pageSize+8], data[id*pageSize+9] = 0xff, 0xff
	writeFile(t, path, data)
}

// freeAPageInUse writes a database whose freelist names the root page,
// which is also in use: every record reads well, and only bbolt's check
// of the pages sees it.
func freeAPageInUse(t *testing.T, path string, toSweep bool) {
	t.Helper()
	st, err := OpenStore(path, Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	seedStore(t, st)
	apps, _ := st.Apps(t.Context())
	for _, a := range apps[1:] { // free some pages
		if toSweep { // leaving digest entries to sweep at the next open
			st.DeleteApp(t.Context(), admin, a.ID)
			continue
		}
		keys, _ := st.Keys(t.Context(), a.ID)
		for _, k := range keys {
			st.DeleteKey(t.Context(), admin, k.ID)
		}
	}
	st.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()
	free := metaTarget(t, data, 48) * pageSize
	if n := binary.LittleEndian.Uint16(data[free+10:]); n == 0 || n == 0xffff {
		t.Fatalf("the freelist holds %d pages", n)
	}
	root := metaTarget(t, data, 32)
	binary.LittleEndian.PutUint64(data[free+16:], uint64(root)) // the first free page: the root
	writeFile(t, path, data)
}

// TestOpenRefusesWhatIsNotASoundDatabase: a file that is not an apiscopes
// database, or one whose pages or records are damaged, is refused with a
// message naming it, keeps every byte, and is not left locked.
func TestOpenRefusesWhatIsNotASoundDatabase(t *testing.T) {
	garbage := bytes.Repeat([]byte("This is a shopping list, not a database.\n"), 200)[:8192]
	random := make([]byte, 8192)
	storetest.Random(3).Read(random)
	otherBolt := func(bucket, key, value string) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucket([]byte(bucket))
				if err != nil {
					return err
				}
				return b.Put([]byte(key), []byte(value))
			})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
	}
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		err  error
		says string
	}{
		{"text", func(t *testing.T, path string) { writeFile(t, path, garbage) }, store.ErrNotDatabase, "not an apiscopes database"},
		{"random bytes", func(t *testing.T, path string) { writeFile(t, path, random) }, store.ErrNotDatabase, "not an apiscopes database"},
		// bbolt refuses files shorter than two pages with an error of its own.
		{"one byte", func(t *testing.T, path string) { writeFile(t, path, []byte("x")) }, store.ErrNotDatabase, "not an apiscopes database"},
		{"4 KiB of text", func(t *testing.T, path string) { writeFile(t, path, garbage[:4096]) }, store.ErrNotDatabase, "not an apiscopes database"},
		{"6000 bytes of text", func(t *testing.T, path string) { writeFile(t, path, garbage[:6000]) }, store.ErrNotDatabase, "not an apiscopes database"},
		{"4 KiB of zeros", func(t *testing.T, path string) { writeFile(t, path, make([]byte, 4096)) }, store.ErrNotDatabase, "not an apiscopes database"},
		{"another program's bbolt file", otherBolt("settings", "theme", "dark"), store.ErrNotDatabase, "another program's data"},
		{"another schema", otherBolt("meta", "schema", "otherapp/1"), store.ErrNotDatabase, "not an apiscopes database"},
		{"a newer apiscopes", otherBolt("meta", "schema", "apiscopes/99"), store.ErrNewerSchema, "upgrade apiscopes"},
		{"a garbled record", func(t *testing.T, path string) {
			damage(t, path, func(page []byte, i int) { page[i+7] = '!' })
		}, store.ErrDamaged, "is damaged"},
		{"a garbled page header", func(t *testing.T, path string) {
			damage(t, path, func(page []byte, _ int) { page[8], page[9] = 0xff, 0xff })
		}, store.ErrDamaged, "is damaged"},
		{"a garbled root page", func(t *testing.T, path string) { garbleMetaTarget(t, path, 32) }, store.ErrDamaged, "unreadable page"},
		{"a garbled freelist page", func(t *testing.T, path string) { garbleMetaTarget(t, path, 48) }, store.ErrDamaged, "should hold the freelist"},
		{"a page both free and in use", func(t *testing.T, path string) { freeAPageInUse(t, path, false) }, store.ErrDamaged, "bbolt: "},
		{"a lost index entry", func(t *testing.T, path string) {
			// A sound bbolt file whose digest index lost a key: only the
			// store's own invariants can see it.
			makeDatabase(t, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bbolt.Tx) error {
				k, _ := tx.Bucket([]byte("digests")).Cursor().First()
				return tx.Bucket([]byte("digests")).Delete(k)
			})
			db.Close()
		}, store.ErrDamaged, "has no entry in the digest index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "given.db")
			tt.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, how := range []struct {
				name string
				open func() error
			}{
				{"a writer", func() error {
					st, err := OpenStore(path, Options{Timeout: 100 * time.Millisecond})
					if err == nil {
						st.Close()
					}
					return err
				}},
				{"a reader", func() error {
					st, err := OpenStore(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond}, store.ReadOnly())
					if err == nil {
						st.Close()
					}
					return err
				}},
				{"CheckFile", func() error { return CheckFile(t.Context(), path) }},
			} {
				err := how.open()
				if err == nil {
					t.Fatalf("%s opened it", how.name)
				}
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.says) {
					t.Errorf("%s: %v; want %v naming the file and saying %q", how.name, err, tt.err, tt.says)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Fatalf("%s changed the file it refused", how.name)
				}
			}
			// The refused file is not left locked.
			if db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 100 * time.Millisecond, ReadOnly: true}); err == nil {
				db.Close()
			} else if errors.Is(err, bolterrors.ErrTimeout) {
				t.Errorf("the file is still locked after it was refused: %v", err)
			}
		})
	}
}

// Store.Check on a file runs bbolt's check of every page as well as the
// store's own: a page both free and in use reads well record by record.
func TestCheckRunsThePageCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "given.db")
	freeAPageInUse(t, path, false)
	st, err := OpenStore(path, Options{SkipPageCheck: true}, store.WithMaintenance(0))
	if err != nil {
		t.Fatalf("with the page check skipped: %v", err)
	}
	defer st.Close()
	if _, err := st.Apps(t.Context()); err != nil {
		t.Fatalf("the records read badly: %v", err)
	}
	err = st.Check(t.Context())
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "bbolt: ") || !strings.Contains(err.Error(), path) {
		t.Errorf("Check = %v, want bbolt's page check to find the damage", err)
	}
}

// A change that makes bbolt panic on a damaged page (here: freeing a page
// its freelist already holds) fails as damage instead of ending the
// process, and leaves the file as it was.
func TestDamageMetByAChangeIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "given.db")
	freeAPageInUse(t, path, true)
	before, _ := os.ReadFile(path)
	st, err := OpenStore(path, Options{SkipPageCheck: true}, store.WithMaintenance(0))
	if err == nil {
		st.Close()
		t.Fatal("the store opened and swept a damaged file")
	}
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), "unreadable page") {
		t.Errorf("open = %v, want the sweep at open to meet the damage", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the failed change reached the file")
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		xdg  string
		want string
	}{
		{"xdg set", "/srv/data", "/srv/data/apiscopes/apiscopes.db"},
		{"xdg unset", "", filepath.Join(home, ".local", "share", "apiscopes", "apiscopes.db")},
		{"xdg relative", "data", filepath.Join(home, ".local", "share", "apiscopes", "apiscopes.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_DATA_HOME", tt.xdg)
			if tt.xdg == "" {
				os.Unsetenv("XDG_DATA_HOME") // restored by t.Setenv's cleanup
			}
			got, err := DefaultPath()
			if err != nil || got != tt.want {
				t.Errorf("DefaultPath() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("no home", func(t *testing.T) {
		t.Setenv("XDG_DATA_HOME", "")
		t.Setenv("HOME", "")
		if got, err := DefaultPath(); err == nil {
			t.Errorf("DefaultPath() = %q with no HOME and no XDG_DATA_HOME; want an error", got)
		}
	})
}
