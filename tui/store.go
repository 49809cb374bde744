package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"apiscopes/scopes"
	"apiscopes/store"
)

// Store is what the console asks of the database. *store.Store satisfies
// it, on any engine; tests give the console a slow or a failing one.
//
// The console calls it only from commands, never inside Update: however
// long a call takes, keys and the screen keep answering, and the page shows
// that it is waiting.
type Store interface {
	AppPage(ctx context.Context, q store.AppQuery) (store.AppPage, error)
	App(ctx context.Context, id uint64) (store.App, error)
	NextAppName(ctx context.Context) (string, error)
	CreateApp(ctx context.Context, actor store.Actor, name string, set scopes.Set) (store.App, error)
	SaveApp(ctx context.Context, actor store.Actor, base store.App, name string, set scopes.Set) (store.App, error)
	DeleteApp(ctx context.Context, actor store.Actor, id uint64) error

	Keys(ctx context.Context, appID uint64) ([]store.Key, error)
	CreateKeyWith(ctx context.Context, actor store.Actor, appID uint64, name string, o store.KeyOptions) (string, store.Key, error)
	RollKey(ctx context.Context, actor store.Actor, keyID uint64, grace time.Duration) (text string, newKey, oldKey store.Key, err error)
	DeleteKey(ctx context.Context, actor store.Actor, keyID uint64) error

	Events(ctx context.Context, q store.EventQuery) (store.EventPage, error)
	AppUsage(ctx context.Context, appID uint64) (store.AppUsage, error)
	Usage(ctx context.Context) ([]store.AppUsage, error)
	UsageSince(ctx context.Context) (time.Time, error)
	Subscribe() *store.Subscription

	Policy(ctx context.Context) (store.Policy, error)
	SetPolicy(ctx context.Context, actor store.Actor, base, next store.Policy) (store.Policy, error)
	KeysBeyondPolicy(ctx context.Context) ([]store.BeyondPolicy, error)
	Approvals(ctx context.Context) ([]store.Approval, error)
	Approve(ctx context.Context, actor store.Actor, id uint64) (store.Approval, error)
	Reject(ctx context.Context, actor store.Actor, id uint64) (store.Approval, error)

	// Outdated and Behind say why the database takes no change from this
	// console: moved past its schema, or not yet upgraded to it.
	Outdated() error
	Behind() error
}

var _ Store = (*store.Store)(nil)

// openCheck is a store that checks its database behind its index
// (store.CheckBehind): a change waits for the check, and a database it
// found damaged takes none.
type openCheck interface {
	Checking() bool
	Damaged() error
}

// checking reports whether st's check is still running, so a change waits.
func checking(st Store) bool {
	c, ok := st.(openCheck)
	return ok && c.Checking()
}

// damaged is the damage st's check found, if any.
func damaged(st Store) error {
	if c, ok := st.(openCheck); ok {
		return c.Damaged()
	}
	return nil
}

// The answers of store calls. Each goes to the dialog and to the page (see
// Model.update): whoever asked shows the outcome, and a page shows the
// change a dialog made.
type (
	appCreatedMsg struct {
		app store.App
		err error
	}
	appSavedMsg struct {
		app store.App
		err error
	}
	appDeletedMsg struct {
		app store.App
		err error
	}
	keyCreatedMsg struct {
		appID uint64
		text  string
		key   store.Key
		err   error
	}
	keyRolledMsg struct {
		appID          uint64
		text           string
		newKey, oldKey store.Key
		err            error
	}
	keyDeletedMsg struct {
		key store.Key
		err error
	}
	keysLoadedMsg struct {
		appID uint64
		keys  []store.Key
		err   error
	}
	nextNameMsg struct{ name string }

	// policyLoadedMsg brings the key policy and how many requests wait,
	// read again after a change of either; the root keeps both in common.
	policyLoadedMsg struct {
		policy  store.Policy
		waiting int
		err     error
	}
	policySavedMsg struct {
		policy store.Policy
		err    error
	}
	approvalsLoadedMsg struct {
		list []store.Approval
		err  error
	}
	approvalDecidedMsg struct {
		approve bool
		a       store.Approval
		err     error
	}
	beyondLoadedMsg struct {
		keys []store.BeyondPolicy
		err  error
	}
)

// loadPolicy reads the key policy and how many requests wait.
func (c *common) loadPolicy() tea.Cmd {
	st := c.store
	ctx := c.ctx
	return c.read(func() tea.Msg {
		p, err := st.Policy(ctx)
		if err != nil {
			return policyLoadedMsg{err: err}
		}
		list, err := st.Approvals(ctx)
		return policyLoadedMsg{policy: p, waiting: len(list), err: err}
	})
}

// touchesPolicy reports whether an event changes the key policy or the
// requests waiting, which the root reads again after it.
func touchesPolicy(ev store.Event) bool {
	switch ev.Action {
	case store.ActionPolicyUpdate, store.ActionApprovalRequest, store.ActionApprovalApprove, store.ActionApprovalReject,
		store.ActionApprovalExpire:
		return true
	}
	return false
}

// doneMsg carries the answer of a store call back to the root, which counts
// the calls in flight before it passes the answer on.
type doneMsg struct {
	msg   tea.Msg
	write bool
}

// write runs a change in a command. While any change of this console is in
// flight, the root holds back the change feed's updates, so a page applies
// its own change once, from the answer, and never reloads for it.
func (c *common) write(call func() tea.Msg) tea.Cmd {
	c.writes++
	return func() tea.Msg { return doneMsg{msg: call(), write: true} }
}

// read runs a read in a command.
func (c *common) read(call func() tea.Msg) tea.Cmd {
	c.reads++
	return func() tea.Msg { return doneMsg{msg: call()} }
}

// updateMsg is one update of the store's change feed, as the root passes
// it on: another session's change, or this one's.
type updateMsg struct{ up store.Update }

// feedMsg is an update as it comes from the subscription; the root waits
// for the next one when it has handled it.
type feedMsg struct{ up store.Update }

// waitForUpdate waits for the next update of the change feed; it returns
// nothing once the subscription ends.
func waitForUpdate(sub *store.Subscription) tea.Cmd {
	return func() tea.Msg {
		up, ok := <-sub.C
		if !ok {
			return nil
		}
		return feedMsg{up}
	}
}

// loadKeys reads an app's keys.
func (c *common) loadKeys(appID uint64) tea.Cmd {
	st := c.store
	ctx := c.ctx
	return c.read(func() tea.Msg {
		keys, err := st.Keys(ctx, appID)
		return keysLoadedMsg{appID: appID, keys: keys, err: err}
	})
}
