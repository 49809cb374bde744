package store

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"apiscopes/scopes"
)

// Paged reads of the app list, for a screen that shows a page of a large
// list: it asks for the apps it shows, never for all of them. They are
// answered from the index, which holds every app for Verify anyway, in the
// list order (ByName) kept beside it, so a page costs a binary search and
// the page's apps, on any engine, whatever the number of apps.

// AppCursor is a place in the list order of apps: the app of this folded
// name and id. The zero cursor is the edge of the list: before the first
// app, or, reading backwards, after the last.
type AppCursor struct {
	Folded string // FoldName of the app's name
	ID     uint64
}

// CursorOf is app a's place in the list order.
func CursorOf(a App) AppCursor { return AppCursor{FoldName(a.Name), a.ID} }

// IsZero reports whether c is the edge of the list.
func (c AppCursor) IsZero() bool { return c == AppCursor{} }

// Compare orders two places in the list order.
func (c AppCursor) Compare(d AppCursor) int {
	return cmp.Or(strings.Compare(c.Folded, d.Folded), cmp.Compare(c.ID, d.ID))
}

// AppQuery asks for a page of the app list.
type AppQuery struct {
	// After is where the page starts: the first app after this place (the
	// zero cursor: the first app). With Backward, the page ends just before
	// it (the zero cursor: with the last app).
	After    AppCursor
	Backward bool
	// Limit is the most apps the page holds (DefaultAppPage if ≤ 0).
	Limit int
	// Filter keeps the apps whose searchable text contains it, case
	// insensitively: the name, the creator, the scopes' names and ids
	// (AppText). Match, if set, must also accept an app.
	Filter string
	Match  func(App) bool
	// Examine bounds how many apps a filtered page looks at (0: no bound),
	// so a filter that few apps pass answers in bounded time: the page then
	// holds what was found, and Next says where to go on.
	Examine int
}

// DefaultAppPage is the size of a page when a query gives none.
const DefaultAppPage = 100

// AppPage is one page of the app list.
type AppPage struct {
	Apps []App // in list order, also when read backwards
	// Next is where the next page in the same direction starts: the last
	// app examined (the first, backwards). More reports whether any app
	// lies beyond it.
	Next AppCursor
	More bool
	// Offset is the position in the whole list of the page's first app (or,
	// for an empty page, of the place it was read from); Total is how many
	// apps there are, filter or not. Both are of the index's revision.
	Offset int
	Total  int
}

// AppText is the searchable text of an app, in lower case, as a filter of
// the app list sees it: its name, its creator, its scopes' names and ids.
func AppText(a App) string {
	return strings.ToLower(a.Name + "\x00" + a.CreatedBy + "\x00" + scopeText(a.Scopes))
}

// scopeTexts holds, per set of scopes, the lower-case text a filter finds
// them by; there are few distinct sets.
var scopeTexts sync.Map // scopes.Set → string

func scopeText(s scopes.Set) string {
	if v, ok := scopeTexts.Load(s); ok {
		return v.(string)
	}
	t := strings.ToLower(strings.Join(s.Names(), " ") + " " + s.String())
	scopeTexts.Store(s, t)
	return t
}

// matches reports whether app a passes the lower-case filter q: AppText
// contains q. The parts are searched one by one, as a filter typed cannot
// hold the separator between them.
func matches(a *App, q string) bool {
	if q == "" {
		return true
	}
	if strings.Contains(q, "\x00") {
		return strings.Contains(AppText(*a), q)
	}
	return containsFold(a.Name, q) || containsFold(a.CreatedBy, q) || strings.Contains(scopeText(a.Scopes), q)
}

// containsFold reports whether lower(s) contains q, without making a
// lower-case copy of s when it is ASCII and already lower case.
func containsFold(s, q string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.Contains(strings.ToLower(s), q)
		}
	}
	return strings.Contains(s, q)
}

// appOrder is the list order of the index's apps, kept by the index under
// its lock: valid, or to be worked out again from the apps at the next
// read (after a load, a reload, or a change set that touches many apps).
type appOrder struct {
	keys  []AppCursor
	valid bool
	rev   uint64 // the index's revision when the current change set began
	moves int    // places changed in this change set
}

// orderMovesPerSet is how many apps one change set may move in the order
// one by one; beyond it (a bulk load) the order is worked out again once.
const orderMovesPerSet = 64

// put notes that app a was written, replacing old (nil: a new app); the
// index's lock is held.
func (o *appOrder) put(rev uint64, old *App, a *App) {
	if !o.valid || old != nil && old.Name == a.Name {
		return
	}
	if !o.budget(rev) {
		return
	}
	if old != nil {
		o.remove(CursorOf(*old))
	}
	c := CursorOf(*a)
	i, _ := slices.BinarySearchFunc(o.keys, c, AppCursor.Compare)
	o.keys = slices.Insert(o.keys, i, c)
}

// drop notes that app a is gone.
func (o *appOrder) drop(rev uint64, a *App) {
	if !o.valid || !o.budget(rev) {
		return
	}
	o.remove(CursorOf(*a))
}

func (o *appOrder) remove(c AppCursor) {
	if i, ok := slices.BinarySearchFunc(o.keys, c, AppCursor.Compare); ok {
		o.keys = slices.Delete(o.keys, i, i+1)
	}
}

