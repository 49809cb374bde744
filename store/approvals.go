package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"apiscopes/scopes"
)

// Four eyes (maker-checker): a grant of a scope the policy names, and any
// relaxing of the policy itself, waits as a request until another admin
// approves it. "Another admin" is one the store tells apart: by name (an
// SSH allow-list line's comment) and by the SSH key they logged in with;
// an admin without a key (a local console or command) may request and
// reject, never approve, since whoever can write the database file can
// write it without apiscopes anyway. A request expires after the policy's
// window; one whose app (or policy) changed after it was made is stale and
// can only be rejected. Every step is an audit event naming both people.

// ApprovalKind says what a request asks for.
type ApprovalKind string

const (
	ApprovalGrant  ApprovalKind = "grant"  // scopes for an app
	ApprovalPolicy ApprovalKind = "policy" // a policy that relaxes the one in force
)

// MaxPendingApprovals bounds the requests waiting at once.
const MaxPendingApprovals = 256

// Approval is a request waiting for another admin.
type Approval struct {
	ID   uint64
	Kind ApprovalKind

	// A grant: the app, the scopes to add to it, and the app's name and
	// scopes when it was asked for, which must still be so.
	AppID     uint64
	AppName   string
	Grant     scopes.Set
	AppScopes []string

	// A policy: the policy proposed, and the revision of the one it
	// relaxes, which must still be in force.
	Policy         *Policy
	PolicyRevision uint64

	RequestedBy     string
	RequestedKey    string // the SSH key fingerprint of who asked; "" for a local user
	RequestedOrigin string
	RequestedAt     time.Time
	ExpiresAt       time.Time

	// Stale says why the request can no longer be approved ("" when it
	// can): what changed since it was made. Filled by Approvals.
	Stale string
}

type approvalRecord struct {
	ID              uint64        `json:"id"`
	Kind            ApprovalKind  `json:"kind"`
	AppID           uint64        `json:"app_id,omitempty"`
	AppName         string        `json:"app,omitempty"`
	Grant           []string      `json:"grant,omitempty"`
	AppScopes       []string      `json:"app_scopes,omitempty"`
	Policy          *policyRecord `json:"policy,omitempty"`
	PolicyRevision  uint64        `json:"policy_revision,omitempty"`
	RequestedBy     string        `json:"requested_by"`
	RequestedKey    string        `json:"requested_key,omitempty"`
	RequestedOrigin string        `json:"requested_origin,omitempty"`
	RequestedAt     time.Time     `json:"requested_at"`
	ExpiresAt       time.Time     `json:"expires_at"`
}

func (r *approvalRecord) approval() Approval {
	a := Approval{ID: r.ID, Kind: r.Kind, AppID: r.AppID, AppName: r.AppName, AppScopes: r.AppScopes,
		PolicyRevision: r.PolicyRevision, RequestedBy: r.RequestedBy, RequestedKey: r.RequestedKey,
		RequestedOrigin: r.RequestedOrigin, RequestedAt: r.RequestedAt, ExpiresAt: r.ExpiresAt}
	a.Grant, _ = scopes.ParseSetLenient(r.Grant)
	if r.Policy != nil {
		p := r.Policy.policy()
		a.Policy = &p
	}
	return a
}

// Expired reports whether the request's window has passed at now.
func (a Approval) Expired(now time.Time) bool { return !now.Before(a.ExpiresAt) }

// Describe is what the request asks, in a line: `grant guardrail:deploy to
// app "Support"`, or `relax the key policy to: …`.
func (a Approval) Describe() string {
	if a.Kind == ApprovalPolicy && a.Policy != nil {
		return "set the key policy to: " + a.Policy.Describe()
	}
	return fmt.Sprintf("grant %s to app %q", strings.Join(a.Grant.Strings(), ", "), SafeText(a.AppName))
}

