package store

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"apiscopes/scopes"
)

// EventText is an audit event in words, as the console's Audit Log and
// `apiscopes audit` show it. Every field is sanitized for a terminal.
type EventText struct {
	Who    string // "amara.okafor (admin)"
	What   string // "created app", "changed scopes", …
	Target string // the app, and the key by name for key events
	Change string // what changed: scopes added and removed, the old name, keys deleted

	// ScopesBefore and ScopesAfter name every scope before and after a
	// change of scopes (or after a create, before a delete); empty otherwise.
	ScopesBefore, ScopesAfter string
}

// Describe puts the event into words, its times in UTC.
func (ev Event) Describe() EventText { return ev.DescribeIn(time.UTC) }

// DescribeIn puts the event into words, its times in loc (see FormatTime).
func (ev Event) DescribeIn(loc *time.Location) EventText {
	t := EventText{Who: Sanitize(ev.Actor), Target: Sanitize(ev.AppName)}
	if ev.Role != "" {
		t.Who += " (" + Sanitize(string(ev.Role)) + ")"
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
	case ActionAppCreate:
		t.What = "created app"
		t.Change = "scopes: " + scopeSummary(ev.ScopesAfter)
	case ActionAppUpdate:
		var parts []string
		if ev.NameBefore != "" {
			t.What = "renamed app"
			parts = append(parts, fmt.Sprintf("was %q", Sanitize(ev.NameBefore)))
		}
		if ev.ScopesBefore != nil || ev.ScopesAfter != nil {
			t.What = "changed scopes"
			parts = append(parts, ScopeChange(ev.ScopesBefore, ev.ScopesAfter))
		}
		if ev.NameBefore != "" && ev.ScopesAfter != nil || t.What == "" {
			t.What = "changed app"
		}
		t.Change = strings.Join(parts, "; ")
	case ActionAppDelete:
		t.What = "deleted app"
		t.Change = "with " + countKeys(ev.KeysGone)
	case ActionKeyCreate, ActionKeyDelete, ActionKeyUndelivered:
		t.What = "created API key"
		if ev.Action != ActionKeyCreate {
			t.What = "deleted API key"
		}
		t.Target = fmt.Sprintf("%s › %s", t.Target, Sanitize(ev.KeyName))
		t.Change = Sanitize(ev.KeyHint)
		switch {
		case ev.Action == ActionKeyUndelivered:
			t.Change += " · its text never reached the one who made it"
		case ev.Scheduled:
			t.Change += " · its roll's grace period ended"
		case ev.Action == ActionKeyCreate && !ev.ExpiresAt.IsZero():
			t.Change += " · expires " + FormatTime(ev.ExpiresAt, loc)
		}
		if ev.Action == ActionKeyCreate && len(ev.AllowFrom) > 0 {
			t.Change += " · from " + Sanitize(strings.Join(ev.AllowFrom, ", "))
		}
	case ActionKeyRoll:
		t.What = "rolled API key"
		t.Target = fmt.Sprintf("%s › %s", t.Target, Sanitize(ev.KeyName))
		t.Change = fmt.Sprintf("%s → %s %s", Sanitize(ev.KeyHint), Sanitize(ev.NewKeyName), Sanitize(ev.NewKeyHint))
		if !ev.DeleteAt.IsZero() {
			t.Change += "; old key deleted " + FormatTime(ev.DeleteAt, loc)
		}
	case ActionPolicyUpdate, ActionApprovalRequest, ActionApprovalApprove, ActionApprovalReject, ActionApprovalExpire:
		return describeApproval(t, ev, loc)
	default:
		t.What = Sanitize(string(ev.Action))
	}
	return t
}

// describeApproval puts the key policy's and the requests' events into
// words: the target is the app, or "Key Policy"; the change says what the
// request asked (a grant by scope names, a policy by its rules), its
// number, and who asked when another acted on it.
func describeApproval(t EventText, ev Event, loc *time.Location) EventText {
	what := ""
	switch {
	case ev.PolicyAfter != nil:
		t.Target = "Key Policy"
		what = PolicyChange(ev.PolicyBefore, ev.PolicyAfter)
	case len(ev.Grant) > 0:
		what = ScopeChange(nil, ev.Grant)
	}
	num := fmt.Sprintf("request %d", ev.Approval)
	switch ev.Action {
	case ActionPolicyUpdate:
		t.What = "tightened policy"
		t.Change = what
		return t
	case ActionApprovalRequest:
		t.What = "requested"
		t.Change = num + ": " + what + " · waits until " + FormatTime(ev.ExpiresAt, loc)
		return t
	case ActionApprovalApprove:
		t.What = "approved"
	case ActionApprovalReject:
		t.What = "rejected"
	case ActionApprovalExpire:
		t.What = "request expired"
	}
	t.Change = num + " of " + Sanitize(ev.RequestedBy)
	if what != "" {
		t.Change += ": " + what
	}
	if ev.Note != "" {
		t.Change += " · " + Sanitize(ev.Note)
	}
	return t
}

