package tui

import (
	"context"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// firstPage is how many apps the list reads before its first frame: more
// rows than a terminal a hundred lines tall shows. A database with more apps
// draws this page at once and loads the rest in the background.
const firstPage = 100

// appIndex is the app list's data: every app in list order (store.ByName)
// with its searchable text, or the first page of them while the rest loads.
// The change feed keeps it current; it is read whole only at the start and
// when the feed lost updates.
type appIndex struct {
	apps     []store.App
	hay      []string // per app: name, creator, scope names and ids, lower case
	complete bool     // false while only the first page is known

	loading bool           // a whole read is in flight
	held    []store.Update // updates since that read began, to replay on its result
}

// appsLoadedMsg brings the whole index, read in the background.
type appsLoadedMsg struct {
	idx *appIndex
	err error
}

func newAppIndex(apps []store.App, complete bool) *appIndex {
	idx := &appIndex{apps: apps, hay: make([]string, len(apps)), complete: complete}
	for i, a := range apps {
		idx.hay[i] = haystack(a)
	}
	return idx
}

// haystack is what the filter searches in an app.
func haystack(a store.App) string {
	return strings.ToLower(a.Name + "\x00" + a.CreatedBy + "\x00" + strings.Join(a.Scopes.Names(), " ") + " " + a.Scopes.String())
}

// firstApps reads the first page of apps.
func firstApps(ctx context.Context, st Store) (*appIndex, error) {
	apps, err := st.FirstApps(ctx, firstPage+1)
	if err != nil {
		return &appIndex{complete: true}, err
	}
	if len(apps) > firstPage {
		return newAppIndex(apps[:firstPage], false), nil
	}
	return newAppIndex(apps, true), nil
}

// loadApps reads every app, off the UI's path.
func (c *common) loadApps() tea.Cmd {
	c.apps.loading, c.apps.held = true, nil
	st := c.store
	ctx := c.ctx
	return c.read(func() tea.Msg {
		apps, err := st.FirstApps(ctx, -1)
		if err != nil {
			return appsLoadedMsg{err: err}
		}
		return appsLoadedMsg{idx: newAppIndex(apps, true)}
	})
}

// replay brings a freshly read index up to date with the updates the old
// one received while it was read, and returns it.
func (x *appIndex) replay(old *appIndex) *appIndex {
	for _, up := range old.held {
		x.apply(up)
	}
	return x
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
	if x.loading {
		x.held = append(x.held, up)
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
	j := x.position(a)
	if !x.complete && j == len(x.apps) {
		return i >= 0 // beyond the first page: the whole read places it
	}
	x.apps = slices.Insert(x.apps, j, a)
	x.hay = slices.Insert(x.hay, j, haystack(a))
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
