package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// scopeImpact is what saving new scopes does to an app's keys
// (store.ScopeImpact), with the names of the keys that change made safe
// for the screen.
type scopeImpact struct {
	added, removed scopes.Set
	keys           []string // names of the keys that work and will change
	expired        int      // keys refused anyway
}

func newScopeImpact(before, after scopes.Set, keys []store.Key, now time.Time) scopeImpact {
	si := store.NewScopeImpact(before, after, keys, now)
	im := scopeImpact{added: si.Added, removed: si.Removed, expired: si.Expired}
	for _, k := range si.Keys {
		im.keys = append(im.keys, clean(k.Name))
	}
	return im
}

// matters reports whether a key in use changes.
func (im scopeImpact) matters() bool {
	return len(im.keys) > 0 && (!im.added.IsEmpty() || !im.removed.IsEmpty())
}

// lines draws the preview: the scopes gained and lost, and which keys, in
// at most width cells a line.
func (im scopeImpact) lines(s *Styles, width int) []string {
	const labelW = 6
	var out []string
	field := func(label string, st lipgloss.Style, text string, maxLines int) {
		wrapped := wrap(text, width-labelW)
		if len(wrapped) > maxLines {
			wrapped = append(wrapped[:maxLines-1], truncate(strings.Join(wrapped[maxLines-1:], " "), width-labelW))
		}
		for i, l := range wrapped {
			lead := s.Hint.Render(pad(label, labelW))
			if i > 0 {
				lead = strings.Repeat(" ", labelW)
			}
			out = append(out, lead+st.Render(l))
		}
	}
	if !im.added.IsEmpty() {
		field("Gain", s.ToastOK, "+ "+strings.Join(im.added.Names(), ", "), 3)
	}
	if !im.removed.IsEmpty() {
		field("Lose", s.Error, "− "+strings.Join(im.removed.Names(), ", "), 3)
	}
	if len(im.keys) == 0 {
		field("Keys", s.Hint, "no key in use changes", 1)
	} else {
		field("Keys", s.Text, keyList(im.keys, 6), 2)
	}
	if im.expired > 0 {
		out = append(out, strings.Repeat(" ", labelW)+s.Hint.Render(truncate(fmt.Sprintf("(and %s that expired: refused anyway)", countKeys(im.expired)), width-labelW)))
	}
	return out
}

// keyList names up to n keys and counts the rest.
func keyList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// confirmScopes asks before a save that changes what keys in use may do,
// showing which keys gain and lose which scopes. It reports false, and does
// nothing, when no key in use is affected.
//
// Under the key policy, scopes whose grant waits for a second admin are not
// in the preview but named apart (they wait; the rest is saved), and it
// always asks then.
func (f *appForm) confirmScopes(save func() tea.Cmd) (tea.Cmd, bool) {
	wait := (f.checks.set &^ f.app.Scopes) & f.c.policy.Approval
	im := newScopeImpact(f.app.Scopes, f.checks.set&^wait, f.keys.table.keys, f.c.now())
	if !im.matters() && wait.IsEmpty() {
		return nil, false
	}
	body := fmt.Sprintf("The %s of %q change on their next check:", countKeys(len(im.keys)), clean(f.app.Name))
	switch {
	case !im.matters():
		body = fmt.Sprintf("No key of %q changes now.", clean(f.app.Name))
	case len(im.keys) == 1:
		body = fmt.Sprintf("The API key of %q changes on its next check:", clean(f.app.Name))
	}
	caution := ""
	if !im.removed.IsEmpty() {
		caution = "Services using these keys for " + strings.Join(im.removed.Names(), ", ") + " are refused from then on."
	}
	if !wait.IsEmpty() {
		caution = strings.TrimSpace(caution + " " + strings.Join(wait.Names(), ", ") +
			" waits for another admin's approval, by the key policy: the rest is saved now.")
	}
	var detail []string
	if im.matters() {
		detail = im.lines(f.c.styles, f.c.dialogWidth())
	}
	return f.c.post(openDialogMsg{newConfirm(f.c, confirmDialog{
		title: "Save scope changes?", body: body, detail: detail,
		caution: caution, cancel: "Keep editing", confirm: "Save", danger: !im.removed.IsEmpty(),
		onYes: save,
	})}), true
}

// outlivers is why a save is refused before it is asked: a scope gained
// whose maximum key lifetime (the key policy's) keys of the app outlive,
// naming them; "" when none does.
func (f *appForm) outlivers() string {
	wait := (f.checks.set &^ f.app.Scopes) & f.c.policy.Approval
	after := f.checks.set &^ wait
	max, by, broken := f.c.policy.Breaks(f.app.Scopes, after, f.keys.table.keys, f.c.now())
	if len(broken) == 0 {
		return ""
	}
	return sentence(&store.LifetimeError{App: f.app.Name, Max: max, Scope: by, Keys: broken})
}
