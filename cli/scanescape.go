package cli

import (
	"bytes"
	"sort"

	"apiscopes/store"
)

// findEscaped calls found for every key in data with some of its
// characters escaped as source code and URLs write them: \u0061,
// \U00000061, \u{61}, \x61 and \141 (JSON, C, Go, JavaScript, Python), or
// %61 (URL encoding). Backslash escapes and URL encoding are read apart, as
// no text holds both: "%6" before "\u0061ps_" in a string is not an
// escape. A key written wholly as itself is left to findKeys.
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
	at, end = u.offset(from), u.offset(to-1)+1
	if k := sort.Search(len(u.escapes), func(k int) bool { return u.escapes[k].at >= to-1 }); k < len(u.escapes) && u.escapes[k].at == to-1 {
		end = u.escapes[k].src + u.escapes[k].n
	}
	return at, end
}

// offset maps an index of text to the original's.
func (u unescaped) offset(i int) int {
	k := sort.Search(len(u.escapes), func(k int) bool { return u.escapes[k].at > i }) - 1
	if k < 0 {
		return i
	}
	e := u.escapes[k]
	if e.at == i {
		return e.src
	}
	return e.src + e.n + i - e.at - 1
}

// unescapeOne decodes the escape s begins with when it stands for a
// character a key can hold, and says how long it is; n is 0 otherwise.
func unescapeOne(s []byte) (c byte, n int) {
	if len(s) < 2 {
		return 0, 0
	}
	var v, digits int
	switch {
	case s[0] == '%':
		v, digits, n = hexValue(s[1:], 2), 2, 3
	case s[0] != '\\':
		return 0, 0
	case s[1] == 'x':
		v, digits, n = hexValue(s[2:], 2), 2, 4
	case s[1] == 'u' && len(s) > 2 && s[2] == '{':
		end := bytes.IndexByte(s[3:min(len(s), 10)], '}')
		if end < 1 {
			return 0, 0
		}
		v, digits, n = hexValue(s[3:], end), end, end+4
	case s[1] == 'u':
		v, digits, n = hexValue(s[2:], 4), 4, 6
	case s[1] == 'U':
		v, digits, n = hexValue(s[2:], 8), 8, 10
	case s[1] >= '0' && s[1] <= '3':
		v, digits, n = octalValue(s[1:], 3), 3, 4
	default:
		return 0, 0
	}
	if digits == 0 || v < 0 || v > 0x7f || !isKeyByte(byte(v)) {
		return 0, 0
	}
	return byte(v), n
}

// hexValue is the number in the first n bytes of s in hexadecimal, or -1.
func hexValue(s []byte, n int) int {
	if len(s) < n {
		return -1
	}
	v := 0
	for _, c := range s[:n] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return v
}

// octalValue is the number in the first n bytes of s in octal, or -1.
func octalValue(s []byte, n int) int {
	if len(s) < n {
		return -1
	}
	v := 0
	for _, c := range s[:n] {
		if c < '0' || c > '7' {
			return -1
		}
		v = v<<3 | int(c-'0')
	}
	return v
}
