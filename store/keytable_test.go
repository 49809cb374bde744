package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"apiscopes/scopes"
)

func testDigest(i int) [sha256.Size]byte {
	return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
}

func TestKeyTable(t *testing.T) {
	const n = 1000
	app := newAppSlot()
	tbl := newKeyTable(n, 0x9e3779b97f4a7c15)
	if len(tbl.recs)*maxLoadNum/maxLoadDen < n {
		t.Fatalf("a table for %d keys has %d records", n, len(tbl.recs))
	}
	for i := range n {
		tbl.put(testDigest(i), newKeySlot(Key{ID: uint64(i + 1)}, app), int64(i))
	}
	tbl.put(testDigest(7), newKeySlot(Key{ID: 700}, app), 70) // a second put replaces the first
	if tbl.used != n {
		t.Errorf("used = %d, want %d", tbl.used, n)
	}
	for i := range n {
		d := testDigest(i)
		r := tbl.find(&d)
		want, used := uint64(i+1), int64(i)
		if i == 7 {
			want, used = 700, 70
		}
		if r == nil || r.key.ID != want || r.used.Load() != used || r.digest != d {
			t.Fatalf("find(digest %d) = %+v", i, r)
		}
	}
	for i := n; i < 2*n; i++ {
		if d := testDigest(i); tbl.find(&d) != nil {
			t.Fatalf("find(digest %d) found a key never put", i)
		}
	}
	seen := 0
	tbl.each(func(*keyRec) { seen++ })
	if seen != n {
		t.Errorf("each visited %d records, want %d", seen, n)
	}
	if d := testDigest(1); newKeyTable(0, 1).find(&d) != nil {
		t.Error("an empty table found a key")
	}
}

// keysIn creates n keys in a new app of s, returning their texts and ids.
func keysIn(t *testing.T, s *Store, name string, n int) ([]string, []uint64) {
	t.Helper()
	app, err := s.CreateApp(t.Context(), benchAdmin, name, scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	texts, ids := make([]string, n), make([]uint64, n)
	for i := range n {
		text, key, err := s.CreateKey(t.Context(), benchAdmin, app.ID, name+" key "+string(rune('A'+i%26))+string(rune('a'+i/26)))
		if err != nil {
			t.Fatal(err)
		}
		texts[i], ids[i] = text, key.ID
	}
	return texts, ids
}

// Keys added, rolled and deleted one change at a time go through the
// overlay and several merges into the base; Verify sees each as it is.
func TestIndexOverlayAndMerges(t *testing.T) {
	s, err := New(NewMemory(), WithRandom(testRandom(3)), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	texts, ids := keysIn(t, s, "Risk", 300) // mergeAt(0) is 64: at least four merges
	for i := 0; i < len(ids); i += 3 {
		if err := s.DeleteKey(t.Context(), benchAdmin, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	rolled, _, _, err := s.RollKey(t.Context(), benchAdmin, ids[1], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st := s.ix.cur.Load()
	t.Logf("base %d records, overlay %d", st.base.used, st.over.used)
	for i, text := range texts {
		d, _ := s.Verify(text, scopes.ModelDeploy)
		if want := i%3 != 0; d.Allowed != want || want && d.Key().ID != ids[i] {
			t.Errorf("key %d: %v (key %d), want allowed %v", i, d, d.Key().ID, want)
		}
	}
	if d, _ := s.Verify(rolled, scopes.ModelDeploy); !d.Allowed {
		t.Errorf("the rolled key's successor: %v", d)
	}
	if d, _ := s.Verify(texts[1], scopes.ModelDeploy); !d.Allowed || d.Key().DeleteAt.IsZero() {
		t.Errorf("the rolled key in its grace: %v, delete at %v", d, d.Key().DeleteAt)
	}
}

// A use is noted in the key's table record, and records are copied when a
// change rebuilds a table. No use is lost to a copy, however checks and
// changes interleave: each key's last use is the time of its last check,
// though every check here runs while changes rebuild the tables.
func TestUsesSurviveRebuilds(t *testing.T) {
	var clk atomic.Int64
	clk.Store(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC).UnixNano())
	rec := &recorder{r: testRandom(4)}
	s, err := New(NewMemory(), WithRandom(rec), WithMaintenance(0),
		WithClock(func() time.Time { return time.Unix(0, clk.Load()).UTC() }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var specs []AppSpec
	for i := range 10 {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("Checked %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy),
			Keys: seqNames(100)})
	}
	if _, err := s.CreateApps(t.Context(), benchAdmin, specs); err != nil {
		t.Fatal(err)
	}
	texts := rec.keys(t)
	churn, err := s.CreateApp(t.Context(), benchAdmin, "Churn", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	merges := func() *keyTable { return s.ix.cur.Load().base }
	firstBase := merges()

	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() { // changes that rebuild the overlay, and every few dozen the base
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, key, err := s.CreateKey(t.Context(), benchAdmin, churn.ID, fmt.Sprintf("churn %d", i))
			if err == nil && i%2 == 1 {
				err = s.DeleteKey(t.Context(), benchAdmin, key.ID)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	last := make([]int64, len(texts))
	ids := make([]uint64, len(texts))
	for pass := 0; pass < 3 || merges() == firstBase; pass++ {
		for i, text := range texts {
			at := clk.Add(1) // only this loop moves the clock: the check notes this time
			d, _ := s.Verify(text, scopes.ModelDeploy)
			if !d.Allowed {
				t.Fatalf("key %d: %v", i, d)
			}
			last[i], ids[i] = at, d.Key().ID
		}
	}
	close(stop)
	<-stopped
	lost := 0
	for i, id := range ids {
		if got := s.ix.lastUsed(id); got != last[i] {
			lost++
			if lost <= 3 {
				t.Errorf("key %d: last use %v, want %v", i, time.Unix(0, got).UTC(), time.Unix(0, last[i]).UTC())
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d keys lost their last use", lost, len(ids))
	}
}

// A check that found its key in a state a commit has since replaced, and
// notes the use only now, notes it in the state that replaced it: the
// commit's carry-over has already run.
func TestLateNoteReachesTheNewState(t *testing.T) {
	s, err := New(NewMemory(), WithRandom(testRandom(5)), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	texts, ids := keysIn(t, s, "Late", 3)
	digest := keyDigest(texts[1])
	st := s.ix.cur.Load()
	r := st.lookup(&digest)
	if r == nil {
		t.Fatal("the key is not in the index")
	}
	if err := s.DeleteKey(t.Context(), benchAdmin, ids[0]); err != nil { // rebuilds the overlay, which holds all three
		t.Fatal(err)
	}
	if s.ix.cur.Load() == st || s.ix.cur.Load().lookup(&digest) == r {
		t.Fatal("the change did not replace the key's record")
	}
	const at = int64(1_800_000_000_000_000_000)
	s.ix.note(st, r, &digest, at)
	if got := s.ix.lastUsed(ids[1]); got != at {
		t.Errorf("last use %d, want %d", got, at)
	}
}