// Errors of approvals.
var (
	// ErrPending is a change part of which waits for another admin's
	// approval: the rest was made (see PendingError).
	ErrPending = errors.New("waiting for another admin's approval")
	// ErrOwnRequest is an admin approving a request they made.
	ErrOwnRequest = errors.New("you made this request: another admin must approve it")
	// ErrApprovalStale is a request whose app or policy changed after it
	// was made.
	ErrApprovalStale = errors.New("the request is stale")
	// ErrApprovalExpired is a request whose window has passed.
	ErrApprovalExpired = errors.New("the request expired")
	// ErrApprovalNeedsScope is an app that would hold no scope while its
	// grant waits for approval.
	ErrApprovalNeedsScope = errors.New("the app needs a scope that does not wait for approval")
	// ErrTooManyRequests is a request past MaxPendingApprovals.
	ErrTooManyRequests = fmt.Errorf("%d requests are waiting already: approve or reject some first", MaxPendingApprovals)
)

// PendingError is a change made in part: what the policy leaves to a
// second admin waits as Requests, and the rest is saved (App, for a grant;
// Policy, for a change of the policy). It matches ErrPending.
type PendingError struct {
	App      *App
	Policy   *Policy
	Requests []Approval
}

func (e *PendingError) Error() string {
	parts := make([]string, len(e.Requests))
	for i, a := range e.Requests {
		parts[i] = fmt.Sprintf("request %d: %s", a.ID, a.Describe())
	}
	done := "the rest was saved"
	if e.App == nil && e.Policy == nil {
		done = "nothing else changed"
	}
	return fmt.Sprintf("%v (%s); %s", ErrPending, strings.Join(parts, "; "), done)
}

func (e *PendingError) Is(target error) bool { return target == ErrPending }

// IDs are the requests' ids.
func (e *PendingError) IDs() []uint64 {
	out := make([]uint64, len(e.Requests))
	for i, a := range e.Requests {
		out[i] = a.ID
	}
	return out
}

// Approvals lists the requests waiting, oldest first, each marked Stale
// when it can no longer be approved.
func (s *Store) Approvals(ctx context.Context) ([]Approval, error) {
	var out []Approval
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		out = out[:0]
		t := &txn{snap: snap}
		recs, err := t.approvals()
		if err != nil {
			return err
		}
		for _, r := range recs {
			a := r.approval()
			if a.Stale, err = t.staleness(r); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// Approval returns one request waiting.
func (s *Store) Approval(ctx context.Context, id uint64) (Approval, error) {
	var a Approval
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		t := &txn{snap: snap}
		r, err := t.approval(id)
		if err != nil {
			return err
		}
		a = r.approval()
		a.Stale, err = t.staleness(r)
		return err
	})
	return a, err
}

