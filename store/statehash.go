package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
)

// The state hash: a set hash over the live app and key records, the key
// policy and the approval requests waiting, so that
// every audit event can commit to the state its change produced, and a
// record changed behind the store's back shows against it.
//
// It is LtHash (Bellare and Micciancio's lattice hash, as Lewi et al. use it
// at Facebook): a record's element is a vector of stateLanes 16-bit lanes
// drawn from the record's canonical bytes; the set's hash is the lane-wise
// sum, modulo 2^16, of its records' elements. Adding or removing a record
// adds or subtracts its element: constant work per record changed, in any
// order. Finding records whose elements add up to another set's sum is a
// short-vector problem on a lattice of dimension 1024, not a collision of a
// plain sum or XOR of digests, which a few hundred chosen records forge.
//
// A record's element is its canonical bytes
//
//	table NUL len(key) as 2 bytes big-endian, key, value
//
// hashed with SHA-256 behind a domain prefix, then expanded to 2048 bytes
// as the AES-256-CTR keystream under that digest (zero IV): a hash
// expanded by a keyed permutation, as BLAKE2X expands its root hash. With
// AES instructions it costs about a fifth of SHAKE128's 2048 bytes, which
// keeps `check` near the cost of reading each record once. Lane i is bytes
// 2i and 2i+1, little-endian. The state's digest, which events and the
// head carry, is SHA-256 of the lanes so laid out, in hex.
const stateLanes = 1024

// stateSize is the lanes' size in bytes, as the meta table keeps them.
const stateSize = 2 * stateLanes

// stateDomain separates record elements from any other use of SHA-256.
const stateDomain = "apiscopes state record\x00"

// StateHash is the set hash of a set of records. The zero value is the
// hash of the empty set.
type StateHash struct {
	w [stateLanes / 4]uint64 // four lanes a word: lane 4j+i in bits 16i…16i+15 of w[j]
}

// swarHigh is the top bit of each of a word's four lanes.
const swarHigh = 0x8000_8000_8000_8000

// Add adds the record with this key and value of table t.
func (h *StateHash) Add(t Table, key, value []byte) { h.apply(recordDigest(t, key, value), false) }

// Remove takes the record with this key and value of table t out.
func (h *StateHash) Remove(t Table, key, value []byte) { h.apply(recordDigest(t, key, value), true) }

// keystreams holds the buffers elements are drawn into: a record's
// element is 2 KiB, which a change or a check should not allocate.
var keystreams = sync.Pool{New: func() any { return new([stateSize]byte) }}

// apply adds (or, with sub, subtracts) the element of the record whose
// digest is d.
func (h *StateHash) apply(d [sha256.Size]byte, sub bool) {
	block, err := aes.NewCipher(d[:])
	if err != nil {
		panic(fmt.Sprintf("store: AES-256 refused a 32-byte key: %v", err))
	}
	buf := keystreams.Get().(*[stateSize]byte)
	defer keystreams.Put(buf)
	clear(buf[:])
	var iv [aes.BlockSize]byte
	cipher.NewCTR(block, iv[:]).XORKeyStream(buf[:], buf[:])
	for j := range h.w {
		e := binary.LittleEndian.Uint64(buf[8*j:])
		if sub {
			h.w[j] = subLanes(h.w[j], e)
		} else {
			h.w[j] = addLanes(h.w[j], e)
		}
	}
}

// addLanes adds four lanes to four, each modulo 2^16: the low 15 bits of
// each lane add without carrying into the next lane, the top bit by
// exclusive or.
func addLanes(a, b uint64) uint64 {
	return ((a &^ swarHigh) + (b &^ swarHigh)) ^ ((a ^ b) & swarHigh)
}

// subLanes subtracts four lanes from four, each modulo 2^16: each lane's
// top bit is set in the minuend and cleared in the subtrahend, so no lane
// borrows from the next; the top bit is then put right.
func subLanes(a, b uint64) uint64 {
	return ((a | swarHigh) - (b &^ swarHigh)) ^ ((a ^ ^b) & swarHigh)
}

