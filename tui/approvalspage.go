package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"apiscopes/store"
)

// approvalsPage is the Approvals page under Security & Control: the
// requests waiting for a second admin (four eyes), the selected one in
// full under the list with what approving it does to the app's keys, as
// Save shows it, and Approve and Reject. A button that cannot be pressed
// says why beside it: the admin who asked, a local user, a viewer, a
// request whose app changed since (stale) or whose window passed. The
// store decides all the same.
type approvalsPage struct {
	c       *common
	list    []store.Approval
	err     error
	loaded  bool
	loading int
	cursor  int
	offset  int
	focus   focusRing
	apps    map[uint64]grantApp // the apps of grants and their keys, for the impact of approving one
	busy    bool                // an approval or rejection is with the store

	// layout
	rowsH  int
	widths []int
	pane   []string
}

const (
	apRows    = "rows"
	apApprove = "approve"
	apReject  = "reject"
	apRowP    = "row:"
)

func newApprovalsPage(c *common) (*approvalsPage, tea.Cmd) {
	p := &approvalsPage{c: c, apps: map[uint64]grantApp{}}
	p.refocus()
	return p, p.load()
}

func (p *approvalsPage) load() tea.Cmd {
	p.loading++
	st := p.c.store
	ctx := p.c.ctx
	return p.c.read(func() tea.Msg {
		list, err := st.Approvals(ctx)
		return approvalsLoadedMsg{list: list, err: err}
	})
}

// selected is the request under the cursor.
func (p *approvalsPage) selected() (store.Approval, bool) {
	if p.cursor < 0 || p.cursor >= len(p.list) {
		return store.Approval{}, false
	}
	return p.list[p.cursor], true
}

// approveWhy is why the selected request cannot be approved here, or "".
func (p *approvalsPage) approveWhy(a store.Approval) string {
	actor := p.c.actor
	switch {
	case !p.c.canWrite():
		return p.c.cannotWrite("viewers cannot approve or reject")
	case a.Stale != "":
		return "stale: reject it"
	case a.Expired(p.c.now()):
		return "its window passed: reject it"
	case actor.Key == "":
		return "approve over SSH, not locally"
	case store.FoldName(a.RequestedBy) == store.FoldName(actor.Name) || a.RequestedKey != "" && a.RequestedKey == actor.Key:
		return "you asked: another admin approves"
	}
	return ""
}

// refocus sets the focus ring: the rows, then the buttons that can be
// pressed for the selected request.
func (p *approvalsPage) refocus() {
	parts := []string{apRows}
	if a, ok := p.selected(); ok && p.c.canWrite() && !p.busy {
		parts = append(parts, apReject)
		if p.approveWhy(a) == "" {
			parts = append(parts, apApprove)
		}
	}
	p.focus.set(parts...)
	p.focus.sideBySide([]string{apReject, apApprove})
}

func (p *approvalsPage) frame() pageFrame {
	focus := p.focus.cur
	switch {
	case focus == apRows && len(p.list) == 0:
		focus = ""
	case focus == apRows:
		focus = apRowP + fmt.Sprint(p.cursor)
	}
	busy := ""
	switch {
	case p.busy:
		busy = "Asking the store…"
	case p.loading > 0:
		busy = "Reading the requests…"
	}
	return pageFrame{section: sectionApprovals, quits: true, busy: busy, focus: focus}
}

func (p *approvalsPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case approvalsLoadedMsg:
		return p.loadedMsg(msg)
	case grantAppMsg:
		p.apps[msg.id] = msg.grantApp
		return nil
	case approvalDecidedMsg:
		return p.decided(msg)
	case policyLoadedMsg, resyncMsg:
		return p.load()
	case updateMsg:
		if touchesPolicy(msg.up.Event) || strings.HasPrefix(string(msg.up.Event.Action), "app.") ||
			strings.HasPrefix(string(msg.up.Event.Action), "key.") {
			delete(p.apps, msg.up.Event.AppID)
			return p.load()
		}
		return nil
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok || p.busy {
		return nil
	}
	k := p.c.keys
	switch {
	case key.Matches(km, k.Back, k.Scopes):
		return p.c.post(showListMsg{})
	case key.Matches(km, k.Audit):
		return p.c.post(showAuditMsg{})
	case p.focus.move(km, k):
		return nil
	case !p.focus.is(apRows) && key.Matches(km, k.Enter):
		return p.click(p.focus.cur)
	case key.Matches(km, k.Up):
		return p.move(p.cursor - 1)
	case key.Matches(km, k.Down):
		return p.move(p.cursor + 1)
	case key.Matches(km, k.Home):
		return p.move(0)
	case key.Matches(km, k.End):
		return p.move(len(p.list) - 1)
	}
	return nil
}

