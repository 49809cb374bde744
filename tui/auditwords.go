package tui

import (
	"fmt"
	"strings"

	"apiscopes/scopes"
	"apiscopes/store"
)

// EventText is an audit event in words, as the Audit Log screen and
// `apiscopes audit` show it. Every field is sanitized for a terminal.
type EventText struct {
	Who    string // "amara.okafor (admin)"
	What   string // "created app", "changed scopes", …
	Target string // the app, and the key by name and hint for key events
	Change string // what changed: scopes added and removed, the old name, keys deleted

	// ScopesBefore and ScopesAfter name every scope before and after a
	// change of scopes (or after a create, before a delete); empty otherwise.
	ScopesBefore, ScopesAfter string
}

// DescribeEvent puts an audit event into words.
func DescribeEvent(ev store.Event) EventText {
	t := EventText{Who: clean(ev.Actor), Target: clean(ev.AppName)}
	if ev.Role != "" {
		t.Who += " (" + clean(string(ev.Role)) + ")"
	}
	if ev.Session != nil {
		return describeSession(t, ev)
	}
	if ev.ScopesBefore != nil {
		t.ScopesBefore = scopeList(ev.ScopesBefore)
	}
	if ev.ScopesAfter != nil {
		t.ScopesAfter = scopeList(ev.ScopesAfter)
	}
	switch ev.Action {
	case store.ActionAppCreate:
		t.What = "created app"
		t.Change = "scopes: " + scopeNames(ev.ScopesAfter)
	case store.ActionAppUpdate:
		var parts []string
		if ev.NameBefore != "" {
			t.What = "renamed app"
			parts = append(parts, fmt.Sprintf("was %q", clean(ev.NameBefore)))
		}
		if ev.ScopesBefore != nil || ev.ScopesAfter != nil {
			t.What = "changed scopes"
			parts = append(parts, scopeChange(ev.ScopesBefore, ev.ScopesAfter))
		}
		if ev.NameBefore != "" && ev.ScopesAfter != nil {
			t.What = "changed app"
		}
		if t.What == "" {
			t.What = "changed app"
		}
		t.Change = strings.Join(parts, "; ")
	case store.ActionAppDelete:
		t.What = "deleted app"
		t.Change = "with " + countKeys(ev.KeysGone)
	case store.ActionKeyCreate, store.ActionKeyDelete:
		t.What = "created API key"
		if ev.Action == store.ActionKeyDelete {
			t.What = "deleted API key"
		}
		t.Target = fmt.Sprintf("%s › %s", t.Target, clean(ev.KeyName))
		t.Change = clean(ev.KeyHint)
		switch {
		case ev.Scheduled:
			t.Change += " · its roll's grace period ended"
		case ev.Action == store.ActionKeyCreate && !ev.ExpiresAt.IsZero():
			t.Change += " · expires " + ev.ExpiresAt.UTC().Format("2006-01-02 15:04") + " UTC"
		}
	case store.ActionKeyRoll:
		t.What = "rolled API key"
		t.Target = fmt.Sprintf("%s › %s", t.Target, clean(ev.KeyName))
		t.Change = fmt.Sprintf("%s → %s %s", clean(ev.KeyHint), clean(ev.NewKeyName), clean(ev.NewKeyHint))
		if !ev.DeleteAt.IsZero() {
			t.Change += "; old key deleted " + ev.DeleteAt.UTC().Format("2006-01-02 15:04") + " UTC"
		}
	default:
		t.What = clean(string(ev.Action))
	}
	return t
}

// scopeChange is "+Deploy Model −Export workflow": what a change added and
// removed, by the names the console shows.
func scopeChange(before, after []string) string {
	b, _ := scopes.ParseSet(before)
	a, _ := scopes.ParseSet(after)
	added, removed := b.Diff(a)
	var parts []string
	for _, n := range added.Names() {
		parts = append(parts, "+"+n)
	}
	for _, n := range removed.Names() {
		parts = append(parts, "−"+n)
	}
	if len(parts) == 0 {
		return "scopes unchanged"
	}
	return strings.Join(parts, " ")
}

// scopeNames is the scopes' summary ("Workflows, Models"), or their ids
// cleaned when the catalogue no longer knows one of them.
func scopeNames(ids []string) string {
	set, err := scopes.ParseSet(ids)
	if err != nil {
		return clean(strings.Join(ids, ", "))
	}
	return set.Summary()
}

// scopeList names every scope, in catalogue order.
func scopeList(ids []string) string {
	set, err := scopes.ParseSet(ids)
	if err != nil {
		return clean(strings.Join(ids, ", "))
	}
	return strings.Join(set.Names(), ", ")
}
