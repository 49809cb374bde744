package store

import "testing"

// Compact keeps one of each condition: the same key and value asked twice
// is checked once, while conditions that differ only where a key and a
// value meet, or between absent and empty, all stay.
func TestCompactConditions(t *testing.T) {
	var b Batch
	b.Require(TableMeta, []byte("seq"), []byte{0, 1})
	b.Require(TableMeta, []byte("seq"), []byte{0, 1})
	b.Require(TableApps, []byte("a\x00b"), []byte("c"))
	b.Require(TableApps, []byte("a"), []byte("b\x00c"))
	b.Require(TableApps, []byte("x"), nil)
	b.Require(TableApps, []byte("x"), []byte{})
	b.Compact()
	if len(b.Conds) != 5 {
		t.Errorf("%d conditions after Compact, want 5: %q", len(b.Conds), b.Conds)
	}
}
