package tui

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// clean makes text that came from the database safe to draw: control
// characters (C0, C1, ESC, DEL) and bidirectional overrides become "�", so a
// database written by another tool cannot move the cursor, set the clipboard
// or the title, or disguise a name. The store refuses such names on input;
// this guards the output.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if !safeRune(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if safeRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('�')
		}
	}
	return b.String()
}

func safeRune(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.IsControl(r),
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200E, r == 0x200F, r == 0x061C, r == 0xFEFF:
		return false
	}
	return true
}
