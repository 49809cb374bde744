package tui

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// policyPage is the Key Policy page under Security & Control: the maximum
// key lifetime, for every key and per scope, the scopes whose grant waits
// for a second admin, and how long a request waits; an admin edits them in
// place and saves. What tightens applies at once, what relaxes becomes a
// request on the Approvals page; the page says which before Save. Below,
// the keys made before the policy that outlive it: listed, never cut.
type policyPage struct {
	c      *common
	base   store.Policy // the policy the edits started from
	edit   store.Policy
	cursor int // the row
	offset int // the first row in view
	focus  focusRing
	saving bool
	err    string // the last save's refusal, under the title

	beyond    []store.BeyondPolicy
	beyondErr error
	loading   int

	// layout
	rowsH   int
	summary []string
}

// The page's rows: every key, the ten scopes, the approval window.
const (
	ppRows    = "rows"
	ppSave    = "save"
	ppDiscard = "discard"
	ppRowP    = "row:"
)

// policyRowCount is how many rows the table has.
func policyRowCount() int { return 1 + scopes.Count() + 1 }

// The choices ← and → step through.
var (
	lifetimeChoices = []time.Duration{0, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour,
		180 * 24 * time.Hour, 365 * 24 * time.Hour}
	windowChoices = []time.Duration{12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}
)

func newPolicyPage(c *common) (*policyPage, tea.Cmd) {
	p := &policyPage{c: c, base: c.policy, edit: clonePolicy(c.policy)}
	p.refocus()
	return p, p.loadBeyond()
}

// clonePolicy is p with a map of its own, to edit.
func clonePolicy(p store.Policy) store.Policy {
	p.MaxLifetime = maps.Clone(p.MaxLifetime)
	return p
}

func (p *policyPage) dirty() bool { return !p.edit.Same(p.base) }

// refocus sets the focus ring: the rows, then the buttons that can be
// pressed now. A disabled button never has the focus.
func (p *policyPage) refocus() {
	parts := []string{ppRows}
	if p.c.canWrite() && p.dirty() && !p.saving {
		parts = append(parts, ppDiscard, ppSave)
	}
	p.focus.set(parts...)
	p.focus.sideBySide([]string{ppDiscard, ppSave})
}

func (p *policyPage) loadBeyond() tea.Cmd {
	p.loading++
	st := p.c.store
	ctx := p.c.ctx
	return p.c.read(func() tea.Msg {
		keys, err := st.KeysBeyondPolicy(ctx)
		return beyondLoadedMsg{keys: keys, err: err}
	})
}

func (p *policyPage) frame() pageFrame {
	focus := p.focus.cur
	if focus == ppRows {
		focus = ppRowP + fmt.Sprint(p.cursor)
	}
	busy := ""
	switch {
	case p.saving:
		busy = "Saving the key policy…"
	case p.loading > 0:
		busy = "Reading the keys…"
	}
	return pageFrame{section: sectionPolicy, quits: !p.dirty(), busy: busy, focus: focus}
}

