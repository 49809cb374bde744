package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// Least privilege you can see: the configuration window shows, per scope,
// when the app's keys last used it and how often they were refused it; u
// proposes unticking the scopes unused for 90 or 30 days, which the
// impact preview and Save then treat as any scope change; and the app
// list's filter word unused: keeps the apps with scopes unused for a while.
// Nothing is ever narrowed without the admin's Save.

const day = 24 * time.Hour

// narrowWindows are the windows u offers, the longer (the safer) first.
var narrowWindows = [2]int{90, 30}

// appUsageMsg brings one app's use of its scopes.
type appUsageMsg struct {
	appID uint64
	usage store.AppUsage
	since time.Time // when tracking began
	err   error
}

// usageLoadedMsg brings every app's use of its scopes, for the list.
type usageLoadedMsg struct {
	apps  []store.AppUsage
	since time.Time
	err   error
}

// loadAppUsage reads an app's use of its scopes.
func (c *common) loadAppUsage(appID uint64) tea.Cmd {
	st := c.store
	ctx := c.ctx
	return c.read(func() tea.Msg {
		since, err := st.UsageSince(ctx)
		var u store.AppUsage
		if err == nil {
			u, err = st.AppUsage(ctx, appID)
		}
		return appUsageMsg{appID: appID, usage: u, since: since, err: err}
	})
}

// loadUsage reads every app's use of its scopes.
func (c *common) loadUsage() tea.Cmd {
	st := c.store
	ctx := c.ctx
	return c.read(func() tea.Msg {
		since, err := st.UsageSince(ctx)
		var all []store.AppUsage
		if err == nil {
			all, err = st.Usage(ctx)
		}
		return usageLoadedMsg{apps: all, since: since, err: err}
	})
}

// warn shows a sentence about something the console would not do.
func (c *common) warn(format string, a ...any) tea.Cmd {
	return c.post(toastMsg{text: fmt.Sprintf(format, a...), kind: toastErr})
}

// scopeUsage is the configuration window's knowledge of the app's use of
// its scopes, and of a narrowing it proposed.
type scopeUsage struct {
	c      *common
	loaded bool
	since  time.Time // when tracking began
	use    map[scopes.ID]store.ScopeUse

	// The last proposal: the ticks before it, its window in days and the
	// ticks it left. A tick changed since ends it.
	base, applied scopes.Set
	window        int

	typedAhead bool // u was pressed before the usage loaded: it acts once it has
}

// usageLoaded shows the app's use of its scopes, and acts on a u typed
// before it arrived.
func (f *appForm) usageLoaded(msg appUsageMsg) tea.Cmd {
	u := &f.usage
	if msg.appID != f.app.ID {
		return nil
	}
	ahead := u.typedAhead
	u.typedAhead = false
	if msg.err != nil {
		return u.c.toastErr(msg.err)
	}
	u.loaded, u.since = true, msg.since
	if u.since.IsZero() { // a database that never noted use: tracking begins now
		u.since = u.c.now()
	}
	u.use = make(map[scopes.ID]store.ScopeUse, len(msg.usage.Scopes))
	for _, s := range msg.usage.Scopes {
		u.use[s.Scope] = s
	}
	if ahead {
		return f.narrow()
	}
	return nil
}

// covers reports whether tracking began at least days ago.
func (u *scopeUsage) covers(days int) bool {
	return !u.since.After(u.c.now().Add(-time.Duration(days) * day))
}

// column is a scope's name in the checklist and the note after it, the
// notes lined up in a column after the longest name, within width cells.
func (u *scopeUsage) column(all []scopes.Scope, sc scopes.Scope, width int) (name, note string) {
	if u == nil || !u.loaded {
		return sc.Name, ""
	}
	nameW := 0
	for _, o := range all {
		nameW = max(nameW, lipgloss.Width(o.Name))
	}
	if note = u.note(sc.ID, width-nameW); note == "" {
		return sc.Name, ""
	}
	return pad(sc.Name, nameW), note
}

// note is what the checklist shows after a scope's name: the long form
// when it fits in room cells, else the short one, else nothing.
func (u *scopeUsage) note(id scopes.ID, room int) string {
	if u == nil || !u.loaded {
		return ""
	}
	long, short := u.texts(id)
	for _, t := range []string{long, short} {
		if t != "" && lipgloss.Width(t)+2 <= room {
			return "  " + t
		}
	}
	return ""
}

// texts say when the app's keys last used a scope and how often they were
// refused it: "used 3 min ago · 4 refused", "not used in 90 days",
// "never used since tracking began on 2026-11-30".
func (u *scopeUsage) texts(id scopes.ID) (long, short string) {
	s, ok := u.use[id]
	if !ok {
		return "", ""
	}
	now := u.c.now()
	switch age := now.Sub(s.LastUsed); {
	case !s.LastUsed.IsZero() && age >= 30*day:
		days := 30
		if age >= 90*day {
			days = 90
		}
		long, short = fmt.Sprintf("not used in %d days", days), fmt.Sprintf("%d+ days", days)
	case !s.LastUsed.IsZero():
		long, short = "used "+u.c.ago(now, s.LastUsed), u.c.ago(now, s.LastUsed)
	case s.Granted:
		long, short = "never used since tracking began on "+u.c.date(u.since), "never used"
	}
	if s.Denied > 0 {
		refused := fmt.Sprintf("%s refused", thousands(int(s.Denied)))
		if long == "" {
			return refused, refused
		}
		long, short = long+" · "+refused, short+" · "+refused
	}
	return long, short
}