// move puts the cursor on row i, and reads the keys its grant would change.
func (p *approvalsPage) move(i int) tea.Cmd {
	if len(p.list) == 0 {
		return nil
	}
	p.cursor = max(0, min(len(p.list)-1, i))
	p.refocus()
	return p.loadKeysOfSelected()
}

// grantApp is a grant's app as it is now, and its keys.
type grantApp struct {
	app  store.App
	keys []store.Key
	err  error
}

type grantAppMsg struct {
	id uint64
	grantApp
}

// loadKeysOfSelected reads the selected grant's app and keys, for the
// impact of approving it.
func (p *approvalsPage) loadKeysOfSelected() tea.Cmd {
	a, ok := p.selected()
	if !ok || a.Kind != store.ApprovalGrant {
		return nil
	}
	if _, ok := p.apps[a.AppID]; ok {
		return nil
	}
	st, id := p.c.store, a.AppID
	ctx := p.c.ctx
	return p.c.read(func() tea.Msg {
		app, err := st.App(ctx, id)
		if err != nil {
			return grantAppMsg{id: id, grantApp: grantApp{err: err}}
		}
		keys, err := st.Keys(ctx, id)
		return grantAppMsg{id: id, grantApp: grantApp{app: app, keys: keys, err: err}}
	})
}

func (p *approvalsPage) loadedMsg(msg approvalsLoadedMsg) tea.Cmd {
	p.loading--
	p.loaded = true
	p.err = msg.err
	if msg.err != nil {
		return nil
	}
	var id uint64
	if a, ok := p.selected(); ok {
		id = a.ID
	}
	p.list = msg.list
	p.cursor = min(p.cursor, max(0, len(p.list)-1))
	for i, a := range p.list {
		if a.ID == id {
			p.cursor = i
		}
	}
	p.refocus()
	return p.loadKeysOfSelected()
}

func (p *approvalsPage) click(id string) tea.Cmd {
	if p.busy {
		return nil
	}
	if n, ok := strings.CutPrefix(id, apRowP); ok {
		var i int
		fmt.Sscan(n, &i)
		p.focus.focus(apRows)
		return p.move(i)
	}
	a, ok := p.selected()
	if !ok || !p.focus.focus(id) {
		return nil
	}
	switch id {
	case apApprove:
		return p.c.post(openDialogMsg{newConfirm(p.c, confirmDialog{
			title:  fmt.Sprintf("Approve request %d?", a.ID),
			body:   fmt.Sprintf("%s asked to %s.", clean(a.RequestedBy), a.Describe()),
			detail: p.impactLines(a, p.c.dialogWidth()), confirm: "Approve",
			caution: "It is in force the moment you approve it.",
			onYes:   func() tea.Cmd { return p.decide(a, true) },
		})})
	case apReject:
		return p.decide(a, false)
	}
	return nil
}

// decide asks the store to approve or reject a.
func (p *approvalsPage) decide(a store.Approval, approve bool) tea.Cmd {
	p.busy = true
	p.refocus()
	st, actor := p.c.store, p.c.actor
	ctx := p.c.ctx
	return p.c.write(func() tea.Msg {
		var done store.Approval
		var err error
		if approve {
			done, err = st.Approve(ctx, actor, a.ID)
		} else {
			done, err = st.Reject(ctx, actor, a.ID)
		}
		return approvalDecidedMsg{approve: approve, a: done, err: err}
	})
}

