package cli

import (
	"bytes"
	"encoding/base64"
	"sort"

	"apiscopes/store"
)

// b64Prefix is what base64 makes of a key's "aps_" at one alignment of the
// key within the encoded bytes: the characters made of the prefix's bits
// alone, the same in the standard and the URL alphabets.
type b64Prefix struct {
	text  []byte
	skip  int // characters of the 4-character group before text
	align int // bytes of the 3-byte group before the key
}

// b64Prefixes are the three alignments: "YXBzX", "Fwc1" and "hcHNf".
var b64Prefixes = func() (out [3]b64Prefix) {
	for a := range out {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, a), store.KeyPrefix...))
		first, last := (8*a+5)/6, (8*a+8*len(store.KeyPrefix))/6
		out[a] = b64Prefix{text: []byte(enc[first:last]), skip: first, align: a}
	}
	return out
}()

// decodeBase64Key decodes the key whose encoded prefix p starts at
// data[pos], skipping line breaks, and reports it if its checksum holds.
func decodeBase64Key(data []byte, pos int, p b64Prefix, found func(hit)) {
	at := pos
	for range p.skip {
		at--
		for at >= 0 && isLineBreak(data[at]) {
			at--
		}
		if at < 0 {
			return
		}
	}
	var chars [76]byte
	n, end := 0, at
	for ; n < b64Len[p.align]; end++ {
		if end >= len(data) {
			return
		}
		if !isLineBreak(data[end]) {
			chars[n] = data[end]
			n++
		}
	}
	enc := base64.RawStdEncoding
	if bytes.ContainsAny(chars[:n], "-_") {
		enc = base64.RawURLEncoding
	}
	var buf [2 + store.KeyLen]byte
	if _, err := enc.Decode(buf[:], chars[:n]); err != nil {
		return
	}
	if key := buf[p.align : p.align+store.KeyLen]; isKey(key) {
		found(hit{at: at, end: end, key: string(key), form: "base64"})
	}
}

// b64Len is how many characters encode a key at each alignment, from the
// start of its first group to the character holding its last bit.
var b64Len = [3]int{
	(8*store.KeyLen + 5) / 6,
	(8*(1+store.KeyLen) + 5) / 6,
	(8*(2+store.KeyLen) + 5) / 6,
}

// findBase64Wrapped finds the keys in base64 whose encoded prefix line
// breaks cut (base64 wrapped at any width, with \n or \r\n), which the
// search for whole prefixes misses: it searches data with its line breaks
// taken out. Text where no break stands between two characters that
// follow each other in a prefix is left at once.
func findBase64Wrapped(data []byte, found func(hit)) {
	if !mayCutPrefix(data) {
		return
	}
	joined := make([]byte, 0, len(data))
	var cuts []lineCut
	removed := 0
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			joined = append(joined, data[i:]...)
			break
		}
		for j > 0 && data[i+j-1] == '\r' {
			j--
		}
		joined = append(joined, data[i:i+j]...)
		i += j
		n := 1
		for i+n < len(data) && isLineBreak(data[i+n]) {
			n++
		}
		removed += n
		cuts = append(cuts, lineCut{at: len(joined), removed: removed})
		i += n
	}
	source := func(j int) int {
		if k := sort.Search(len(cuts), func(k int) bool { return cuts[k].at > j }); k > 0 {
			return j + cuts[k-1].removed
		}
		return j
	}
	for _, p := range b64Prefixes {
		for i := 0; i < len(joined); i++ {
			j := bytes.Index(joined[i:], p.text)
			if j < 0 {
				break
			}
			i += j
			if source(i+len(p.text)-1)-source(i) == len(p.text)-1 {
				continue // not cut: found where it stands
			}
			decodeBase64Key(joined, i, p, func(h hit) {
				h.at, h.end = source(h.at), source(h.end-1)+1
				found(h)
			})
		}
	}
}

// mayCutPrefix reports whether a line break in data stands between two
// characters that follow each other in an encoded prefix.
func mayCutPrefix(data []byte) bool {
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		b := i
		for b > 0 && isLineBreak(data[b-1]) {
			b--
		}
		before := byte(0)
		if b > 0 {
			before = data[b-1]
		}
		for i < len(data) && isLineBreak(data[i]) {
			i++
		}
		if i < len(data) && b64Cut[before]&(b64Cut[data[i]]>>1) != 0 {
			return true
		}
	}
	return false
}

// b64Cut marks the places each character holds in the encoded prefixes:
// bit 8n+k+1 for place k of prefix n. A line break may cut prefix n
// between places k and k+1 when the character before it has bit 8n+k+1
// and the one after it bit 8n+k+2.
var b64Cut = func() (t [256]uint32) {
	for n, p := range b64Prefixes {
		for k, c := range p.text {
			t[c] |= 1 << (8*n + k + 1)
		}
	}
	return t
}()

// lineCut is where line breaks were taken out of a text: before joined[at],
// removed bytes in all.
type lineCut struct{ at, removed int }

// isLineBreak reports whether c is taken out of wrapped base64.
func isLineBreak(c byte) bool { return c == '\n' || c == '\r' }
