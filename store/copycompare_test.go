package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"apiscopes/scopes"
)

// The comparison a copy into a cluster ends with finds an entry changed,
// missing or added in the copy, in tables larger than one page of it.
func TestSameEntriesFindsADifference(t *testing.T) {
	ctx := context.Background()
	src := NewMemory()
	s, err := New(src, WithMaintenance(0), WithRandom(testRandom(3)))
	if err != nil {
		t.Fatal(err)
	}
	var specs []AppSpec
	for i := range 50 {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.Full(), Keys: seqNames(100)})
	}
	if _, err := s.CreateApps(ctx, Actor{Name: "Ada", Role: Admin}, specs); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copyOf := func() Engine {
		to := NewMemory()
		if _, err := Copy(ctx, src, to, nil); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		return to
	}
	var someKey, lastDigest []byte
	src.Read(ctx, func(snap Snapshot) error {
		snap.Scan(TableKeys, nil, ScanOptions{}, func(k, _ []byte) error {
			if someKey == nil {
				someKey = append([]byte(nil), k...)
			}
			return nil
		})
		return snap.Scan(TableDigests, nil, ScanOptions{Reverse: true}, func(k, _ []byte) error {
			lastDigest = append([]byte(nil), k...)
			return ErrStop
		})
	})
	for _, tc := range []struct {
		name, says string
		change     func(b *Batch)
	}{
		{"changed", "is not the source's", func(b *Batch) { b.Put(TableKeys, someKey, []byte(`{}`)) }},
		{"missing", "lacks the entry", func(b *Batch) { b.Delete(TableDigests, lastDigest) }},
		{"added", "the source does not", func(b *Batch) { b.Put(TableDigests, append(lastDigest, 1), make([]byte, 16)) }},
	} {
		to := copyOf()
		b := &Batch{}
		tc.change(b)
		if _, err := to.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
		err := src.Read(ctx, func(snap Snapshot) error { return sameEntries(ctx, snap, to) })
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: sameEntries = %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	to := copyOf()
	if err := src.Read(ctx, func(snap Snapshot) error { return sameEntries(ctx, snap, to) }); err != nil {
		t.Errorf("an exact copy: %v", err)
	}
}
