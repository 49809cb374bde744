package bolt

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// A file whose records do not hold together, opened to check behind its
// index: it opens (the index loads), then its check finds the damage, and
// from then on every check of a key it holds answers damaged, never
// allowed, the store is not ready, every change is refused, and the file
// keeps every byte.
func TestCheckBehindFindsDamageAndWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "damaged.db")
	st := openAt(t, path)
	app := mustApp(t, st, "Marketing", scopes.Full())
	text, _ := mustKey(t, st, app.ID, "ci")
	st.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error { // a sound bbolt file whose digest index lost the key
		k, _ := tx.Bucket([]byte("digests")).Cursor().First()
		return tx.Bucket([]byte("digests")).Delete(k)
	})
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	e, err := Open(path, Options{SkipPageCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.New(e, store.WithOpenCheck(store.CheckBehind), store.WithName(path),
		store.WithClock(storetest.NewClock(storetest.Epoch).Now))
	if err != nil {
		t.Fatalf("open to check behind: %v", err)
	}
	<-st.Checked()
	if err := st.Damaged(); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("Damaged = %v, want the digest index's damage", err)
	}
	if d := st.Verify(text, scopes.ModelDeploy, netip.Addr{}); d.Allowed || d.Reason != store.Damaged || !d.Reason.Failed() {
		t.Errorf("Verify on a damaged file = %v %s, want damaged", d.Allowed, d.Reason)
	}
	if st.Ready() {
		t.Error("a store whose file is damaged says it is ready")
	}
	if _, err := st.CreateApp(context.Background(), admin, "Another", scopes.Full()); !errors.Is(err, store.ErrDamaged) {
		t.Errorf("CreateApp on a damaged file = %v, want ErrDamaged", err)
	}
	if err := st.Maintain(context.Background()); err != nil {
		t.Errorf("Maintain = %v", err)
	}
	st.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the damaged file was changed")
	}
}

// A sound file opened to check behind its index: checks are answered
// before the check ends, changes are made once it has passed.
func TestCheckBehindPassesThenWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sound.db")
	st := openAt(t, path)
	app := mustApp(t, st, "Marketing", scopes.Full())
	text, _ := mustKey(t, st, app.ID, "ci")
	st.Close()

	e, err := Open(path, Options{SkipPageCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.New(e, store.WithOpenCheck(store.CheckBehind), store.WithName(path), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if d := st.Verify(text, scopes.ModelDeploy, netip.Addr{}); !d.Allowed {
		t.Errorf("Verify = %s, want allowed from the index", d.Reason)
	}
	if _, err := st.CreateApp(context.Background(), admin, "Another", scopes.Full()); err != nil { // waits for the check
		t.Fatalf("CreateApp after the check: %v", err)
	}
	if st.Checking() || st.Damaged() != nil || !st.Ready() {
		t.Errorf("after a change: checking %v, damaged %v, ready %v", st.Checking(), st.Damaged(), st.Ready())
	}
}

// One command's change on a free file checks the trail's tail: a file
// whose newest event was altered is refused before anything is written.
func TestCheckTailRefusesAnAlteredNewestEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tail.db")
	st := openAt(t, path)
	mustApp(t, st, "Marketing", scopes.Full())
	mustApp(t, st, "Risk", scopes.Full())
	st.Close()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k, v := b.Cursor().Last()
		return b.Put(k, bytes.Replace(v, []byte("Risk"), []byte("Rusk"), 1))
	})
	db.Close()
	before, _ := os.ReadFile(path)

	_, err = OpenStore(path, Options{SkipPageCheck: true}, store.WithOpenCheck(store.CheckTail))
	if !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("open with the tail's check = %v, want ErrDamaged", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused file was changed")
	}
	// A sound file passes it.
	sound := filepath.Join(t.TempDir(), "sound.db")
	st = openAt(t, sound)
	mustApp(t, st, "Marketing", scopes.Full())
	st.Close()
	st, err = OpenStore(sound, Options{SkipPageCheck: true}, store.WithOpenCheck(store.CheckTail))
	if err != nil {
		t.Fatalf("a sound file with the tail's check: %v", err)
	}
	st.Close()
}