func (p *policyPage) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case policyLoadedMsg:
		if msg.err == nil && !p.dirty() && !p.saving {
			p.base, p.edit = msg.policy, clonePolicy(msg.policy)
			p.refocus()
		} else if msg.err == nil {
			p.base = msg.policy // the edits stay; Save compares with what is in force now
		}
		return p.loadBeyond()
	case beyondLoadedMsg:
		p.loading--
		p.beyond, p.beyondErr = msg.keys, msg.err
		return nil
	case policySavedMsg:
		return p.saved(msg)
	case updateMsg:
		if strings.HasPrefix(string(msg.up.Event.Action), "key.") || msg.up.Event.Action == store.ActionAppUpdate ||
			msg.up.Event.Action == store.ActionAppDelete {
			return p.loadBeyond()
		}
		return nil
	case resyncMsg:
		p.refocus()
		return p.loadBeyond()
	}
	km, ok := msg.(tea.KeyPressMsg)
	if !ok || p.saving {
		return nil
	}
	k := p.c.keys
	switch {
	case key.Matches(km, k.Back):
		if p.dirty() {
			return p.askDiscard(false, func() tea.Cmd { return p.c.post(showListMsg{}) })
		}
		return p.c.post(showListMsg{})
	case !p.dirty() && key.Matches(km, k.Scopes):
		return p.c.post(showListMsg{})
	case !p.dirty() && key.Matches(km, k.Audit):
		return p.c.post(showAuditMsg{})
	case key.Matches(km, k.Save):
		return p.save()
	case p.focus.move(km, k):
		return nil
	}
	if !p.focus.is(ppRows) {
		if key.Matches(km, k.Enter) {
			return p.click(p.focus.cur)
		}
		return nil
	}
	switch {
	case key.Matches(km, k.Up):
		p.cursor = max(0, p.cursor-1)
	case key.Matches(km, k.Down):
		p.cursor = min(policyRowCount()-1, p.cursor+1)
	case key.Matches(km, k.Home):
		p.cursor = 0
	case key.Matches(km, k.End):
		p.cursor = policyRowCount() - 1
	case key.Matches(km, k.Left):
		p.step(-1)
	case key.Matches(km, k.Right):
		p.step(1)
	case key.Matches(km, k.Toggle):
		p.toggle()
	}
	return nil
}

// step moves the lifetime (or the window) of the row under the cursor to
// the next or previous choice.
func (p *policyPage) step(delta int) {
	if !p.c.canWrite() {
		return
	}
	last := policyRowCount() - 1
	if p.cursor == last {
		p.edit.ApprovalWindow = stepChoice(windowChoices, p.edit.Window(), delta)
		p.refocus()
		return
	}
	cur := p.lifetime(p.cursor)
	next := stepChoice(lifetimeChoices, cur, delta)
	if p.cursor == 0 {
		p.edit.DefaultMaxLifetime = next
	} else {
		id := scopes.All()[p.cursor-1].ID
		if p.edit.MaxLifetime == nil {
			p.edit.MaxLifetime = map[scopes.ID]time.Duration{}
		}
		if next == 0 {
			delete(p.edit.MaxLifetime, id)
		} else {
			p.edit.MaxLifetime[id] = next
		}
	}
	p.refocus()
}

// stepChoice is the choice delta steps from cur, which is among them or
// placed where it sorts.
func stepChoice(choices []time.Duration, cur time.Duration, delta int) time.Duration {
	all := slices.Clone(choices)
	if !slices.Contains(all, cur) {
		all = append(all, cur)
		slices.Sort(all)
	}
	i := slices.Index(all, cur) + delta
	return all[max(0, min(len(all)-1, i))]
}

// toggle switches four eyes for the scope under the cursor.
func (p *policyPage) toggle() {
	if !p.c.canWrite() || p.cursor == 0 || p.cursor == policyRowCount()-1 {
		return
	}
	p.edit.Approval = p.edit.Approval.Toggle(scopes.All()[p.cursor-1].ID)
	p.refocus()
}

// lifetime is the maximum lifetime a row shows: every key's, or a scope's.
func (p *policyPage) lifetime(row int) time.Duration {
	if row == 0 {
		return p.edit.DefaultMaxLifetime
	}
	return p.edit.MaxLifetime[scopes.All()[row-1].ID]
}

func (p *policyPage) click(id string) tea.Cmd {
	if p.saving {
		return nil
	}
	if n, ok := strings.CutPrefix(id, ppRowP); ok {
		fmt.Sscan(n, &p.cursor)
		p.focus.focus(ppRows)
		return nil
	}
	switch id {
	case ppSave:
		return p.save()
	case ppDiscard:
		p.edit = clonePolicy(p.base)
		p.err = ""
		p.refocus()
	}
	return nil
}

