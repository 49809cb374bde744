package store

import (
	"time"

	"apiscopes/scopes"
)

// ScopeImpact is what changing an app's scopes does to its keys: scopes
// belong to the app, so every key that works gains and loses the same
// scopes, on its next check. The console's Save and the command line's
// app scopes and apply show it before they change anything.
type ScopeImpact struct {
	Added, Removed scopes.Set
	Keys           []Key // the keys that work now, and will change
	Expired        int   // keys refused anyway
}

// NewScopeImpact is the impact of moving an app from before to after, for
// its keys as they are at now.
func NewScopeImpact(before, after scopes.Set, keys []Key, now time.Time) ScopeImpact {
	im := ScopeImpact{}
	im.Added, im.Removed = before.Diff(after)
	for _, k := range keys {
		if !k.State(now).Works() {
			im.Expired++
			continue
		}
		im.Keys = append(im.Keys, k)
	}
	return im
}

// Matters reports whether a key in use changes.
func (im ScopeImpact) Matters() bool {
	return len(im.Keys) > 0 && (!im.Added.IsEmpty() || !im.Removed.IsEmpty())
}