// recordDigest is SHA-256 of a record's canonical bytes, behind the
// domain prefix: the seed of its element, and its mark in the trail.
func recordDigest(t Table, key, value []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(stateDomain))
	h.Write([]byte(t))
	var n [3]byte
	binary.BigEndian.PutUint16(n[1:], uint16(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write(value)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// Bytes is the lanes, as the meta table keeps them.
func (h *StateHash) Bytes() []byte {
	b := make([]byte, stateSize)
	for j, w := range h.w {
		binary.LittleEndian.PutUint64(b[8*j:], w)
	}
	return b
}

func (h *StateHash) setBytes(b []byte) {
	for j := range h.w {
		h.w[j] = binary.LittleEndian.Uint64(b[8*j:])
	}
}

// ParseStateHash reads lanes that Bytes wrote.
func ParseStateHash(b []byte) (StateHash, error) {
	var h StateHash
	if len(b) != stateSize {
		return h, fmt.Errorf("damaged record: the state hash has %d bytes, not %d", len(b), stateSize)
	}
	h.setBytes(b)
	return h, nil
}

// Sum is the state's digest: SHA-256 of the lanes, in hex.
func (h *StateHash) Sum() string { return sumOf(h.Bytes()) }

// sumOf is the digest of lanes as Bytes lays them out.
func sumOf(lanes []byte) string {
	d := sha256.Sum256(lanes)
	return hex.EncodeToString(d[:])
}

// emptyState is the digest of the state of no records.
var emptyState = (&StateHash{}).Sum()

// statePlace names where a record of the apps or keys table lives, as the
// trail's marks name it: "app 3", "key 3/17".
func statePlace(t Table, key []byte) string {
	switch {
	case t == TableApps && len(key) == 8:
		return fmt.Sprintf("app %d", btoi(key))
	case t == TableKeys && len(key) == 16:
		return fmt.Sprintf("key %d/%d", btoi(key[:8]), btoi(key[8:]))
	case t == TableApprovals && len(key) == 8:
		return fmt.Sprintf("approval %d", btoi(key))
	case t == TableMeta && string(key) == string(metaPolicy):
		return "policy"
	}
	return fmt.Sprintf("%s %x", t, key)
}

// RecordMark is the mark an event carries for a record it wrote: its place
// ("app 3", "key 3/17"), then the digests (SHA-256 of the canonical bytes,
// in hex) of the record now and of the one it replaced, "-" for none: a
// record made, changed or removed. An app's removal takes its keys with it.
// The marks name the records each change wrote, so that `check` can name
// one changed since without an event, and they are the state hash's
// changes, so that a store follows the hash from the trail.
func RecordMark(t Table, key, now, was []byte) string {
	m := markEntry{place: statePlace(t, key)}
	if now != nil {
		d := recordDigest(t, key, now)
		m.now = &d
	}
	if was != nil {
		d := recordDigest(t, key, was)
		m.was = &d
	}
	return m.String()
}

// StateOf computes the state hash of a snapshot's records from scratch, as
// `check` does: for a migration, and for tools that rewrite a database
// (tests of tampering).
func StateOf(snap Snapshot) (StateHash, error) {
	var h StateHash
	for _, t := range stateTables {
		err := snap.Scan(t, nil, ScanOptions{}, func(k, v []byte) error {
			h.Add(t, k, v)
			return nil
		})
		if err != nil {
			return h, err
		}
	}
	v, err := snap.Get(TableMeta, metaPolicy)
	if v != nil {
		h.Add(TableMeta, metaPolicy, v)
	}
	return h, err
}

// stateTables are the tables whose every record the state hash covers;
// of the meta table, it covers the policy alone.
var stateTables = []Table{TableApps, TableKeys, TableApprovals}