// budget counts one move in the change set at revision rev, and gives the
// order up once the set has moved too many.
func (o *appOrder) budget(rev uint64) bool {
	if rev != o.rev {
		o.rev, o.moves = rev, 0
	}
	if o.moves++; o.moves > orderMovesPerSet {
		o.invalidate()
		return false
	}
	return true
}

func (o *appOrder) invalidate() { o.keys, o.valid = nil, false }

// ensure works the order out again when it is not valid; the index's lock
// is held.
func (ix *index) ensureOrder() {
	o := &ix.order
	if o.valid {
		return
	}
	keys := make([]AppCursor, 0, len(ix.slots))
	for id, slot := range ix.slots {
		if a := slot.app.Load(); a != nil {
			keys = append(keys, AppCursor{FoldName(a.Name), id})
		}
	}
	slices.SortFunc(keys, AppCursor.Compare)
	o.keys, o.valid = keys, true
}

// AppPage reads one page of the app list (see AppQuery).
func (s *Store) AppPage(ctx context.Context, q AppQuery) (AppPage, error) {
	if !s.IsOpen() {
		return AppPage{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return AppPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = DefaultAppPage
	}
	filter := strings.ToLower(strings.TrimSpace(q.Filter))
	ix := s.ix
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.ensureOrder()
	keys := ix.order.keys
	page := AppPage{Total: len(keys)}
	// start is the first position the page may take, going forward; going
	// backwards, the position after the last.
	start := len(keys)
	if !q.Backward || !q.After.IsZero() {
		i, found := slices.BinarySearchFunc(keys, q.After, AppCursor.Compare)
		if found && !q.Backward {
			i++
		}
		start = i
		if q.After.IsZero() && !q.Backward {
			start = 0
		}
	}
	take := func(i int) bool { // reports whether the page is full
		a := ix.slots[keys[i].ID].app.Load()
		if a == nil || !matches(a, filter) || q.Match != nil && !q.Match(*a) {
			return false
		}
		page.Apps = append(page.Apps, *a)
		return len(page.Apps) >= q.Limit
	}
	examined := 0
	bounded := func() bool { return q.Examine > 0 && (filter != "" || q.Match != nil) && examined >= q.Examine }
	if !q.Backward {
		i := start
		page.Offset = start
		for ; i < len(keys) && !bounded(); i++ {
			examined++
			if take(i) {
				i++
				break
			}
		}
		if len(page.Apps) > 0 {
			first := CursorOf(page.Apps[0])
			page.Offset = slices.Index(keys[start:], first) + start
		}
		if i > start {
			page.Next = keys[i-1]
		} else {
			page.Next = q.After
		}
		page.More = i < len(keys)
		return page, nil
	}
	i := start - 1
	for ; i >= 0 && !bounded(); i-- {
		examined++
		if take(i) {
			i--
			break
		}
	}
	slices.Reverse(page.Apps)
	page.Offset = i + 1
	if len(page.Apps) > 0 {
		first := CursorOf(page.Apps[0])
		page.Offset = slices.Index(keys[i+1:], first) + i + 1
	}
	if i+1 < start {
		page.Next = keys[i+1]
	} else {
		page.Next = q.After
	}
	page.More = i >= 0
	return page, nil
}

// AppCount is how many apps there are.
func (s *Store) AppCount(ctx context.Context) (int, error) {
	if !s.IsOpen() {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.ix.mu.Lock()
	defer s.ix.mu.Unlock()
	s.ix.ensureOrder()
	return len(s.ix.order.keys), nil
}

// EventQuery asks for a page of the audit trail, newest first.
type EventQuery struct {
	// Before is where the page starts: the newest event whose sequence
	// number is below it (0: the newest event).
	Before uint64
	// Limit is the most events the page holds (DefaultEventPage if ≤ 0).
	Limit int
	// Match, if set, keeps the events it accepts; Examine then bounds how
	// many events the page looks at (0: no bound).
	Match   func(Event) bool
	Examine int
}

// DefaultEventPage is the size of a page of events when a query gives none.
const DefaultEventPage = 256

// EventPage is one page of the audit trail.
type EventPage struct {
	Events []Event // newest first
	// Next is where the next, older page starts (EventQuery.Before): the
	// sequence number of the last event examined. More reports whether
	// older events remain.
	Next uint64
	More bool
}

// Events reads one page of the audit trail (see EventQuery). It reads only
// the events it examines, from one snapshot, on any engine.
func (s *Store) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultEventPage
	}
	var page EventPage
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		page = EventPage{Next: q.Before}
		var from []byte
		if q.Before > 0 {
			from = itob(q.Before)
		}
		examined := 0
		return snap.Scan(TableAudit, nil, ScanOptions{From: from, Reverse: true}, func(k, v []byte) error {
			if len(page.Events) >= q.Limit || q.Match != nil && q.Examine > 0 && examined >= q.Examine {
				page.More = true
				return ErrStop
			}
			var ev Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			examined++
			page.Next = ev.Seq
			if q.Match == nil || q.Match(ev) {
				page.Events = append(page.Events, ev)
			}
			return nil
		})
	})
	if err != nil {
		return EventPage{}, err
	}
	return page, nil
}