// askDiscard asks before edits are dropped (to leave, or with quit to
// quit), naming them; then does then.
func (p *policyPage) askDiscard(quit bool, then func() tea.Cmd) tea.Cmd {
	title, verb := "Discard changes to the key policy?", "Discard"
	if quit {
		title, verb = "Quit without saving the key policy?", "Quit"
	}
	return p.c.post(openDialogMsg{newConfirm(p.c, confirmDialog{
		title: title, body: "Not saved: " + store.PolicyChange(p.base.Info(), p.edit.Info()) + ".",
		cancel: "Keep editing", confirm: verb, danger: true,
		onYes: func() tea.Cmd {
			p.edit = clonePolicy(p.base)
			p.err = ""
			p.refocus()
			return then()
		},
	})})
}

// quitting asks before ctrl+c loses the edits, as esc would.
func (p *policyPage) quitting() (tea.Cmd, quitAnswer) {
	if !p.dirty() {
		return nil, quitFree
	}
	return p.askDiscard(true, func() tea.Cmd { return tea.Quit }), quitAsked
}

// atStake says the edits would be lost.
func (p *policyPage) atStake() string {
	if !p.dirty() {
		return ""
	}
	return "Changes to the key policy are not saved: enlarge the window to save or discard them."
}

// save asks the store to change the policy from what it was read as.
func (p *policyPage) save() tea.Cmd {
	if !p.c.canWrite() || !p.dirty() || p.saving {
		return nil
	}
	p.saving, p.err = true, ""
	p.refocus()
	st, actor, base, next := p.c.store, p.c.actor, p.base, clonePolicy(p.edit)
	ctx := p.c.ctx
	return p.c.write(func() tea.Msg {
		now, err := st.SetPolicy(ctx, actor, base, next)
		return policySavedMsg{policy: now, err: err}
	})
}

// saved follows Save: the policy in force, a request waiting, or why not.
func (p *policyPage) saved(msg policySavedMsg) tea.Cmd {
	if !p.saving {
		return nil
	}
	p.saving = false
	var pe *store.PendingError
	switch {
	case errors.As(msg.err, &pe):
		relaxed := p.edit
		p.base, p.edit = msg.policy, clonePolicy(msg.policy)
		p.c.policy = msg.policy
		p.refocus()
		what := fmt.Sprintf("Relaxing waits for another admin: request %d.", pe.Requests[0].ID)
		if p.base.Revision != relaxed.Revision && !msg.policy.Same(relaxed) && msg.policy.Revision > 0 && p.c.policy.Tightens(relaxed) {
			what = fmt.Sprintf("Tightening saved; relaxing waits for another admin (request %d).", pe.Requests[0].ID)
		}
		return tea.Batch(p.c.post(toastMsg{text: what, kind: toastWarn}), p.c.loadPolicy())
	case msg.err != nil:
		p.err = describe(msg.err)
		p.refocus()
		if errors.Is(msg.err, store.ErrPolicyConflict) {
			return p.c.loadPolicy()
		}
		return nil
	}
	p.base, p.edit = msg.policy, clonePolicy(msg.policy)
	p.c.policy = msg.policy
	p.refocus()
	return tea.Batch(p.c.toast("Key policy saved: in force now."), p.loadBeyond())
}

// The table's columns.
const (
	ppNameW  = 22
	ppLifeW  = 14
	ppEyesW  = 9
	ppIndent = 2
)

func (p *policyPage) layout() {
	w, h := p.c.width, p.c.height
	p.summary = p.summaryLines(w)
	// title, hint, blank, header; blank, the summary, the buttons
	p.rowsH = max(3, h-4-1-len(p.summary)-1)
	if p.rowsH < policyRowCount() && len(p.summary) > 2 {
		p.summary = p.summary[:max(2, len(p.summary)-(policyRowCount()-p.rowsH))]
		p.rowsH = max(3, h-4-1-len(p.summary)-1)
	}
	p.rowsH = min(p.rowsH, policyRowCount())
	p.offset = follow(p.offset, p.cursor, p.rowsH, policyRowCount())
}

