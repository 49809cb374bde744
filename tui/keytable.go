package tui

import (
	"fmt"

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
// app's keys: list them, create one through the dialog, delete one after
// the seed's caution.
type keyActions struct {
	c     *common
	appID uint64
	copy  Clipboard
	table keyTable
	err   error
}

func (a *keyActions) reload() {
	keys, err := a.c.store.Keys(a.appID)
	a.err = err
	a.table.set(keys)
}

func (a *keyActions) create(app store.App) tea.Cmd {
	if !a.c.canWrite() {
		return toastErr(fmt.Errorf("%w: viewers can't create API keys", store.ErrPermission))
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
		return toastErr(fmt.Errorf("%w: viewers can't roll API keys", store.ErrPermission))
	}
	if !k.DeleteAt.IsZero() {
		return toastErr(store.ErrKeyRolled)
	}
	return a.c.post(openDialogMsg{&rollDialog{c: a.c, app: app, old: k, copy: a.copy, grace: defaultGrace}})
}

func (a *keyActions) confirmDelete(appName string) tea.Cmd {
	k, ok := a.table.selected()
	if !ok {
		return nil
	}
	c := a.c
	if !c.canWrite() {
		return toastErr(fmt.Errorf("%w: viewers can't delete API keys", store.ErrPermission))
	}
	return c.post(openDialogMsg{&confirmDialog{
		c: c, title: "Delete API key", confirm: "Delete", danger: true,
		body:    fmt.Sprintf("Delete the key %q (%s) of %s?", clean(k.Name), clean(k.Hint), clean(appName)),
		caution: "Caution: The key you are deleting will no longer function if it is in use. You must generate a new key.",
		onYes: func() tea.Cmd {
			if err := c.store.DeleteKey(c.actor, k.ID); err != nil {
				return toastErr(err)
			}
			return tea.Batch(a.c.post(dataChangedMsg{}), toast("API key %q deleted.", clean(k.Name)))
		},
	}})
}
