package cli

import (
	"bytes"
	"sort"
	"strconv"

	"apiscopes/store"
)

// findEscaped calls found for every key in data with some of its
// characters escaped as source code and URLs write them: \u0061,
// \U00000061, \u{61}, \x61 and \141 (JSON, C, Go, JavaScript, Python), or
// %61 (URL encoding). Backslash escapes and URL encoding are read apart: in
// a string, "%6" before "\u0061ps_" is not an escape. A key written wholly
// as itself is left to findKeys.
func findEscaped(data []byte, found func(hit)) {
	for _, mark := range []byte{'\\', '%'} {
		if !hasKeyEscape(data, mark) {
			continue
		}
		u := unescape(data, mark)
		findKeys(u.text, len(u.text), func(d int) {
			if at, end := u.source(d, d+store.KeyLen); end-at > store.KeyLen {
				form := "escaped"
				if mark == '%' {
					form = "URL-encoded"
				}
				found(hit{at: at, end: end, key: string(u.text[d : d+store.KeyLen]), form: form})
			}
		})
	}
}

// hasKeyEscape reports whether data holds an escape starting with mark of
// a character a key can hold.
func hasKeyEscape(data []byte, mark byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(data[i:], mark)
		if j < 0 {
			return false
		}
		i += j
		if _, n := unescapeOne(data[i:]); n > 0 {
			return true
		}
	}
}

// unescaped is text with the escapes of key characters replaced by the
// characters, and where each escape was.
type unescaped struct {
	text    []byte
	escapes []escape // in order of at
}

// escape is one escape of text: it became text[at], from the n bytes of the
// original at src.
type escape struct{ at, src, n int }

// unescape replaces every escape starting with mark of a key character in
// data. A backslash escaping another character keeps both ("\\x41" is a
// backslash, then "x41"); every other byte stays as it is.
func unescape(data []byte, mark byte) unescaped {
	u := unescaped{text: make([]byte, 0, len(data))}
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], mark)
		if j < 0 {
			u.text = append(u.text, data[i:]...)
			break
		}
		u.text = append(u.text, data[i:i+j]...)
		i += j
		if c, n := unescapeOne(data[i:]); n > 0 {
			u.escapes = append(u.escapes, escape{at: len(u.text), src: i, n: n})
			u.text = append(u.text, c)
			i += n
			continue
		}
		n := 1
		if mark == '\\' && i+1 < len(data) {
			n = 2
		}
		u.text = append(u.text, data[i:i+n]...)
		i += n
	}
	return u
}

// source maps text[from:to] back to where it lies in the original.
func (u unescaped) source(from, to int) (at, end int) {
	at, _ = u.origin(from)
	last, n := u.origin(to - 1)
	return at, last + n
}

// origin is where text[i] came from in the original, and how many bytes
// it took there.
func (u unescaped) origin(i int) (at, n int) {
	k := sort.Search(len(u.escapes), func(k int) bool { return u.escapes[k].at > i }) - 1
	if k < 0 {
		return i, 1
	}
	e := u.escapes[k]
	if e.at == i {
		return e.src, e.n
	}
	return e.src + e.n + i - e.at - 1, 1
}

// unescapeOne decodes the escape s begins with when it stands for a
// character a key can hold, and says how long it is; n is 0 otherwise.
func unescapeOne(s []byte) (c byte, n int) {
	if len(s) < 2 {
		return 0, 0
	}
	var v int
	switch {
	case s[0] == '%':
		v, n = number(s[1:], 2, 16), 3
	case s[0] != '\\':
		return 0, 0
	case s[1] == 'x':
		v, n = number(s[2:], 2, 16), 4
	case s[1] == 'u' && len(s) > 2 && s[2] == '{': // \u{61}: one to six digits
		digits := bytes.IndexByte(s[3:min(len(s), 10)], '}')
		if digits < 1 {
			return 0, 0
		}
		v, n = number(s[3:], digits, 16), digits+4
	case s[1] == 'u':
		v, n = number(s[2:], 4, 16), 6
	case s[1] == 'U':
		v, n = number(s[2:], 8, 16), 10
	case s[1] >= '0' && s[1] <= '3':
		v, n = number(s[1:], 3, 8), 4
	default:
		return 0, 0
	}
	if v < 0 || v > 0x7f || !isKeyByte(byte(v)) {
		return 0, 0
	}
	return byte(v), n
}

// number is the first n bytes of s read as a number in base, or -1.
func number(s []byte, n, base int) int {
	if len(s) < n {
		return -1
	}
	v, err := strconv.ParseUint(string(s[:n]), base, 32)
	if err != nil {
		return -1
	}
	return int(v)
}