// summaryLines is what goes under the table: the edits and what Save will
// do with them; otherwise the keys beyond the policy and the requests to
// relax it waiting.
func (p *policyPage) summaryLines(w int) []string {
	s := p.c.styles
	var out []string
	if p.dirty() {
		what := "It tightens the policy: Save applies it at once."
		switch relax, tight := p.base.Relaxes(p.edit), p.base.Tightens(p.edit); {
		case relax && tight:
			what = "Save applies the tightening at once; the rest waits for another admin."
		case relax:
			what = "It relaxes the policy: Save asks another admin to approve it."
		}
		return wrapStyled(s.Caution, "Unsaved: "+store.PolicyChange(p.base.Info(), p.edit.Info())+". "+what, w)
	}
	switch {
	case p.beyondErr != nil:
		out = append(out, wrapStyled(s.Error, describe(p.beyondErr), w)...)
	case len(p.beyond) == 0 && (p.base.DefaultMaxLifetime > 0 || len(p.base.MaxLifetime) > 0):
		out = append(out, s.Hint.Render(truncate("Every key that works fits the maximum lifetimes.", w)))
	case len(p.beyond) > 0:
		out = append(out, wrapStyled(s.Caution, fmt.Sprintf("%s outlive the policy, made before it: they work until rolled or deleted.",
			countKeys(len(p.beyond))), w)...)
		for _, b := range p.beyond {
			ends := "never ends"
			if e := b.Key.Ends(); !e.IsZero() {
				ends = "ends " + p.c.dateTime(e)
			}
			out = append(out, s.Text.Render(truncate(fmt.Sprintf("  %s › %s %s · %s · at most %s", clean(b.App), clean(b.Key.Name),
				clean(b.Key.Hint), ends, store.FormatDuration(b.Max)), w)))
		}
	}
	relax := 0
	if p.c.waiting > 0 {
		relax = p.c.waiting
	}
	if relax > 0 {
		out = append(out, s.Hint.Render(truncate(fmt.Sprintf("%s waiting for a second admin: w for Approvals.",
			counted(relax, "requests")), w)))
	}
	return out
}

func (p *policyPage) draw() drawing {
	s, w := p.c.styles, p.c.width
	var d drawing
	d.add(s.Title.Render("Key Policy"))
	switch {
	case p.err != "":
		d.add(s.Error.Render(truncate(p.err, w)))
	case !p.c.canWrite():
		d.add(s.Caution.Render(truncate(p.c.cannotWrite("Read-only: viewers can look but not change the key policy."), w)))
	default:
		d.add(s.Hint.Render(truncate("Tighter rules apply at once; looser ones wait for approval.", w)))
	}
	d.add("")
	head := pad("Applies to", ppNameW) + pad("Max lifetime", ppLifeW) + "Four eyes"
	if n := policyRowCount(); p.rowsH < n {
		head = pad(head, w-ppIndent-12) + fmt.Sprintf("%d–%d of %d", p.offset+1, p.offset+p.rowsH, n)
	}
	d.add(s.TableHead.Render(truncate(strings.Repeat(" ", ppIndent)+head, w)))
	for row := p.offset; row < p.offset+p.rowsH && row < policyRowCount(); row++ {
		d.addArea(ppRowP+fmt.Sprint(row), p.rowLine(row, w))
	}
	d.add("")
	d.add(p.summary...)
	d.fill(p.c.height - 1)
	p.drawButtons(&d, w)
	return d
}