func (p *approvalsPage) decided(msg approvalDecidedMsg) tea.Cmd {
	if !p.busy {
		return nil
	}
	p.busy = false
	p.refocus()
	if msg.err != nil {
		return tea.Batch(p.c.toastErr(msg.err), p.load())
	}
	verb := "Rejected"
	if msg.approve {
		verb = "Approved"
	}
	return tea.Batch(p.c.toast("%s request %d of %s.", verb, msg.a.ID, clean(msg.a.RequestedBy)), p.c.loadPolicy())
}

// impactLines is what approving a does: a grant's scopes gained by the
// app's keys, as Save shows it; a policy's rules changed.
func (p *approvalsPage) impactLines(a store.Approval, w int) []string {
	s := p.c.styles
	if a.Kind == store.ApprovalPolicy && a.Policy != nil {
		return wrapStyled(s.Text, "Rules: "+store.PolicyChange(p.c.policy.Info(), a.Policy.Info()), w)
	}
	g, loaded := p.apps[a.AppID]
	switch {
	case !loaded:
		return []string{s.Hint.Render(truncate("Reading the app's keys…", w))}
	case g.err != nil:
		return wrapStyled(s.Error, describe(g.err), w)
	}
	lines := newScopeImpact(g.app.Scopes, g.app.Scopes|a.Grant, g.keys, p.c.now()).lines(s, w)
	if max, by, broken := p.c.policy.Breaks(g.app.Scopes, g.app.Scopes|a.Grant, g.keys, p.c.now()); len(broken) > 0 {
		names := make([]string, len(broken))
		for i, k := range broken {
			names[i] = clean(k.Name)
		}
		lines = append(lines, wrapStyled(s.Error, fmt.Sprintf("%s caps keys at %s: %s outlive it; roll or delete them before approving.",
			by, store.FormatDuration(max), keyList(names, 4)), w)...)
	}
	return lines
}

var approvalColumns = []column{
	{title: "#", whole: true},
	{title: "Asks", min: 16, grow: true, shrink: 2},
	{title: "Asked by", min: 6, max: 14, shrink: 1},
	{title: "Until", whole: true, drop: 1},
	{title: "State", min: 7, max: 30, shrink: 1},
}

func (p *approvalsPage) cells(a store.Approval) []string {
	state := "waiting"
	switch {
	case a.Expired(p.c.now()):
		state = "expired"
	case a.Stale != "":
		state = "stale"
	}
	return []string{fmt.Sprint(a.ID), a.Describe(), clean(a.RequestedBy), p.c.dateTime(a.ExpiresAt), state}
}

func (p *approvalsPage) layout() {
	w, h := p.c.width, p.c.height
	p.pane = p.paneLines(w)
	// title, hint, blank, header; the pane; the buttons
	p.rowsH = max(1, h-4-len(p.pane)-1)
	if len(p.list) > 0 && p.rowsH < 2 && len(p.pane) > 2 {
		p.pane = p.pane[:len(p.pane)-1]
		p.rowsH++
	}
	p.offset = follow(p.offset, p.cursor, p.rowsH, len(p.list))
	var rows [][]string
	for i := p.offset; i < len(p.list) && i < p.offset+p.rowsH; i++ {
		rows = append(rows, p.cells(p.list[i]))
	}
	p.widths = layoutColumns(approvalColumns, rows, w, 2)
}

// paneLines shows the selected request in full.
func (p *approvalsPage) paneLines(w int) []string {
	a, ok := p.selected()
	if !ok {
		return nil
	}
	s := p.c.styles
	const labelW = 6 // as the impact's Gain, Lose and Keys below, so the labels line up
	label := func(l string) string { return s.Hint.Render(pad(l, labelW)) }
	who := clean(a.RequestedBy)
	if a.RequestedOrigin != "" {
		who += " · " + clean(a.RequestedOrigin)
	}
	lines := []string{s.TabRule.Render(strings.Repeat("─", w)),
		s.Title.Render(truncate(fmt.Sprintf("Request %d · %s", a.ID, a.Describe()), w)),
		label("Asked") + truncate(who+" · "+p.c.dateTime(a.RequestedAt), w-labelW),
		label("Waits") + truncate("until "+p.c.dateTime(a.ExpiresAt), w-labelW)}
	if a.Stale != "" {
		lines = append(lines, label("Stale")+s.Caution.Render(truncate(a.Stale, w-labelW)))
	}
	if p.c.canWrite() && p.c.actor.Key == "" {
		// Why a local user never approves, said where it matters.
		for _, l := range wrap("Approvals come over SSH: whoever can write the database file could approve alone.", w-labelW) {
			lines = append(lines, label("")+s.Hint.Render(l))
		}
	}
	return append(lines, p.impactLines(a, w)...)
}

