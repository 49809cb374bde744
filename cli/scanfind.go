package cli

import (
	"bytes"
	"encoding/binary"

	"apiscopes/store"
)

// keyFormMax is the most bytes one key can take in any form scan reads: 53
// characters each written as a ten-byte escape (\U0000005f). A chunked read
// keeps this much of each chunk for the next, so no form is ever cut.
const keyFormMax = store.KeyLen * 10

// A hit is one key found in a text.
type hit struct {
	at, end int    // where the key's form lies in the text searched
	key     string // the text, only to look it up; never printed
	form    string // how it was written: "" as itself, or "base64", "escaped", …
}

// findHits calls found for every key in data whose form starts before
// limit, however it is written: as itself, with escaped characters, in
// base64 or in UTF-16. Hits come in no particular order. A key is exactly
// the 53 characters of its format whose checksum holds: what stands beside
// it does not matter, and no look-alike is a hit.
func findHits(data []byte, limit int, found func(hit)) {
	forEachRun(data, limit, func(from, to int) {
		findInRun(data[from:to], func(h hit) {
			if h.at += from; h.at < limit {
				h.end += from
				found(h)
			}
		})
	})
}

// Marks of the bytes that call for a closer look at a run.
const (
	markEscape    = 1 << iota // "\\" or "%": escaped characters
	markZero                  // UTF-16
	markLineBreak             // wrapped base64
)

var runMarks = func() (t [256]byte) {
	t['\\'], t['%'] = markEscape, markEscape
	t[0] = markZero
	t['\n'], t['\r'] = markLineBreak, markLineBreak
	return t
}()

// Four bytes a key's form can start with, as one word: "aps_", and the
// base64 of "aps_" at each alignment ("YXBz", "Fwc1", "hcHN" then "f").
var (
	wordKey = binary.LittleEndian.Uint32(keyPrefix)
	wordB64 = func() (w [3]uint32) {
		for i, p := range b64Prefixes {
			w[i] = binary.LittleEndian.Uint32(p.text)
		}
		return w
	}()
	startsAt = func() (t [256]bool) {
		t[keyPrefix[0]] = true
		for _, p := range b64Prefixes {
			t[p.text[0]] = true
		}
		return t
	}()
)

// findInRun finds the keys in one run of inForm bytes, in one pass that
// looks for the four bytes each form starts with and notes the bytes
// that call for the slower searches.
func findInRun(run []byte, found func(hit)) {
	var marks byte
	for i := 0; i < len(run); i++ {
		c := run[i]
		marks |= runMarks[c]
		if !startsAt[c] || i+4 > len(run) {
			continue
		}
		switch w := binary.LittleEndian.Uint32(run[i:]); w {
		case wordKey:
			if end := i + store.KeyLen; end <= len(run) && isKey(run[i:end]) {
				found(hit{at: i, end: end, key: string(run[i:end])})
			}
		case wordB64[0], wordB64[1], wordB64[2]:
			for _, p := range b64Prefixes {
				if bytes.HasPrefix(run[i:], p.text) {
					decodeBase64Key(run, i, p, found)
				}
			}
		}
	}
	if marks&markEscape != 0 {
		findEscaped(run, found)
	}
	if marks&markZero != 0 {
		findUTF16(run, found)
	}
	if marks&markLineBreak != 0 {
		findBase64Wrapped(run, found)
	}
}

// inForm marks the bytes of every form of a key scan reads: letters,
// digits and "_" (a key as itself), "\\", "%", "{" and "}" (escapes), "+",
// "/" and "-" (base64), line breaks (wrapped base64) and the zero byte
// (UTF-16). Most text is short runs of them, which cannot hold a key.
var inForm = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isKeyByte(byte(c))
	}
	for _, c := range []byte("\\%{}+/-\r\n\x00") {
		t[c] = true
	}
	return t
}()

// forEachRun calls f for each run of inForm bytes in data at least as
// long as a key, starting before limit: every form of a key lies within
// one. It looks at one byte in every KeyLen, and reads a run only when that
// byte is in it, as a Boyer-Moore search skips text.
func forEachRun(data []byte, limit int, f func(from, to int)) {
	const m = store.KeyLen
	start := 0 // no run as long as a key starts before start, but the ones reported
	for p := m - 1; p < len(data); p += m {
		if !inForm[data[p]] {
			continue
		}
		from := p - spanBack(data[start:p])
		if from >= limit || from+m > len(data) {
			return
		}
		if !inForm[data[from+m-1]] {
			// The run holding p ends before from+m-1: none as long as a
			// key starts up to there.
			start, p = from+m, from+m-1
			continue
		}
		to := p + 1 + span(data[p+1:])
		if to-from >= m {
			f(from, to)
		}
		start, p = to+1, to
	}
}

var keyPrefix = []byte(store.KeyPrefix)

// findKeys calls found with the offset of every key written as itself in
// data that starts before limit: "aps_" and 49 base62 characters whose
// checksum holds, whatever stands beside them (cfg_aps_…, …_backup).
func findKeys(data []byte, limit int, found func(at int)) {
	for i := 0; i < limit; {
		j := bytes.Index(data[i:], keyPrefix)
		if j < 0 {
			return
		}
		at := i + j
		if at >= limit {
			return
		}
		i = at + 1 // the next key may start in this one's last three characters
		if end := at + store.KeyLen; end <= len(data) && isKey(data[at:end]) {
			found(at)
		}
	}
}

// isKey reports whether b is a key: its form, then its checksum. Most
// candidates fail the form, which costs no allocation.
func isKey(b []byte) bool {
	if len(b) != store.KeyLen || !bytes.HasPrefix(b, keyPrefix) {
		return false
	}
	for _, c := range b[len(keyPrefix):] {
		if !is62(c) {
			return false
		}
	}
	return store.CheckKey(string(b)) == nil
}

// is62 reports whether c is a letter or a digit, the characters of a key
// after its prefix.
func is62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isKeyByte reports whether c can be part of a key: a letter, a digit or
// the prefix's underscore.
func isKeyByte(c byte) bool { return is62(c) || c == '_' }

// span is how many bytes s starts with that are inForm: eight at a time,
// with one branch for the eight.
func span(s []byte) int {
	n := 0
	for ; n+8 <= len(s); n += 8 {
		b := s[n : n+8 : n+8]
		if formByte[b[0]]&formByte[b[1]]&formByte[b[2]]&formByte[b[3]]&
			formByte[b[4]]&formByte[b[5]]&formByte[b[6]]&formByte[b[7]] == 0 {
			break
		}
	}
	for n < len(s) && inForm[s[n]] {
		n++
	}
	return n
}

// spanBack is how many bytes s ends with that are inForm.
func spanBack(s []byte) int {
	n := len(s)
	for ; n >= 8; n -= 8 {
		b := s[n-8 : n : n]
		if formByte[b[0]]&formByte[b[1]]&formByte[b[2]]&formByte[b[3]]&
			formByte[b[4]]&formByte[b[5]]&formByte[b[6]]&formByte[b[7]] == 0 {
			break
		}
	}
	for n > 0 && inForm[s[n-1]] {
		n--
	}
	return len(s) - n
}

// formByte is inForm as numbers, to AND together.
var formByte = func() (t [256]uint8) {
	for c, in := range inForm {
		if in {
			t[c] = 1
		}
	}
	return t
}()
