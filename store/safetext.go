package store

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SafeText returns s fit for a terminal or a log line: every character a
// name may not hold (see CleanName: C0 and C1 controls, ESC, DEL,
// bidirectional controls) is written as a Go escape such as \x1b, \x9b or
// \u202e, and every byte that is not UTF-8 as \xNN. A database written by
// another tool may hold anything, and a command that printed it raw would
// let it set the clipboard (OSC 52), the window title or the cursor of
// whoever reads the output. Text a name may hold comes back unchanged.
func SafeText(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) { // an invalid byte reads as utf8.RuneError, which is unsafe
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHexByte(&b, s[i])
		case !unsafeRune(r):
			b.WriteString(s[i : i+size])
		case r < 0x100:
			writeHexByte(&b, byte(r))
		case r > 0xFFFF:
			b.WriteString(`\U`)
			writeHex(&b, r, 8)
		default:
			b.WriteString(`\u`)
			writeHex(&b, r, 4)
		}
		i += size
	}
	return b.String()
}

// SafeJSON rewrites encoded JSON so that it holds only characters a name
// may hold, besides the white space between its tokens. encoding/json
// escapes C0 controls but writes C1 controls, DEL and bidirectional
// controls as they are, so JSON output shown on a terminal could act on
// them; each becomes a \u escape (a surrogate pair beyond U+FFFF), which
// every JSON parser reads back as the same character. b is returned as it
// is when there is nothing to escape.
func SafeJSON(b []byte) []byte {
	if !bytes.ContainsFunc(b, unsafeInJSON) {
		return b
	}
	var out strings.Builder
	for _, r := range string(b) {
		switch {
		case !unsafeInJSON(r):
			out.WriteRune(r)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			out.WriteString(`\u`)
			writeHex(&out, hi, 4)
			out.WriteString(`\u`)
			writeHex(&out, lo, 4)
		default:
			out.WriteString(`\u`)
			writeHex(&out, r, 4)
		}
	}
	return []byte(out.String())
}

// unsafeRune reports a character a name may not hold.
func unsafeRune(r rune) bool { return !printable(r) }

// unsafeInJSON is unsafeRune, but for the white space JSON puts between
// tokens; encoding/json escapes these inside strings itself.
func unsafeInJSON(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && !printable(r) }

func writeHexByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	writeHex(b, rune(c), 2)
}

func writeHex(b *strings.Builder, r rune, digits int) {
	const hex = "0123456789abcdef"
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>shift)&0xF])
	}
}