// approvals reads every request waiting, oldest first.
func (t *txn) approvals() ([]approvalRecord, error) {
	var out []approvalRecord
	err := t.snap.Scan(TableApprovals, nil, ScanOptions{}, func(k, v []byte) error {
		if w, ok := t.written[tkey(TableApprovals, k)]; ok {
			v = w // this attempt changed it
		}
		if v == nil {
			return nil
		}
		var r approvalRecord
		if err := decode(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for tk, v := range t.written { // requests this attempt made
		if k, ok := strings.CutPrefix(tk, string(TableApprovals)+"\x00"); ok && v != nil && !slices.ContainsFunc(out,
			func(r approvalRecord) bool { return string(itob(r.ID)) == k }) {
			var r approvalRecord
			if err := decode(v, &r); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b approvalRecord) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// approval reads one request waiting.
func (t *txn) approval(id uint64) (approvalRecord, error) {
	var r approvalRecord
	v, err := t.get(TableApprovals, itob(id))
	if err != nil {
		return r, err
	}
	if v == nil {
		return r, fmt.Errorf("no request %d is waiting (it was approved, rejected or expired: see the audit log): %w", id, ErrNotFound)
	}
	return r, decode(v, &r)
}

// staleness says why a request can no longer be approved, or "".
func (t *txn) staleness(r approvalRecord) (string, error) {
	if r.Kind == ApprovalPolicy {
		p, err := t.policy()
		if err != nil {
			return "", err
		}
		if p.Revision != r.PolicyRevision {
			return fmt.Sprintf("the key policy was changed since, by %s", SafeText(p.UpdatedBy)), nil
		}
		return "", nil
	}
	v, err := t.get(TableApps, itob(r.AppID))
	if err != nil {
		return "", err
	}
	if v == nil {
		return "the app was deleted", nil
	}
	var app appRecord
	if err := decode(v, &app); err != nil {
		return "", err
	}
	switch {
	case app.Name != r.AppName && !slices.Equal(app.Scopes, r.AppScopes):
		return fmt.Sprintf("the app was renamed and its scopes changed since, by %s", SafeText(app.UpdatedBy)), nil
	case app.Name != r.AppName:
		return fmt.Sprintf("the app was renamed since, by %s", SafeText(app.UpdatedBy)), nil
	case !slices.Equal(app.Scopes, r.AppScopes):
		return fmt.Sprintf("the app's scopes changed since, by %s", SafeText(app.UpdatedBy)), nil
	}
	return "", nil
}

// newRequest writes a new request by the txn's actor, expiring after the
// policy's window, and records approval.request.
func (t *txn) newRequest(r approvalRecord, window time.Duration) (Approval, error) {
	pending, err := t.approvals()
	if err != nil {
		return Approval{}, err
	}
	if len(pending) >= MaxPendingApprovals {
		return Approval{}, ErrTooManyRequests
	}
	if r.ID, err = t.nextID(metaApprSeq); err != nil {
		return Approval{}, err
	}
	r.RequestedBy, r.RequestedKey, r.RequestedOrigin = t.actor.Name, t.actor.Key, t.actor.Origin
	r.RequestedAt, r.ExpiresAt = t.at, t.at.Add(window)
	if err := t.writeRecord(TableApprovals, itob(r.ID), nil, encode(r)); err != nil {
		return Approval{}, err
	}
	ev := Event{Action: ActionApprovalRequest, Approval: r.ID, AppID: r.AppID, AppName: r.AppName, Grant: r.Grant,
		ExpiresAt: r.ExpiresAt}
	if err := t.policyEvent(&ev, r); err != nil {
		return Approval{}, err
	}
	return r.approval(), t.record(ev)
}

// policyEvent has an event about a policy request say the policy in
// force and the one proposed.
func (t *txn) policyEvent(ev *Event, r approvalRecord) error {
	if r.Policy == nil {
		return nil
	}
	cur, err := t.policy()
	if err != nil {
		return err
	}
	proposed := r.Policy.policy()
	ev.PolicyBefore, ev.PolicyAfter = cur.Info(), proposed.Info()
	return nil
}

// requestGrant has the scopes of sensitive, which app (as this change
// leaves it) does not hold, wait for another admin: a request waiting for
// the same app as it is and those scopes is the answer again (a re-run of
// apply asks once); one for the app as it was (stale) or past its window
// is closed, and a new one made for the scopes no live request covers.
func (t *txn) requestGrant(app appRecord, sensitive scopes.Set, pol Policy) ([]Approval, error) {
	pending, err := t.approvals()
	if err != nil {
		return nil, err
	}
	var out []Approval
	var covered scopes.Set
	for _, r := range pending {
		if r.Kind != ApprovalGrant || r.AppID != app.ID {
			continue
		}
		a := r.approval()
		if a.Grant&sensitive == 0 {
			continue
		}
		stale := r.AppName != app.Name || !slices.Equal(r.AppScopes, app.Scopes)
		if stale || a.Expired(t.at) {
			note := "replaced: the app changed since it was asked"
			if !stale {
				note = "replaced: its window had passed"
			}
			if err := t.closeRequest(r, ActionApprovalExpire, note); err != nil {
				return nil, err
			}
			continue
		}
		covered |= a.Grant
		out = append(out, a)
	}
	if need := sensitive &^ covered; !need.IsEmpty() {
		a, err := t.newRequest(approvalRecord{Kind: ApprovalGrant, AppID: app.ID, AppName: app.Name,
			Grant: need.Strings(), AppScopes: slices.Clone(app.Scopes)}, pol.Window())
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// requestPolicy has the policy next, which relaxes cur, wait for another
// admin; a request waiting for the same policy is the answer again.
func (t *txn) requestPolicy(cur, next Policy) (Approval, error) {
	pending, err := t.approvals()
	if err != nil {
		return Approval{}, err
	}
	for _, r := range pending {
		if r.Kind == ApprovalPolicy && r.PolicyRevision == cur.Revision && r.Policy != nil &&
			r.Policy.policy().Same(next) && !r.approval().Expired(t.at) {
			return r.approval(), nil
		}
	}
	rec := next.record()
	rec.Revision, rec.UpdatedBy, rec.UpdatedAt = 0, "", time.Time{}
	return t.newRequest(approvalRecord{Kind: ApprovalPolicy, Policy: &rec, PolicyRevision: cur.Revision}, cur.Window())
}

// closeRequest removes a request with its event: approval.reject by the
// txn's actor, or approval.expire by the store.
func (t *txn) closeRequest(r approvalRecord, action Action, note string) error {
	if err := t.replace(TableApprovals, itob(r.ID), nil); err != nil {
		return err
	}
	ev := Event{Action: action, Approval: r.ID, AppID: r.AppID, AppName: r.AppName, Grant: r.Grant,
		RequestedBy: r.RequestedBy, RequestedKey: r.RequestedKey, Note: note}
	if err := t.policyEvent(&ev, r); err != nil {
		return err
	}
	if action == ActionApprovalExpire {
		return t.recordBy(approvalClock, t.at, ev)
	}
	return t.record(ev)
}

// approvalClock is who expires requests: the store, by the policy's window.
var approvalClock = Actor{Name: systemName, Role: System, Origin: "the approval window"}

// sameAdmin reports whether actor made the request: the same name (as
// names are compared) or the same SSH key.
func sameAdmin(actor Actor, r approvalRecord) bool {
	return FoldName(actor.Name) == FoldName(r.RequestedBy) || actor.Key != "" && actor.Key == r.RequestedKey
}

// Approve has another admin approve a request: a grant adds its scopes to
// the app, a policy comes into force. The store refuses a viewer, an admin
// without an SSH key (a local user: they can write the database file
// itself), the admin who asked (ErrOwnRequest), a request past its window
// (ErrApprovalExpired) and one whose app or policy changed since it was
// made (ErrApprovalStale); a grant that would leave keys outliving the
// policy's maximum lifetime is refused as Save refuses it (ErrLifetime).
func (s *Store) Approve(ctx context.Context, actor Actor, id uint64) (Approval, error) {
	var a Approval
	err := s.change(ctx, actor, func(t *txn) error {
		if t.actor.Key == "" {
			return fmt.Errorf("%w: %s is a local user, who may request and reject but not approve (whoever can "+
				"write the database file could approve alone): approve over SSH, as an admin of the allow-list",
				ErrPermission, t.actor.Name)
		}
		r, err := t.approval(id)
		if err != nil {
			return err
		}
		a = r.approval()
		if sameAdmin(t.actor, r) {
			return fmt.Errorf("request %d: %w", id, ErrOwnRequest)
		}
		if a.Expired(t.at) {
			return fmt.Errorf("request %d: %w at %s: ask again", id, ErrApprovalExpired, FormatTime(a.ExpiresAt, time.UTC))
		}
		why, err := t.staleness(r)
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("request %d: %w: %s; reject it, and ask again if it is still wanted", id, ErrApprovalStale, why)
		}
		if err := t.replace(TableApprovals, itob(r.ID), nil); err != nil {
			return err
		}
		ev := Event{Action: ActionApprovalApprove, Approval: r.ID, RequestedBy: r.RequestedBy, RequestedKey: r.RequestedKey}
		if r.Kind == ApprovalPolicy {
			cur, err := t.policy()
			if err != nil {
				return err
			}
			next, err := t.writePolicy(*a.Policy, cur.Revision)
			if err != nil {
				return err
			}
			ev.PolicyBefore, ev.PolicyAfter = cur.Info(), next.Info()
			return t.record(ev)
		}
		return t.grant(r, a, ev)
	})
	return a, err
}

// grant adds an approved grant's scopes to its app, and moves the other
// requests waiting for the app on to the app as it now is: an approval
// does not make them stale.
func (t *txn) grant(r approvalRecord, a Approval, ev Event) error {
	app, err := t.app(r.AppID)
	if err != nil {
		return err
	}
	pol, err := t.policy()
	if err != nil {
		return err
	}
	before := app.app()
	after := before.Scopes | a.Grant
	if _, _, broken := pol.Breaks(before.Scopes, after, t.keyList(app.ID), t.at); len(broken) > 0 {
		max, by := pol.Lifetime(after)
		return &LifetimeError{App: app.Name, Max: max, Scope: by, Keys: broken}
	}
	ev.AppID, ev.AppName, ev.Grant, ev.ScopesBefore = app.ID, app.Name, r.Grant, app.Scopes
	app.Scopes = append(after.Strings(), before.Retired...)
	app.UpdatedBy, app.UpdatedAt, app.Revision = t.actor.Name, t.at, app.Revision+1
	ev.ScopesAfter = app.Scopes
	if err := t.putApp(app); err != nil {
		return err
	}
	others, err := t.approvals()
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.Kind == ApprovalGrant && o.AppID == app.ID && slices.Equal(o.AppScopes, ev.ScopesBefore) && o.AppName == app.Name {
			o.AppScopes = slices.Clone(app.Scopes)
			if err := t.replace(TableApprovals, itob(o.ID), encode(o)); err != nil {
				return err
			}
		}
	}
	return t.record(ev)
}

// keyList is an app's keys as this attempt reads them, for the policy's
// checks; a read that fails leaves the list empty and the change to fail
// on its snapshot.
func (t *txn) keyList(appID uint64) []Key {
	recs, err := appKeys(t.snap, appID)
	if err != nil {
		return nil
	}
	out := make([]Key, len(recs))
	for i, r := range recs {
		out[i] = r.key()
	}
	return out
}

// Reject closes a request without doing what it asks: any admin may,
// local users and the one who asked included (withdrawing it).
func (s *Store) Reject(ctx context.Context, actor Actor, id uint64) (Approval, error) {
	var a Approval
	err := s.change(ctx, actor, func(t *txn) error {
		r, err := t.approval(id)
		if err != nil {
			return err
		}
		a = r.approval()
		return t.closeRequest(r, ActionApprovalReject, "")
	})
	return a, err
}

// expireApprovals closes the requests whose window has passed, each with
// an approval.expire event by the store: the housekeeping's part.
func (s *Store) expireApprovals(ctx context.Context) error {
	now := s.clock.now()
	var due []uint64
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		due = due[:0]
		recs, err := (&txn{snap: snap}).approvals()
		for _, r := range recs {
			if !now.Before(r.ExpiresAt) {
				due = append(due, r.ID)
			}
		}
		return err
	})
	if err != nil || len(due) == 0 {
		return err
	}
	for len(due) > 0 {
		batch := due[:min(len(due), sweepKeys)]
		due = due[len(batch):]
		err := s.commitRule(ctx, approvalClock, func(t *txn) error {
			for _, id := range batch {
				r, err := t.approval(id)
				if errors.Is(err, ErrNotFound) {
					continue // decided meanwhile
				}
				if err != nil {
					return err
				}
				if t.at.Before(r.ExpiresAt) {
					continue
				}
				if err := t.closeRequest(r, ActionApprovalExpire, "its window passed without a second admin"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
