package store

import (
	"errors"
	"fmt"
	"strings"

	"apiscopes/scopes"
)

// ErrConflict is returned by SaveApp when someone else changed the app's name
// or scopes after the caller read it.
var ErrConflict = errors.New("the app was changed by someone else")

// ConflictError carries the app as it is now, so the caller can say who
// changed what and offer to reload. It matches ErrConflict.
type ConflictError struct {
	Base    App // what the caller started from
	Current App // what the database holds now
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: %s", ErrConflict, e.What())
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// What describes the other change in a sentence fragment, e.g. `bob renamed
// it to "Risk EU" and changed its scopes`.
func (e *ConflictError) What() string {
	var parts []string
	if e.Current.Name != e.Base.Name {
		parts = append(parts, fmt.Sprintf("renamed it to %q", e.Current.Name))
	}
	if e.Current.Scopes != e.Base.Scopes {
		added, removed := e.Base.Scopes.Diff(e.Current.Scopes)
		parts = append(parts, "changed its scopes"+scopeDelta(added, removed))
	}
	who := e.Current.UpdatedBy
	if who == "" {
		who = "someone"
	}
	switch len(parts) {
	case 0:
		return who + " changed it"
	case 1:
		return who + " " + parts[0]
	}
	return who + " " + parts[0] + " and " + parts[1]
}

// scopeDelta is " (+Deploy Guardrails, −Export Model)", by the scopes'
// names, or "" for no change.
func scopeDelta(added, removed scopes.Set) string {
	var parts []string
	for _, n := range added.Names() {
		parts = append(parts, "+"+n)
	}
	for _, n := range removed.Names() {
		parts = append(parts, "−"+n)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
