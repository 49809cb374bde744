package tui

import (
	"fmt"
	"slices"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// keyTable lists an app's API keys by name and hint: the key text itself is
// never available after Copy and Close.
type keyTable struct {
	keys   []store.Key
	cursor int
	offset int
}

func (t *keyTable) set(keys []store.Key) {
	t.keys = keys
	t.cursor = max(0, min(t.cursor, len(keys)-1))
}

// put shows key k as it is now: in place if listed, else last (the list is
// oldest first).
func (t *keyTable) put(k store.Key) {
	if i := slices.IndexFunc(t.keys, func(e store.Key) bool { return e.ID == k.ID }); i >= 0 {
		t.keys[i] = k
		return
	}
	t.keys = append(t.keys, k)
}

// remove takes a deleted key out.
func (t *keyTable) remove(id uint64) {
	t.keys = slices.DeleteFunc(t.keys, func(e store.Key) bool { return e.ID == id })
	t.cursor = max(0, min(t.cursor, len(t.keys)-1))
}

// shows reports whether the table already shows what the event did: this
// console's own change, applied from the store's answer.
func (t *keyTable) shows(ev store.Event) bool {
	has := func(id uint64) bool { return slices.ContainsFunc(t.keys, func(k store.Key) bool { return k.ID == id }) }
	switch ev.Action {
	case store.ActionKeyCreate:
		return has(ev.KeyID)
	case store.ActionKeyDelete:
		return !has(ev.KeyID)
	case store.ActionKeyRoll:
		return has(ev.NewKeyID)
	}
	return true // not about keys
}

func (t *keyTable) selected() (store.Key, bool) {
	if len(t.keys) == 0 {
		return store.Key{}, false
	}
	return t.keys[t.cursor], true
}

// move steps the selection up or down.
func (t *keyTable) move(up bool) {
	if up {
		t.cursor = max(0, t.cursor-1)
	} else {
		t.cursor = max(0, min(len(t.keys)-1, t.cursor+1))
	}
}

// view draws the table in at most height lines (header included). An
// expired key's Expires cell is drawn in the error colour.
func (t *keyTable) view(c *common, width, height int, focused bool) []string {
	s := c.styles
	if len(t.keys) == 0 {
		return []string{s.Hint.Render("No API keys yet. Create one to let a service use this app.")}
	}
	const hintW, onW, expW, usedW = 9, 10, 10, 11
	byW := 10
	if width >= 90 { // room for whole creator names when the screen has it
		byW = 14
	}
	nameW := max(8, width-2-hintW-byW-onW-expW-usedW-10)
	// The row is drawn in three parts so that the Expires cell can have a
	// colour of its own inside the row's style.
	lead := func(cursor, name, hint, by, on string) string {
		return cursor + pad(name, nameW) + "  " + pad(hint, hintW) + "  " + pad(by, byW) + "  " + pad(on, onW) + "  "
	}
	head := s.TableHead.Render(lead("  ", "Name", "Key", "Created by", "Created on") + pad("Expires", expW) + "  " + "Last used")
	now := c.now()
	var lines []string
	for i, k := range t.keys {
		st, cur := s.Row, "  "
		if i == t.cursor && focused {
			st, cur = s.RowActive, "› "
		}
		cell := c.expiresCell(now, k)
		expSt := st
		if state := k.State(now); state == store.KeyScheduled || !state.Works() {
			expSt = st.Foreground(s.Danger)
		}
		lines = append(lines, st.Render(lead(cur, clean(k.Name), clean(k.Hint), clean(k.CreatedBy), c.date(k.CreatedAt)))+
			expSt.Render(pad(cell, expW))+st.Render("  "+pad(c.ago(now, k.LastUsedAt), usedW)))
	}
	body := window(lines, height-1, t.cursor, &t.offset)
	return append([]string{head}, body...)
}

// countKeys is "1 API key" or "3 API keys".
func countKeys(n int) string {
	if n == 1 {
		return "1 API key"
	}
	return fmt.Sprintf("%d API keys", n)
}

// keyActions are what both the key step and the edit window do with an
// app's keys: list them, create one through the dialog, roll one, delete
// one after the seed's caution. The list follows the change feed: this
// console's own changes from the store's answers, another session's by
// reading the app's keys again.
type keyActions struct {
	c        *common
	appID    uint64
	copy     Clipboard
	table    keyTable
	err      error
	loading  bool
	deleting uint64 // the key being deleted, while the store works on it
}

// load reads the app's keys again.
func (a *keyActions) load() tea.Cmd {
	a.loading = true
	return a.c.loadKeys(a.appID)
}

// update follows the answers of store calls and the change feed, and
// reports what it did for the page to say.
func (a *keyActions) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case keysLoadedMsg:
		if msg.appID == a.appID {
			a.loading = false
			a.err = msg.err
			if msg.err == nil {
				a.table.set(msg.keys)
			}
		}
	case keyCreatedMsg:
		if msg.appID == a.appID && msg.err == nil {
			a.table.put(msg.key)
		}
	case keyRolledMsg:
		if msg.appID == a.appID && msg.err == nil {
			if msg.oldKey.Deleting(msg.newKey.CreatedAt) { // rolled with no grace: gone at once
				a.table.remove(msg.oldKey.ID)
			} else {
				a.table.put(msg.oldKey)
			}
			a.table.put(msg.newKey)
		}
	case keyDeletedMsg:
		if msg.key.ID != a.deleting {
			return nil
		}
		a.deleting = 0
		if msg.err != nil {
			return a.c.toastErr(msg.err)
		}
		a.table.remove(msg.key.ID)
		return a.c.toast("API key %q deleted.", clean(msg.key.Name))
	case updateMsg:
		if ev := msg.up.Event; ev.AppID == a.appID && !a.table.shows(ev) {
			return a.load()
		}
	case resyncMsg:
		return a.load()
	}
	return nil
}