func (p *approvalsPage) draw() drawing {
	s, w := p.c.styles, p.c.width
	var d drawing
	d.add(s.Title.Render("Approvals"))
	hint := "Grants and policy changes that wait for a second admin."
	if !p.c.canWrite() {
		hint = p.c.cannotWrite("Read-only: viewers see the requests but cannot approve or reject them.")
	}
	d.add(s.Hint.Render(truncate(hint, w)), "")
	switch {
	case p.err != nil:
		d.add(wrapStyled(s.Error, describe(p.err), w)...)
		return d
	case !p.loaded:
		d.add(s.Hint.Render("Loading…"))
		return d
	case len(p.list) == 0:
		msg := lipgloss.JoinVertical(lipgloss.Center, append([]string{s.Title.Render("Nothing waits for approval")},
			wrapStyled(s.Hint, "A grant of a scope the key policy names, or a change that relaxes the policy, waits here until another admin approves it.", min(w, 60))...)...)
		d.add(lipgloss.Place(w, max(3, p.c.height-d.height()-2), lipgloss.Center, lipgloss.Center, msg))
		return d
	}
	d.add(s.TableHead.Render("  " + tableRow(approvalColumns, p.widths, colTitles(approvalColumns))))
	for i := p.offset; i < len(p.list) && i < p.offset+p.rowsH; i++ {
		lead, st := "  ", s.Row
		switch {
		case i == p.cursor && p.focus.is(apRows):
			lead, st = "› ", s.RowActive
		case i == p.cursor:
			lead, st = s.currentLead(), s.RowCurrent
		}
		d.addArea(apRowP+fmt.Sprint(i), st.Render(lead+tableRow(approvalColumns, p.widths, p.cells(p.list[i]))))
	}
	d.fill(p.c.height - len(p.pane) - 1)
	d.add(p.pane...)
	p.drawButtons(&d, w)
	return d
}

// drawButtons draws Reject and Approve for the selected request, and why
// one cannot be pressed.
func (p *approvalsPage) drawButtons(d *drawing, w int) {
	a, ok := p.selected()
	if !ok {
		return
	}
	s := p.c.styles
	why := p.approveWhy(a)
	line, areas := s.buttonRow(w, p.focus.cur, button{id: apReject, label: "Reject", disabled: !p.c.canWrite() || p.busy},
		button{id: apApprove, label: "Approve", disabled: why != "" || p.busy})
	if why != "" {
		line, areas = s.withReason(w, truncate(why, max(10, w-28)), line, areas)
	}
	d.addRow(line, areas)
}

func (p *approvalsPage) ShortHelp() []key.Binding {
	k := p.c.keys
	if len(p.list) == 0 {
		return []key.Binding{with(k.Back, "API scopes"), k.Policy, k.Quit}
	}
	if !p.focus.is(apRows) {
		return []key.Binding{with(k.Next, "next"), with(k.Enter, "press"), with(k.Back, "API scopes")}
	}
	b := []key.Binding{k.Up, k.Down}
	if p.c.canWrite() {
		b = append(b, with(k.Next, "approve or reject"))
	}
	return append(b, with(k.Back, "API scopes"), k.Quit)
}

func (p *approvalsPage) FullHelp() [][]key.Binding {
	k := p.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Home, k.End},
		{with(k.Next, "to the buttons"), with(k.Enter, "press")},
		{k.Scopes, k.Audit, k.Policy, k.Quit},
	}
}
