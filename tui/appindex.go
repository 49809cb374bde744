package tui

import (
	"errors"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// firstPage is how many apps the list reads before its first frame: more
// rows than a terminal a hundred lines tall shows. A database with more apps draws this page at once
// and loads the rest in the background.
const firstPage = 100

// appIndex is the app list's data: every app in list order with its
// searchable text, or the first page of them while the rest loads.
type appIndex struct {
	apps     []store.App
	hay      []string // per app: name, creator, scope names and ids, lower case
	complete bool     // false while only the first page is known
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
func firstApps(st *store.Store) (*appIndex, error) {
	apps, err := st.FirstApps(firstPage + 1)
	if err != nil {
		return &appIndex{complete: true}, err
	}
	if len(apps) > firstPage {
		return newAppIndex(apps[:firstPage], false), nil
	}
	return newAppIndex(apps, true), nil
}

// loadApps reads every app, off the UI's path.
func loadApps(st *store.Store) tea.Cmd {
	return func() tea.Msg {
		apps, err := st.Apps()
		if err != nil {
			return appsLoadedMsg{err: err}
		}
		return appsLoadedMsg{idx: newAppIndex(apps, true)}
	}
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

// refresh brings one app up to date from the store after a change made in
// this console: replaced, moved if renamed, or removed if deleted. The
// others stay as they are; the background reload catches changes made
// elsewhere.
func (x *appIndex) refresh(st *store.Store, id uint64) {
	if i := x.find(id); i >= 0 {
		x.apps = slices.Delete(x.apps, i, i+1)
		x.hay = slices.Delete(x.hay, i, i+1)
	}
	a, err := st.App(id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			x.complete = false // unknown: let the reload decide
		}
		return
	}
	i := x.position(a)
	if !x.complete && i == len(x.apps) {
		return // beyond the first page: the reload places it
	}
	x.apps = slices.Insert(x.apps, i, a)
	x.hay = slices.Insert(x.hay, i, haystack(a))
}
