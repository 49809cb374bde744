//go:build linux

package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/store"
)

// TestPageFileReadsAsBboltDoes: for every key of files of several page
// sizes, with inline buckets, trees several levels deep, values that
// overflow their page, nested buckets and empty ones, and for keys around
// them that are not there, the quick reader finds exactly what bbolt's
// Bucket.Get finds.
func TestPageFileReadsAsBboltDoes(t *testing.T) {
	for _, pageSize := range []int{1024, 4096, 16384} {
		t.Run(fmt.Sprint(pageSize), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pages.db")
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{PageSize: pageSize})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(uint64(pageSize), 1))
			sizes := map[string]int{"tiny": 3, "small": 5, "deep": 4000, "overflow": 40, "empty": 0}
			keys := map[string][][]byte{}
			err = db.Update(func(tx *bbolt.Tx) error {
				for name, n := range sizes {
					b, err := tx.CreateBucket([]byte(name))
					if err != nil {
						return err
					}
					for i := range n {
						k := fmt.Appendf(nil, "%08x-%d", r.Uint32(), i)
						v := make([]byte, r.IntN(64))
						if name == "overflow" {
							v = make([]byte, r.IntN(5*pageSize))
						}
						for j := range v {
							v[j] = byte(r.Uint32())
						}
						if err := b.Put(k, v); err != nil {
							return err
						}
						keys[name] = append(keys[name], k)
					}
					if name == "small" {
						if _, err := b.CreateBucket([]byte("nested")); err != nil {
							return err
						}
						keys[name] = append(keys[name], []byte("nested"))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A second transaction, so that the two meta pages differ.
			db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("small")).Put([]byte("late"), []byte("2")) })
			keys["small"] = append(keys["small"], []byte("late"))

			db.Close() // bbolt now reads as the quick reader does: under a shared lock
			if db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true}); err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			compare(t, db, path, keys)
		})
	}
}

// compare asks the quick reader and bbolt for every key of every bucket,
// and for keys that are not there.
func compare(t *testing.T, db *bbolt.DB, path string, keys map[string][][]byte) {
	t.Helper()
	p, err := openPages(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	asked := 0
	db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"tiny", "small", "deep", "overflow", "empty", "missing"} {
			var questions [][]byte
			for _, k := range keys[name] {
				questions = append(questions, k, append(bytes.Clone(k), 0), k[:len(k)-1])
			}
			questions = append(questions, nil, []byte{}, []byte{0}, []byte{0xff, 0xff})
			b := tx.Bucket([]byte(name))
			if name == "deep" && b.Stats().Depth < 2 {
				t.Fatalf("the deep bucket is %d level deep", b.Stats().Depth)
			}
			if name == "tiny" && b.Root() != 0 {
				t.Fatal("the tiny bucket is not inline")
			}
			for _, k := range questions {
				var want []byte
				if b != nil && len(k) > 0 {
					want = b.Get(k)
				}
				got, err := p.Get(store.Table(name), k)
				if err != nil {
					t.Fatalf("%s[%q]: %v", name, k, err)
				}
				if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("%s[%q]: the quick reader found %d bytes, bbolt %d", name, k, len(got), len(want))
				}
				asked++
			}
		}
		return nil
	})
	if asked < 12_000 {
		t.Errorf("only %d questions asked", asked)
	}
}

// TestPageFileFallsBackOnAnOddFile: a newest meta page that fails its
// checksum is passed over for the older one, as bbolt does; pages that do
// not hold together, a file of another format and one too short are errOdd,
// for bbolt to judge.
func TestPageFileFallsBackOnAnOddFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		db.Update(func(tx *bbolt.Tx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("b"))
			return b.Put([]byte("k"), []byte(v))
		})
	}
	put("old")
	put("new")
	db.Close()
	data := mustRead(t, path)
	ps := os.Getpagesize()
	newest := 0
	if ne.Uint64(data[ps+boltPageHeader+48:]) > ne.Uint64(data[boltPageHeader+48:]) {
		newest = ps
	}
	data[newest+boltPageHeader+30] ^= 0xff // inside the checksummed fields
	os.WriteFile(path, data, 0o600)
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	db.View(func(tx *bbolt.Tx) error { want = bytes.Clone(tx.Bucket([]byte("b")).Get([]byte("k"))); return nil })
	db.Close()
	p, err := openPages(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Get("b", []byte("k"))
	p.Close()
	if err != nil || string(got) != string(want) || string(want) != "old" {
		t.Errorf("with the newest meta page garbled: %q, %v; bbolt reads %q", got, err, want)
	}

	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"text":  bytes.Repeat([]byte("eggs, milk\n"), 1000),
		"short": data[:100],
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, content, 0o600)
		if _, err := openPages(path); !errors.Is(err, errOdd) {
			t.Errorf("%s: %v", name, err)
		}
	}
	pages := filepath.Join(dir, "pages")
	data = mustRead(t, path)
	for off := 2 * ps; off+ps <= len(data); off += ps {
		data[off] ^= 0xff // every page's id
	}
	os.WriteFile(pages, data, 0o600)
	p, err = openPages(pages)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Get("b", []byte("k")); !errors.Is(err, errOdd) {
		t.Errorf("garbled pages: %v", err)
	}
}
