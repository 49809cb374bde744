package store

import "strings"

// minKeyShaped is how many base62 characters after "aps_" make text shaped
// like a key: fewer cannot hide a useful part of a 43-character secret, and
// words such as "APS_DIR" stay as they are.
const minKeyShaped = 8

// RedactKeys returns s with every run of text shaped like an API key
// replaced by its hint: "aps_" (in any case) followed by at least eight
// letters or digits becomes "aps_…" and the run's last four characters, as
// the console shows a key. Messages and log lines that must quote what a
// person typed pass through it, so that a key pasted into the wrong place
// (a scope, a path, a command) is never repeated; text without such a run
// is returned as it is.
func RedactKeys(s string) string {
	start, end := keyShapeAt(s, 0)
	if start < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for ; start >= 0; start, end = keyShapeAt(s, end) {
		b.WriteString(s[last:start])
		b.WriteString(keyHint(s[start:end]))
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// KeyShapeHint returns the hint of the first run of text in s shaped like
// an API key (see RedactKeys), and false if there is none.
func KeyShapeHint(s string) (string, bool) {
	start, end := keyShapeAt(s, 0)
	if start < 0 {
		return "", false
	}
	return keyHint(s[start:end]), true
}

// keyShapeAt finds the first key-shaped run at or after from: s[start:end]
// is "aps_" (in any case) and its letters and digits. start is -1 if there
// is none.
func keyShapeAt(s string, from int) (start, end int) {
	for i := from; i+len(KeyPrefix) <= len(s); i++ {
		if s[i]|0x20 != 'a' || s[i+1]|0x20 != 'p' || s[i+2]|0x20 != 's' || s[i+3] != '_' {
			continue
		}
		end := i + len(KeyPrefix)
		for end < len(s) && is62(s[end]) {
			end++
		}
		if end-i-len(KeyPrefix) >= minKeyShaped {
			return i, end
		}
	}
	return -1, -1
}
