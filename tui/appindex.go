package tui

import (
	"context"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// firstPage is how many apps the list reads at a time: more rows than a
// terminal a hundred lines tall shows. The list reads its first page before
// its first frame, and the next one as the cursor comes near the end of
// what it holds; a filter the apps it holds cannot answer reads the store's
// filtered pages. However many apps there are, the console holds those it
// showed, not all of them.
const firstPage = 100

// filterExamine is how many apps one filtered read looks at, so a filter
// that few apps pass answers in bounded time, a page of matches at a time.
const filterExamine = 4096

// appIndex is the app list's data: apps in list order (store.ByName) with
// their searchable text, from the start of the list (or of the apps a
// filter passes) to as far as it was read. The change feed keeps it
// current.
type appIndex struct {
	apps     []store.App
	hay      []string        // per app: name, creator, scope names and ids, lower case
	query    string          // the store's filter the apps were read with ("": every app)
	next     store.AppCursor // where the next page starts: the last app examined
	prev     store.AppCursor // where the page before starts, read backwards: the first app examined
	first    bool            // no app passing query comes before these
	complete bool            // no app passing query comes after these
	total    int             // apps in the database, filter or not, as last read

	gen     int            // bumped by every new read that replaces the index
	reading bool           // a read for this index is in flight
	held    []store.Update // updates since that read began, to replay on its result
}

// appsLoadedMsg brings a page of apps: the first of a new index (fresh),
// or the next (or, before, the previous) page of the current one.
type appsLoadedMsg struct {
	gen    int
	fresh  bool
	before bool
	query  string
	at     store.AppCursor // where a fresh index was read from
	page   store.AppPage
	err    error
}

// newAppIndex is an index of the apps passing query from place at on: the
// page read from there.
func newAppIndex(query string, at store.AppCursor, page store.AppPage) *appIndex {
	idx := &appIndex{query: query, total: page.Total, prev: at, first: at.IsZero()}
	if len(page.Apps) > 0 {
		idx.prev = store.CursorOf(page.Apps[0])
		idx.first = idx.first || query == "" && page.Offset == 0
	}
	idx.add(page)
	return idx
}

// lastPage is an index of the last page of the apps passing query.
func lastPage(query string, page store.AppPage) *appIndex {
	idx := &appIndex{query: query, total: page.Total, complete: true, first: !page.More, prev: page.Next}
	idx.prepend(page)
	idx.first = !page.More
	return idx
}

// add appends the next page.
func (x *appIndex) add(p store.AppPage) {
	for _, a := range p.Apps {
		if i := x.find(a.ID); i >= 0 { // moved by a rename meanwhile
			x.apps = slices.Delete(x.apps, i, i+1)
			x.hay = slices.Delete(x.hay, i, i+1)
		}
		x.apps = append(x.apps, a)
		x.hay = append(x.hay, haystack(a))
	}
	x.next, x.complete, x.total = p.Next, !p.More, p.Total
}

// prepend puts the page before the apps read so far.
func (x *appIndex) prepend(p store.AppPage) {
	apps, hay := make([]store.App, 0, len(p.Apps)+len(x.apps)), make([]string, 0, len(p.Apps)+len(x.apps))
	for _, a := range p.Apps {
		if x.find(a.ID) < 0 {
			apps, hay = append(apps, a), append(hay, haystack(a))
		}
	}
	x.apps, x.hay = append(apps, x.apps...), append(hay, x.hay...)
	x.prev, x.first, x.total = p.Next, !p.More, p.Total
}

// count is how many apps the database holds.
func (x *appIndex) count() int {
	if x.complete && x.query == "" {
		return len(x.apps)
	}
	return x.total
}

// none reports whether the database holds no app at all.
func (x *appIndex) none() bool { return x.count() == 0 }

// haystack is what the filter searches in an app.
func haystack(a store.App) string { return store.AppText(a) }

// storeQuery is the part of a filter's text the store can answer: the
// text, without the sentinel that the unused: word alone leaves.
func storeQuery(text string) string {
	return strings.ToLower(strings.TrimSpace(strings.ReplaceAll(text, "\x00", "")))
}

// firstApps reads the first page of apps.
func firstApps(ctx context.Context, st Store) (*appIndex, error) {
	p, err := st.AppPage(ctx, store.AppQuery{Limit: firstPage})
	if err != nil {
		return &appIndex{complete: true}, err
	}
	return newAppIndex("", store.AppCursor{}, p), nil
}

// appsFrom reads the first page of apps from the app named name on (or
// the first page, if there is none such), for a list that opens on it.
func appsFrom(ctx context.Context, st Store, name string) (*appIndex, error) {
	at := store.AppCursor{Folded: store.FoldName(name)} // just before the app of that name
	p, err := st.AppPage(ctx, store.AppQuery{After: at, Limit: firstPage})
	if err != nil || len(p.Apps) == 0 || store.FoldName(p.Apps[0].Name) != at.Folded {
		return firstApps(ctx, st)
	}
	return newAppIndex("", at, p), nil
}

// answers reports whether the index holds every app that passes query.
func (x *appIndex) answers(query string) bool {
	return x.first && x.complete && strings.Contains(query, x.query)
}

// reload starts reading the first page of a new index for query, off the
// UI's path: after a resync, or for a filter the index cannot answer.
func (c *common) reload(query string) tea.Cmd { return c.reloadAt(query, store.AppCursor{}, false) }

// reloadAt starts reading a new index for query from place at on (the
// zero place: the start), or, with last, its last page.
func (c *common) reloadAt(query string, at store.AppCursor, last bool) tea.Cmd {
	x := c.apps
	x.gen++
	x.reading, x.held = true, nil
	st, gen, ctx := c.store, x.gen, c.ctx
	return c.read(func() tea.Msg {
		p, err := st.AppPage(ctx, store.AppQuery{After: at, Backward: last, Filter: query, Limit: firstPage, Examine: filterExamine})
		if last && err == nil && len(p.Apps) == 0 && p.More { // a filter found nothing in the last apps it examined
			p, err = st.AppPage(ctx, store.AppQuery{Filter: query, Limit: firstPage, Examine: filterExamine})
			last = false
		}
		return appsLoadedMsg{gen: gen, fresh: true, before: last, query: query, at: at, page: p, err: err}
	})
}

// reloadAround starts reading a new index for query from app id on, so it
// can be selected.
func (c *common) reloadAround(query string, id uint64) tea.Cmd {
	x := c.apps
	x.gen++
	x.reading, x.held = true, nil
	st, gen, ctx := c.store, x.gen, c.ctx
	return c.read(func() tea.Msg {
		var at store.AppCursor
		if a, err := st.App(ctx, id); err == nil {
			at = store.AppCursor{Folded: store.FoldName(a.Name), ID: a.ID - 1} // just before it
		}
		p, err := st.AppPage(ctx, store.AppQuery{After: at, Filter: query, Limit: firstPage, Examine: filterExamine})
		return appsLoadedMsg{gen: gen, fresh: true, query: query, at: at, page: p, err: err}
	})
}

// readMore starts reading the next page of the index (or, before, the
// previous one), unless a read is in flight or there is none.
func (c *common) readMore(before bool) tea.Cmd {
	x := c.apps
	if x.reading || !before && x.complete || before && x.first {
		return nil
	}
	x.reading, x.held = true, nil
	q := store.AppQuery{After: x.next, Filter: x.query, Limit: firstPage, Examine: filterExamine}
	if before {
		q.After, q.Backward = x.prev, true
	}
	st, gen, ctx := c.store, x.gen, c.ctx
	return c.read(func() tea.Msg {
		p, err := st.AppPage(ctx, q)
		return appsLoadedMsg{gen: gen, before: before, query: q.Filter, page: p, err: err}
	})
}

// loaded applies a page read for the index: it reports whether the index
// changed. A page for an index replaced since is dropped.
func (c *common) loaded(msg appsLoadedMsg) bool {
	x := c.apps
	if msg.gen != x.gen {
		return false
	}
	held := x.held
	x.reading, x.held = false, nil
	if msg.err != nil {
		return false
	}
	switch {
	case msg.fresh:
		fresh := newAppIndex(msg.query, msg.at, msg.page)
		if msg.before {
			fresh = lastPage(msg.query, msg.page)
		}
		fresh.gen = x.gen
		x = fresh
		c.apps = x
	default:
		// A new index, so the list can find what it selected in the old.
		y := *x
		x = &y
		c.apps = x
		if msg.before {
			x.prepend(msg.page)
		} else {
			x.add(msg.page)
		}
	}
	for _, up := range held {
		x.apply(up)
	}
	return true
}

// position is where app a sits (or would sit) in the list order.
func (x *appIndex) position(a store.App) int {
	i, _ := slices.BinarySearchFunc(x.apps, a, store.ByName)
	return i
}

// find is the position of the app with this id, or -1.
func (x *appIndex) find(id uint64) int {
	return slices.IndexFunc(x.apps, func(a store.App) bool { return a.ID == id })
}

// apply shows one update of the change feed: the app it touched as it is
// now, moved if renamed, or gone if deleted. It reports whether the index
// changed; an update it already shows (this console's own change, known
// from the store's answer) changes nothing.
func (x *appIndex) apply(up store.Update) bool {
	if x.reading {
		x.held = append(x.held, up)
	}
	switch up.Event.Action {
	case store.ActionAppCreate:
		x.total++
	case store.ActionAppDelete:
		x.total = max(0, x.total-1)
	}
	if up.App == nil {
		if up.Event.Action != store.ActionAppDelete {
			return false
		}
		return x.remove(up.Event.AppID)
	}
	return x.put(*up.App)
}

// put shows app a as it is now, unless the index has it as recent already.
func (x *appIndex) put(a store.App) bool {
	i := x.find(a.ID)
	if i >= 0 {
		if x.apps[i].Revision >= a.Revision {
			return false
		}
		x.apps = slices.Delete(x.apps, i, i+1)
		x.hay = slices.Delete(x.hay, i, i+1)
	}
	hay := haystack(a)
	if !strings.Contains(hay, x.query) {
		return i >= 0 // no longer passes the filter the index was read with
	}
	j := x.position(a)
	if !x.complete && j == len(x.apps) && store.CursorOf(a).Compare(x.next) > 0 ||
		!x.first && j == 0 && store.CursorOf(a).Compare(x.prev) < 0 {
		return i >= 0 // beyond what was read: the page that reads there brings it
	}
	x.apps = slices.Insert(x.apps, j, a)
	x.hay = slices.Insert(x.hay, j, hay)
	return true
}

// remove takes a deleted app out, reporting whether it was there.
func (x *appIndex) remove(id uint64) bool {
	i := x.find(id)
	if i < 0 {
		return false
	}
	x.apps = slices.Delete(x.apps, i, i+1)
	x.hay = slices.Delete(x.hay, i, i+1)
	return true
}
