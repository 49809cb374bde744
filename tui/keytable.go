package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// keyTable lists an app's API keys by name and hint: the key text itself is
// never available after Copy and Close. Its columns fit the width (see
// keyColumns); the selected key is shown in full below it (pane).
type keyTable struct {
	keys   []store.Key
	cursor int
	offset int
	height int // rows in view
	widths []int
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
	case store.ActionKeyDelete, store.ActionKeyUndelivered:
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
	t.offset = follow(t.offset, t.cursor, t.height, len(t.keys))
}

// moveTo selects the first key, or the last.
func (t *keyTable) moveTo(last bool) {
	t.cursor = 0
	if last {
		t.cursor = max(0, len(t.keys)-1)
	}
	t.offset = follow(t.offset, t.cursor, t.height, len(t.keys))
}

// keyRowID names the row of key i for the mouse.
func keyRowID(i int) string { return "key:" + strconv.Itoa(i) }

// click selects the key of a row, reporting whether id was one.
func (t *keyTable) click(id string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "key:"))
	if !strings.HasPrefix(id, "key:") || err != nil || n >= len(t.keys) {
		return false
	}
	t.cursor = n
	return true
}

// The key table's columns: the hint and the status are never cut; the
// name is cut first (in its middle, see view), and on a narrow screen who
// made a key and when give way, then its last use (the pane below shows
// them all).
// keyStatusCol is the Status column's index in keyColumns.
const keyStatusCol = 4

var keyColumns = []column{
	{title: "Name", min: 12, max: 24, grow: true, shrink: 2},
	{title: "Key", whole: true},
	{title: "Created by", min: 8, max: 14, shrink: 1, drop: 5},
	{title: "Created on", whole: true, drop: 4},
	{title: "Status", whole: true},
	{title: "Last used", min: 9, max: 11, shrink: 1, drop: 3},
	{title: "From", min: 8, max: 20, shrink: 3, drop: 6},
}

// columns are the key table's columns: From only where a key of the app
// is limited to addresses, since "anywhere" on every row says nothing.
func (t *keyTable) columns() []column {
	for _, k := range t.keys {
		if len(k.AllowFrom) > 0 {
			return keyColumns
		}
	}
	return keyColumns[:len(keyColumns)-1]
}

func (c *common) keyCells(now time.Time, k store.Key) []string {
	return []string{clean(k.Name), clean(k.Hint), clean(k.CreatedBy), c.date(k.CreatedAt), c.keyState(now, k), c.ago(now, k.LastUsedAt),
		allowedFrom(k)}
}

// allowedFrom is where a key may be used from, for its row: "anywhere", its
// one network, or its first and how many more.
func allowedFrom(k store.Key) string {
	list := store.FormatAllowFrom(k.AllowFrom)
	switch len(list) {
	case 0:
		return "anywhere"
	case 1:
		return list[0]
	}
	return fmt.Sprintf("%s +%d", list[0], len(list)-1)
}

// layout fits the columns to width and the rows to height lines (header
// included).
func (t *keyTable) layout(c *common, width, height int) {
	t.height = max(1, height-1)
	t.offset = follow(t.offset, t.cursor, t.height, len(t.keys))
	now := c.now()
	var rows [][]string
	for _, k := range t.keys[t.offset:min(len(t.keys), t.offset+t.height)] {
		rows = append(rows, c.keyCells(now, k))
	}
	t.widths = layoutColumns(t.columns(), rows, width, 2)
}

// view draws the header and the rows in view. A key's Status is drawn in
// the error colour once it is expired or on its way out.
func (t *keyTable) view(c *common, focused bool) drawing {
	s := c.styles
	var d drawing
	if len(t.keys) == 0 {
		d.add(s.Hint.Render("No API keys yet. Create one to let a service use this app."))
		return d
	}
	cols := t.columns()
	d.add(s.TableHead.Render("  " + tableRow(cols, t.widths, colTitles(cols))))
	now := c.now()
	for i := t.offset; i < len(t.keys) && i < t.offset+t.height; i++ {
		k := t.keys[i]
		st, lead := s.Row, "  "
		if i == t.cursor {
			st, lead = s.RowCurrent, s.currentLead()
			if focused {
				st, lead = s.RowActive, "› "
			}
		}
		cells := c.keyCells(now, k)
		cells[0] = truncateMiddle(cells[0], t.widths[0]) // "svc-one…(rolled)" stays apart from "svc-one"
		line := lead + tableRow(cols, t.widths, cells)
		row := st.Render(line)
		if state := k.State(now); state == store.KeyScheduled || !state.Works() {
			// The Status cell in the warning colour, within the row's style.
			x, w := cellSpan(t.widths, keyStatusCol)
			x += len([]rune(lead))
			row = st.Render(ansi.Cut(line, 0, x)) + st.Foreground(s.Danger).Render(ansi.Cut(line, x, x+w)) + st.Render(ansi.Cut(line, x+w, lipgloss.Width(line)))
		}
		d.addArea(keyRowID(i), row)
	}
	return d
}

// pane shows the selected key in full: its name, hint, who made it and
// when, its last use, and where it is in its life.
func (t *keyTable) pane(c *common, width int) []string {
	k, ok := t.selected()
	if !ok {
		return nil
	}
	s, now := c.styles, c.now()
	names := wrap(clean(k.Name), width)
	if len(names) > 2 {
		names = append(names[:1], truncate(strings.Join(names[1:], " "), width))
	}
	var lines []string
	for _, n := range names {
		lines = append(lines, s.Title.Render(n))
	}
	if status := c.keyStatus(now, k); status != "" {
		lines = append(lines, wrapStyled(s.Caution, status, width)...)
	}
	facts := fmt.Sprintf("%s · created %s by %s · used %s", clean(k.Hint), c.dateTime(k.CreatedAt), clean(k.CreatedBy), c.ago(now, k.LastUsedAt))
	if len(k.AllowFrom) > 0 {
		facts += " · from " + strings.Join(store.FormatAllowFrom(k.AllowFrom), ", ") + " only"
	}
	return append(lines, wrapStyled(s.Hint, facts, width)...)
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
		return a.c.refuseWrite("viewers can't create API keys")
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
		return a.c.refuseWrite("viewers can't roll API keys")
	}
	if k.State(a.c.now()) == store.KeyScheduled {
		return a.c.toastErr(store.ErrKeyRolled)
	}
	return a.c.post(openDialogMsg{newRollDialog(a.c, app, k, a.copy)})
}

func (a *keyActions) confirmDelete(appName string) tea.Cmd {
	k, ok := a.table.selected()
	if !ok || a.deleting != 0 {
		return nil
	}
	c := a.c
	if !c.canWrite() {
		return c.refuseWrite("viewers can't delete API keys")
	}
	return c.post(openDialogMsg{newConfirm(c, confirmDialog{
		title: "Delete API key", confirm: "Delete", danger: true,
		body:    fmt.Sprintf("Delete the key %q (%s) of %s?", clean(k.Name), clean(k.Hint), clean(appName)),
		caution: "Caution: The key you are deleting will no longer function if it is in use. You must generate a new key.",
		onYes: func() tea.Cmd {
			a.deleting = k.ID
			st, actor := c.store, c.actor
			ctx := c.ctx
			return c.write(func() tea.Msg { return keyDeletedMsg{key: k, err: st.DeleteKey(ctx, actor, k.ID)} })
		},
	})})
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
