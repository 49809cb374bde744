package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest app or key name, in characters.
const MaxNameLen = 64

// DefaultAppName is the title a new app starts with.
const DefaultAppName = "Untitled app"

// CleanName trims a proposed app or key name and checks it: 1 to MaxNameLen
// printable characters, with no control characters (C0, C1, ESC, DEL) and no
// bidirectional overrides that could disguise it on a terminal.
func CleanName(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", &NameError{Name: name, Err: ErrNameEmpty}
	case !utf8.ValidString(n):
		return "", &NameError{Name: name, Err: ErrNameInvalid}
	case utf8.RuneCountInString(n) > MaxNameLen:
		return "", &NameError{Name: name, Err: ErrNameTooLong}
	}
	runes := []rune(n)
	for i, r := range runes {
		if r == zwj {
			if i == 0 || i == len(runes)-1 || !emoji(runes[i-1]) || !emoji(runes[i+1]) {
				return "", &NameError{Name: name, Err: ErrNameJoiner}
			}
			continue
		}
		if !printable(r) {
			return "", &NameError{Name: name, Err: ErrNameInvalid}
		}
	}
	return n, nil
}

// zwj is the zero-width joiner, which joins emoji into one (👨‍👩‍👧) and
// between letters would make two names look alike.
const zwj = '\u200d'

// emoji reports whether r can stand beside a joiner in an emoji sequence:
// a pictographic symbol, a skin-tone modifier or the emoji presentation
// selector.
func emoji(r rune) bool {
	return r == '\ufe0f' || unicode.Is(unicode.So, r) || unicode.Is(unicode.Sk, r) && r >= 0x1f3fb && r <= 0x1f3ff
}

// printable reports whether r may appear in a name: no controls, no format
// characters that reorder or hide text.
func printable(r rune) bool {
	if unicode.IsControl(r) || r == utf8.RuneError {
		return false
	}
	switch {
	case r >= 0x202A && r <= 0x202E, // embeddings and overrides
		r >= 0x2066 && r <= 0x2069,                // isolates
		r == 0x200E || r == 0x200F || r == 0x061C, // marks
		r == 0xFEFF:
		return false
	}
	return unicode.IsPrint(r) || r == ' '
}

// FoldName is the form under which names are compared for uniqueness.
// Joiners are left out, so a name with one never passes for another
// without it.
func FoldName(name string) string {
	return strings.ToLower(strings.ToUpper(strings.ReplaceAll(name, string(zwj), "")))
}
