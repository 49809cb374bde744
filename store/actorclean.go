package store

import (
	"strings"
	"unicode/utf8"
)

// Longest actor name and origin the store writes, in characters.
const (
	maxActorName   = MaxNameLen
	maxActorOrigin = 2 * MaxNameLen
)

// clean makes the actor fit to write into "Created by" and the audit trail.
// Its name and origin come from outside the console (the OS user, an SSH
// key's comment, a remote address), so unlike an app's name they are not
// refused when they break CleanName's rules, which would block a person
// from working: they are trimmed, each character a name may not hold
// becomes "?", and they are cut to a length that fits a column.
func (a *Actor) clean() {
	a.Name = cleanActorText(a.Name, maxActorName)
	a.Origin = cleanActorText(a.Origin, maxActorOrigin)
	a.Key = cleanActorText(a.Key, maxActorOrigin)
}

func cleanActorText(s string, limit int) string {
	s = strings.TrimSpace(s)
	cut := utf8.RuneCountInString(s) > limit
	if !cut && !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if cut && n == limit-1 {
			b.WriteRune('…')
			break
		}
		if unsafeRune(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
