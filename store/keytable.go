package store

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// keyTable is an immutable hash table of key slots by digest, for Verify:
// open addressing with linear probing over records of one cache line, the
// digest first. A check among many keys reads one record where a Go map
// reads its control word and then the slot, two reads from memory one
// after the other: the larger part of a check.
//
// A table is built, then published and never changed, so readers need no
// lock. Digests are SHA-256 sums, evenly spread; a per-index odd multiplier
// picks where each lands, so where the runs of full records lie differs
// from process to process.
type keyTable struct {
	recs []keyRec
	mult uint64 // odd
	used int    // full records, removals included
}

// keyRec is one record of 64 bytes: a digest, the key's latest use, its
// app's slot and a pointer to the key. A record whose app is nil is empty;
// one whose app is removedKey says, in an overlay, that the key is gone.
// Once the table is published only used changes, by Verify: it sits beside
// the digest, so noting a use costs no read from memory beyond the
// lookup's.
type keyRec struct {
	digest [sha256.Size]byte
	used   atomic.Int64 // unix nanoseconds; 0: never (see noteUse)
	keySlot
}

// removedKey is the app of a removal in an overlay: it never holds an app,
// so Verify finds no key there.
var removedKey = &appSlot{}

// maxLoad is the share of a table's records that may be full, as a
// fraction: at 4/5 a found key is on average two or three records (in a
// row) from where its digest lands.
const maxLoadNum, maxLoadDen = 4, 5

// newKeyTable makes an empty table with room for n records. It has
// exactly as many records as that takes, not the next power of two: at a
// million keys a power of two would hold up to 1.6 times the records.
func newKeyTable(n int, mult uint64) *keyTable {
	return &keyTable{recs: make([]keyRec, max(8, n*maxLoadDen/maxLoadNum+1)), mult: mult}
}

// home is where the probe for digest d starts: the digest's first word,
// scrambled, scaled to the table's length (a multiply, not a division).
func (t *keyTable) home(d *[sha256.Size]byte) uint64 {
	hi, _ := bits.Mul64(binary.LittleEndian.Uint64(d[:8])*t.mult, uint64(len(t.recs)))
	return hi
}

// next is the record after i, wrapping at the table's end.
func (t *keyTable) next(i uint64) uint64 {
	if i++; i == uint64(len(t.recs)) {
		return 0
	}
	return i
}

// find is the record of digest d, or nil.
func (t *keyTable) find(d *[sha256.Size]byte) *keyRec {
	if t.used == 0 {
		return nil
	}
	for i := t.home(d); ; i = t.next(i) {
		r := &t.recs[i]
		if r.app == nil {
			return nil
		}
		if sameDigest(&r.digest, d) {
			return r
		}
	}
}

// sameDigest is a == b, in four word compares where == on arrays calls
// the runtime's memequal.
func sameDigest(a, b *[sha256.Size]byte) bool {
	le := binary.LittleEndian
	return le.Uint64(a[:8]) == le.Uint64(b[:8]) && le.Uint64(a[8:16]) == le.Uint64(b[8:16]) &&
		le.Uint64(a[16:24]) == le.Uint64(b[16:24]) && le.Uint64(a[24:]) == le.Uint64(b[24:])
}

// put sets the record of digest d, while the table is being built; slot's
// app must not be nil. It never grows the table: newKeyTable's n bounds
// how many digests it may hold.
func (t *keyTable) put(d [sha256.Size]byte, slot keySlot, used int64) {
	for i := t.home(&d); ; i = t.next(i) {
		r := &t.recs[i]
		if r.app == nil {
			t.used++
			if t.used*maxLoadDen > len(t.recs)*maxLoadNum {
				panic("store: key table over its load")
			}
			r.digest, r.keySlot = d, slot
			r.used.Store(used)
			return
		}
		if r.digest == d {
			r.keySlot = slot
			r.used.Store(used)
			return
		}
	}
}

// each calls f for every full record.
func (t *keyTable) each(f func(r *keyRec)) {
	for i := range t.recs {
		if r := &t.recs[i]; r.app != nil {
			f(r)
		}
	}
}