// PolicyChange is what a change of the key policy changes, in words:
// "every key 365d → 90d; model:deploy keys 30d; +approval guardrail:deploy".
func PolicyChange(before, after *PolicyInfo) string {
	if before == nil {
		before = &PolicyInfo{}
	}
	if after == nil {
		after = &PolicyInfo{}
	}
	var parts []string
	ids := map[string]bool{}
	for id := range before.MaxLifetime {
		ids[id] = true
	}
	for id := range after.MaxLifetime {
		ids[id] = true
	}
	names := make([]string, 0, len(ids))
	for id := range ids {
		names = append(names, id)
	}
	slices.Sort(names)
	for _, id := range names {
		b, a := before.MaxLifetime[id], after.MaxLifetime[id]
		if a == b {
			continue
		}
		label := Sanitize(id) + " keys"
		if id == DefaultLifetimeScopeKey {
			label = "every key"
		}
		switch {
		case b == "":
			parts = append(parts, label+" at most "+Sanitize(a))
		case a == "":
			parts = append(parts, label+" no maximum (was "+Sanitize(b)+")")
		default:
			parts = append(parts, label+" "+Sanitize(b)+" → "+Sanitize(a))
		}
	}
	for _, id := range after.Approval {
		if !slices.Contains(before.Approval, id) {
			parts = append(parts, "+four eyes "+Sanitize(id))
		}
	}
	for _, id := range before.Approval {
		if !slices.Contains(after.Approval, id) {
			parts = append(parts, "−four eyes "+Sanitize(id))
		}
	}
	if before.ApprovalWindow != after.ApprovalWindow && before.ApprovalWindow != "" {
		parts = append(parts, "window "+Sanitize(before.ApprovalWindow)+" → "+Sanitize(after.ApprovalWindow))
	}
	if len(parts) == 0 {
		return "rules unchanged"
	}
	return strings.Join(parts, "; ")
}

// ScopeChange is "+Deploy Model −Export workflow": what a change of scopes
// added and removed, by the scopes' names. Ids this apiscopes does not know
// are named by their id.
func ScopeChange(before, after []string) string {
	b, oldUnknown := scopes.ParseSetLenient(before)
	a, newUnknown := scopes.ParseSetLenient(after)
	added, removed := b.Diff(a)
	var parts []string
	for _, n := range added.Names() {
		parts = append(parts, "+"+n)
	}
	for _, id := range newUnknown {
		if !slices.Contains(oldUnknown, id) {
			parts = append(parts, "+"+Sanitize(id))
		}
	}
	for _, n := range removed.Names() {
		parts = append(parts, "−"+n)
	}
	for _, id := range oldUnknown {
		if !slices.Contains(newUnknown, id) {
			parts = append(parts, "−"+Sanitize(id))
		}
	}
	if len(parts) == 0 {
		return "scopes unchanged"
	}
	return strings.Join(parts, " ")
}

// scopeSummary is the scopes by resource ("Workflows, Models"), or "All
// scopes" for every one; ids the catalogue does not know follow by id.
func scopeSummary(ids []string) string {
	set, unknown := scopes.ParseSetLenient(ids)
	sum := set.Summary()
	if set == scopes.Full() {
		sum = "All scopes"
	}
	if len(unknown) > 0 {
		sum = strings.TrimPrefix(sum+", "+Sanitize(strings.Join(unknown, ", ")), "none, ")
	}
	return sum
}

// scopeList names every scope in catalogue order, then any id the
// catalogue does not know.
func scopeList(ids []string) string {
	set, unknown := scopes.ParseSetLenient(ids)
	names := set.Names()
	for _, id := range unknown {
		names = append(names, Sanitize(id))
	}
	return strings.Join(names, ", ")
}

// countKeys is "1 API key" or "3 API keys".
func countKeys(n int) string {
	if n == 1 {
		return "1 API key"
	}
	return fmt.Sprintf("%d API keys", n)
}

// Sanitize makes text that came from the database safe to draw on a
// terminal: control characters (C0, C1, ESC, DEL) and bidirectional
// controls become "�", so a database written by another tool cannot move
// the cursor, set the clipboard or the title, or disguise a name. Names
// with such characters are refused on input (CleanName); this guards the
// output, one character out for each character in.
func Sanitize(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if !ok {
			break
		}
		ok = drawable(r)
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if drawable(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('�')
		}
	}
	return b.String()
}

// drawable reports whether a terminal only draws r: no control character,
// no direction control, no byte order mark.
func drawable(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.IsControl(r),
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200E, r == 0x200F, r == 0x061C, r == 0xFEFF:
		return false
	}
	return true
}

// describeSession puts a session event into words: the server recorded
// that someone logged in over SSH, or that it ended their session. The
// target is the person, the change where from and why.
func describeSession(t EventText, ev Event) EventText {
	s := ev.Session
	t.What = "SSH login"
	if ev.Action == ActionSessionRevoked {
		t.What = "ended SSH session"
	}
	t.Target = Sanitize(s.User)
	if s.Role != "" {
		t.Target += " (" + Sanitize(string(s.Role)) + ")"
	}
	t.Change = "from " + Sanitize(s.Remote)
	if s.Reason != "" {
		t.Change += ": " + Sanitize(s.Reason)
	}
	if s.Unrecorded > 0 {
		t.Change += fmt.Sprintf(" · %d more logins since the last one recorded", s.Unrecorded)
	}
	return t
}