func (a *keyActions) create(app store.App) tea.Cmd {
	if !a.c.canWrite() {
		return a.c.toastErr(fmt.Errorf("%w: viewers can't create API keys", store.ErrPermission))
	}
	d, cmd := newKeyDialog(a.c, app, a.copy)
	return tea.Batch(a.c.post(openDialogMsg{d}), cmd)
}

// roll opens Roll API key for the selected key.
func (a *keyActions) roll(app store.App) tea.Cmd {
	k, ok := a.table.selected()
	if !ok {
		return nil
	}
	if !a.c.canWrite() {
		return a.c.toastErr(fmt.Errorf("%w: viewers can't roll API keys", store.ErrPermission))
	}
	if k.State(a.c.now()) == store.KeyScheduled {
		return a.c.toastErr(store.ErrKeyRolled)
	}
	return a.c.post(openDialogMsg{&rollDialog{c: a.c, app: app, old: k, copy: a.copy, grace: defaultGrace}})
}

func (a *keyActions) confirmDelete(appName string) tea.Cmd {
	k, ok := a.table.selected()
	if !ok || a.deleting != 0 {
		return nil
	}
	c := a.c
	if !c.canWrite() {
		return c.toastErr(fmt.Errorf("%w: viewers can't delete API keys", store.ErrPermission))
	}
	return c.post(openDialogMsg{&confirmDialog{
		c: c, title: "Delete API key", confirm: "Delete", danger: true,
		body:    fmt.Sprintf("Delete the key %q (%s) of %s?", clean(k.Name), clean(k.Hint), clean(appName)),
		caution: "Caution: The key you are deleting will no longer function if it is in use. You must generate a new key.",
		onYes: func() tea.Cmd {
			a.deleting = k.ID
			st, actor := c.store, c.actor
			return c.write(func() tea.Msg { return keyDeletedMsg{key: k, err: st.DeleteKey(actor, k.ID)} })
		},
	}})
}

// busy says what the keys wait for.
func (a *keyActions) busy() string {
	switch {
	case a.deleting != 0:
		return "Deleting the API key…"
	case a.loading:
		return "Loading API keys…"
	}
	return ""
}