// rowLine draws one row: what it applies to, its lifetime (or window),
// and for a scope whether its grant waits; a changed value in the warning
// colour.
func (p *policyPage) rowLine(row int, w int) string {
	s := p.c.styles
	lead, st := "  ", s.Row
	switch {
	case row == p.cursor && p.focus.is(ppRows):
		lead, st = "› ", s.RowActive
	case row == p.cursor:
		lead, st = s.currentLead(), s.RowCurrent
	}
	var name, life, eyes string
	var changed bool
	switch last := policyRowCount() - 1; row {
	case 0:
		name, life = "Every key", lifetimeText(p.edit.DefaultMaxLifetime)
		changed = p.edit.DefaultMaxLifetime != p.base.DefaultMaxLifetime
	case last:
		name, life = "Requests wait", durationWords(p.edit.Window())
		changed = p.edit.Window() != p.base.Window()
	default:
		sc := scopes.All()[row-1]
		name, life = sc.Name, lifetimeText(p.edit.MaxLifetime[sc.ID])
		eyes = checkbox(s, p.edit.Approval.Allows(sc.ID))
		changed = p.edit.MaxLifetime[sc.ID] != p.base.MaxLifetime[sc.ID] || p.edit.Approval.Allows(sc.ID) != p.base.Approval.Allows(sc.ID)
	}
	lifeCell := pad(life, ppLifeW)
	if changed {
		lifeCell = s.Caution.Render(lifeCell)
	}
	line := st.Render(lead+pad(truncate(name, ppNameW-1), ppNameW)) + lifeCell + eyes
	if changed {
		line += s.Caution.Render(" *")
	}
	return truncate(line, w)
}

// checkbox is [x] or [ ], as the scope checklist draws it.
func checkbox(s *Styles, on bool) string {
	if on {
		return "[x]"
	}
	return "[ ]"
}

// lifetimeText is a maximum lifetime in words, "—" for none.
func lifetimeText(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return durationWords(d)
}

// durationWords is "30 days", "24 hours", "90 minutes".
func durationWords(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return counted(int(d/(24*time.Hour)), "days")
	case d%time.Hour == 0:
		return counted(int(d/time.Hour), "hours")
	}
	return counted(int(d/time.Minute), "minutes")
}

// drawButtons draws Discard and Save, or why they cannot be pressed.
func (p *policyPage) drawButtons(d *drawing, w int) {
	s := p.c.styles
	noEdit := !p.dirty() || p.saving
	save := button{id: ppSave, label: "Save", disabled: noEdit || !p.c.canWrite()}
	if p.saving {
		save.label = "Saving…"
	}
	line, areas := s.buttonRow(w, p.focus.cur, button{id: ppDiscard, label: "Discard", disabled: noEdit || !p.c.canWrite()}, save)
	switch {
	case !p.c.canWrite():
		line, areas = s.withReason(w, p.c.cannotWrite("viewers cannot change the key policy"), line, areas)
	case !p.dirty():
		line, areas = s.withReason(w, "no change to save", line, areas)
	}
	d.addRow(line, areas)
}

func (p *policyPage) ShortHelp() []key.Binding {
	k := p.c.keys
	if !p.focus.is(ppRows) {
		return []key.Binding{with(k.Next, "next"), with(k.Enter, "press"), with(k.Back, "back")}
	}
	b := []key.Binding{k.Up, k.Down}
	if p.c.canWrite() {
		if p.cursor != 0 && p.cursor != policyRowCount()-1 {
			b = append(b, with(k.Toggle, "four eyes"))
		}
		b = append(b, with(k.Right, "longer"), with(k.Left, "shorter"))
		if p.dirty() {
			return append(b, k.Save, with(k.Back, "discard"))
		}
	}
	return append(b, with(k.Back, "API scopes"), k.Quit)
}

func (p *policyPage) FullHelp() [][]key.Binding {
	k := p.c.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Home, k.End},
		{with(k.Right, "longer"), with(k.Left, "shorter"), with(k.Toggle, "four eyes"), k.Save, k.Next},
		{k.Scopes, k.Audit, k.Approvals, k.Quit},
	}
}

// counted is "1 day", "3 days": n and its noun (given in the plural).
func counted(n int, nouns string) string { return fmt.Sprintf("%d %s", n, plural(n, nouns)) }