// unused is the scopes of set the app has had for the whole window and did
// not use in it.
func (u *scopeUsage) unused(set, granted scopes.Set, days int) scopes.Set {
	cutoff := u.c.now().Add(-time.Duration(days) * day)
	var out scopes.Set
	for _, id := range set.IDs() {
		if granted.Allows(id) && u.use[id].LastUsed.Before(cutoff) {
			out = out.With(id)
		}
	}
	return out
}

// narrow proposes unticking the scopes the app did not use for 90 days,
// and, pressed again, for 30 days, then 90 again. It changes only the
// ticks: the impact preview and Save do the rest, audited as any scope
// change. It never unticks every scope: an app needs one.
func (f *appForm) narrow() tea.Cmd {
	c, u := f.c, &f.usage
	if !c.canWrite() {
		return c.refuseWrite("viewers can't change scopes")
	}
	if !u.loaded {
		u.typedAhead = true
		return nil
	}
	again := u.window != 0 && f.checks.set == u.applied
	days := narrowWindows[0]
	switch {
	case again && u.window == narrowWindows[0]:
		days = narrowWindows[1]
	case !again:
		u.base = f.checks.set
		if !u.covers(days) {
			days = narrowWindows[1]
		}
	}
	if !u.covers(days) {
		return c.warn("Tracking began on %s: not enough history for %d days.", c.date(u.since), days)
	}
	f.tab, f.err = 0, ""
	drop := u.unused(u.base, f.app.Scopes, days)
	next := u.base &^ drop
	switch {
	case drop.IsEmpty():
		f.checks.set, u.window, u.applied = u.base, days, u.base
		return c.toast("Every ticked scope was used in %d days: none unticked.", days)
	case next.IsEmpty():
		f.checks.set, u.window, u.applied = u.base, days, u.base
		return c.warn("No scope used in %d days: an app needs one, so none unticked.", days)
	}
	f.checks.set, u.window, u.applied = next, days, next
	other := narrowWindows[0]
	if days == other {
		other = narrowWindows[1]
	}
	return c.toast("Unticked %s unused for %d days; u for %d days.", countScopes(drop.Len()), days, other)
}

func countScopes(n int) string {
	if n == 1 {
		return "1 scope"
	}
	return fmt.Sprintf("%d scopes", n)
}

// listUsage is what the app list's unused: filter word knows.
type listUsage struct {
	days    int // the word's window; 0 without the word
	loaded  bool
	since   time.Time
	lastUse map[uint64]map[scopes.ID]time.Time // per app, per scope
}

// unusedSentinel is the searchable text of an app the unused: word leaves
// out: no typed query contains it, so the app matches nothing.
const unusedSentinel = "\x02"

// parseUnused takes the unused: word out of a filter: "unused:" is 90
// days, "unused:30d" 30. A filter without the word is returned as it is.
func parseUnused(filter string) (text string, days int) {
	words := strings.Fields(filter)
	kept := words[:0:0]
	for _, w := range words {
		rest, ok := strings.CutPrefix(strings.ToLower(w), "unused:")
		if !ok {
			kept = append(kept, w)
			continue
		}
		days = narrowWindows[0]
		if n, err := strconv.Atoi(strings.TrimSuffix(rest, "d")); err == nil && n > 0 {
			days = n
		}
	}
	if days == 0 {
		return filter, 0
	}
	return strings.Join(kept, " "), days
}

// hay is the searchable text of idx's apps: with the unused: word, only the
// apps with a scope unused for its window can match.
func (l *appList) hay(idx *appIndex) []string {
	if l.usage.days == 0 {
		return idx.hay
	}
	cutoff := l.c.now().Add(-time.Duration(l.usage.days) * day)
	out := make([]string, len(idx.apps))
	for i, a := range idx.apps {
		out[i] = unusedSentinel
		if !l.usage.loaded {
			continue
		}
		use := l.usage.lastUse[a.ID]
		for _, id := range a.Scopes.IDs() {
			if use[id].Before(cutoff) {
				out[i] = idx.hay[i]
				break
			}
		}
	}
	return out
}

// setQuery gives the rows the filter's text and its unused: word, reading
// the apps' usage afresh whenever the word appears.
func (l *appList) setQuery(filter string) (string, tea.Cmd) {
	text, days := parseUnused(filter)
	var cmds []tea.Cmd
	if days != l.usage.days {
		if l.usage.days == 0 {
			cmds = append(cmds, l.c.loadUsage())
		}
		l.usage.days = days
		cmds = append(cmds, l.list.rows.setRows(l.hay(l.idx)))
	}
	if days != 0 && strings.TrimSpace(text) == "" {
		text = "\x00" // in every app's text: the word alone keeps every app it lets through
	}
	return text, tea.Batch(cmds...)
}

// usageLoaded applies the apps' usage to the unused: word.
func (l *appList) usageLoaded(msg usageLoadedMsg) tea.Cmd {
	if msg.err != nil {
		return l.c.toastErr(msg.err)
	}
	l.usage.loaded, l.usage.since = true, msg.since
	l.usage.lastUse = make(map[uint64]map[scopes.ID]time.Time, len(msg.apps))
	for _, a := range msg.apps {
		m := make(map[scopes.ID]time.Time, len(a.Scopes))
		for _, s := range a.Scopes {
			m[s.Scope] = s.LastUsed
		}
		l.usage.lastUse[a.App.ID] = m
	}
	if l.usage.days == 0 {
		return nil
	}
	cmd := l.list.setRows(l.hay(l.idx))
	return tea.Batch(cmd, l.list.applyFilter())
}
