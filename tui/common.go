package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
)

// common is what every page and dialog shares: the store and who is acting,
// styles, keys and the size of the content area.
type common struct {
	ctx    context.Context // the console's lifetime: its store calls end with it
	store  Store
	actor  store.Actor
	styles *Styles
	keys   KeyMap
	loc    *time.Location
	apps   *appIndex // the app list's data, kept between visits to the list
	now    func() time.Time

	policy      store.Policy // the key policy in force, kept by the root from the change feed
	waiting     int          // requests waiting for a second admin
	readOnly    string       // why this console makes no change though its actor may ("" when it may)
	readOnlyWhy string       // the same in a few words, beside a disabled button

	outbox []tea.Msg // messages for the root to handle before the next input

	writes, reads int // store calls in flight

	width, height int // the content area, inside the frame
	termW, termH  int // the whole terminal, for dialogs
}

// post queues a message between screens. The root handles it right after
// the current message, before any further input: a key typed just after the
// one that opened a page lands on that page, never on the old one.
func (c *common) post(msg tea.Msg) tea.Cmd {
	c.outbox = append(c.outbox, msg)
	return nil
}

// canWrite reports whether the actor's role allows changes, and the
// database takes them; screens use it to show what is unavailable. The
// store enforces it regardless.
func (c *common) canWrite() bool { return c.actor.Role == store.Admin && c.readOnly == "" }

// cannotWrite is why write buttons are disabled, for a page's own words
// about viewers ("viewers cannot change apps").
func (c *common) cannotWrite(viewers string) string {
	if c.readOnly != "" {
		return "read-only: " + c.readOnlyWhy
	}
	return viewers
}

// refuseWrite says why a change is not made: the database takes none, or
// the actor is a viewer (viewers says what a viewer cannot do).
func (c *common) refuseWrite(viewers string) tea.Cmd {
	if c.readOnly != "" {
		return c.post(toastMsg{text: "Read-only: " + c.readOnly, kind: toastErr})
	}
	return c.toastErr(fmt.Errorf("%w: %s", store.ErrPermission, viewers))
}

// Messages between screens. Pages never build each other: they ask the root.
type (
	showListMsg    struct{ selectID uint64 } // back to the app list, selecting an app if non-zero
	showNewAppMsg  struct{}
	showKeyStepMsg struct{ app store.App }
	showEditAppMsg struct{ app store.App }
	showAuditMsg   struct{}
	showPolicyMsg  struct{}
	showApprovMsg  struct{}

	openDialogMsg  struct{ d dialog }
	closeDialogMsg struct{}

	// appsChangedMsg tells the app list that the app index changed.
	appsChangedMsg struct{}
	// resyncMsg tells every page to read what it shows again: the change
	// feed lost updates.
	resyncMsg struct{}

	toastMsg struct {
		text string
		kind toastKind
	}
	toastExpiredMsg struct{ id int }
)

// toastKind is what a message under the page reports, and so its mark.
type toastKind int

const (
	toastOK   toastKind = iota // done: ✓
	toastInfo                  // what happened, when nobody can tell whether it worked: no mark
	toastWarn                  // done, but not all of it: !
	toastErr                   // not done: ✗
)

func send(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }

// toast shows a success message.
func (c *common) toast(format string, a ...any) tea.Cmd {
	return c.post(toastMsg{text: fmt.Sprintf(format, a...)})
}

// toastErr shows what went wrong and what to do about it.
func (c *common) toastErr(err error) tea.Cmd {
	return c.post(toastMsg{text: describe(err), kind: toastErr})
}

// describe turns a store error into a sentence that says what went wrong and
// what to do about it.
func describe(err error) string {
	var nameErr *store.NameError
	var writeErr store.WriteFailure
	switch {
	case err == nil:
		return ""
	case errors.As(err, &writeErr) && errors.Is(err, store.ErrOutcomeUnknown):
		return "Perhaps not saved: " + writeErr.Reason() + ". " + writeErr.Remedy()
	case errors.As(err, &writeErr):
		return "Not saved: " + writeErr.Reason() + ". " + writeErr.Remedy()
	case errors.Is(err, store.ErrNameEmpty):
		return "Enter a name."
	case errors.Is(err, store.ErrNameTooLong):
		return fmt.Sprintf("Use at most %d characters.", store.MaxNameLen)
	case errors.Is(err, store.ErrNameInvalid) && errors.As(err, &nameErr) && strings.ContainsRune(nameErr.Name, '\u200d'):
		return "A zero-width joiner may only join emoji (as in 👨\u200d👩\u200d👧); remove it from the name."
	case errors.Is(err, store.ErrNameInvalid):
		return "Names can't contain control characters or text-direction overrides."
	case errors.As(err, &nameErr) && errors.Is(err, store.ErrNameTaken):
		return fmt.Sprintf("%q is already used %s. Choose another name.", clean(nameErr.Name), takenWhere(err))
	case errors.Is(err, store.ErrNoScopes):
		return "Select at least one scope."
	case errors.Is(err, store.ErrPermission):
		return "Not allowed: " + clean(strings.TrimPrefix(err.Error(), store.ErrPermission.Error()+": ")) + "."
	case errors.Is(err, store.ErrExpiryPast):
		return "Choose an expiry date after today."
	case errors.Is(err, store.ErrKeyRolled):
		return "This key was already rolled. Roll its new key instead."
	case errors.Is(err, store.ErrBusy):
		return "Not saved: the database is busy with other changes. Try again in a moment."
	case errors.Is(err, store.ErrUnknownZone):
		return clean(strings.TrimSuffix(err.Error(), ": "+store.ErrUnknownZone.Error())) + " is not a known time zone."
	case errors.Is(err, store.ErrOwnRequest):
		return "You asked for this: another admin approves it."
	case errors.Is(err, store.ErrApprovalStale), errors.Is(err, store.ErrApprovalExpired),
		errors.Is(err, store.ErrApprovalNeedsScope), errors.Is(err, store.ErrLifetime), errors.Is(err, store.ErrPolicy),
		errors.Is(err, store.ErrAllowFrom), errors.Is(err, store.ErrTooManyRequests):
		return sentence(err)
	case errors.Is(err, store.ErrPolicyConflict):
		return "Not saved: someone changed the key policy meanwhile. It shows as it is now; make your change again."
	case errors.Is(err, store.ErrUpgradePending):
		return "Not saved: the database waits for its upgrade to this version (apiscopes upgrade); until then nothing changes here."
	case errors.Is(err, store.ErrNewerSchema):
		return "Not saved: the database was upgraded to a newer apiscopes; this one changes nothing until it is upgraded too."
	case errors.Is(err, store.ErrNotFound):
		return "It no longer exists: it was deleted, perhaps in another session."
	}
	return "Something went wrong: " + clean(err.Error())
}

func takenWhere(err error) string {
	if errors.Is(err, store.ErrKeyNameTaken) {
		return "by another key of this app"
	}
	return "by another app"
}

// sentence is a store's error as a sentence for the screen: its text made
// safe, with a capital and a full stop.
func sentence(err error) string {
	t := clean(err.Error())
	if t == "" {
		return ""
	}
	t = strings.ToUpper(t[:1]) + t[1:]
	if !strings.HasSuffix(t, ".") {
		t += "."
	}
	return t
}
