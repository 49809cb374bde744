package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"apiscopes/scopes"
)

// The key policy: rules a security team sets once and the store holds to
// on every change. A maximum key lifetime, for every key and per scope (a
// key of an app holding such a scope must expire within the shortest that
// applies), and the scopes whose grant waits for a second admin (four
// eyes, approvals.go). Tightening a rule applies at once; relaxing one is
// itself a request another admin approves, so no admin can switch four
// eyes off, grant, and switch it back alone.

// Bounds of the policy's durations.
const (
	MinLifetime             = time.Hour
	MaxLifetime             = 3650 * 24 * time.Hour
	MinApprovalWindow       = time.Hour
	MaxApprovalWindow       = 30 * 24 * time.Hour
	DefaultApprovalWindow   = 24 * time.Hour
	DefaultLifetimeScopeKey = "*" // how records and --max-lifetime name the default
)

// Policy is the key policy. The zero value is no policy: keys live as long
// as their creator says, and no grant waits.
type Policy struct {
	// DefaultMaxLifetime bounds every key's lifetime; zero: no bound.
	DefaultMaxLifetime time.Duration
	// MaxLifetime bounds the lifetime of the keys of apps holding a scope.
	MaxLifetime map[scopes.ID]time.Duration
	// Approval is the scopes whose grant to an app waits for a second
	// admin's approval.
	Approval scopes.Set
	// ApprovalWindow is how long a request waits before it expires; zero:
	// DefaultApprovalWindow. It is kept in the policy so that every replica
	// expires requests alike.
	ApprovalWindow time.Duration

	Revision  uint64 // bumped by every change; 0: never set
	UpdatedBy string
	UpdatedAt time.Time
}

// policyRecord is the policy as the meta table keeps it, durations in
// seconds; encoding/json writes the map's keys in order, so equal policies
// are equal bytes.
type policyRecord struct {
	MaxLifetime    map[string]int64 `json:"max_lifetime,omitempty"` // DefaultLifetimeScopeKey or a scope id → seconds
	Approval       []string         `json:"approval,omitempty"`
	ApprovalWindow int64            `json:"approval_window,omitempty"` // seconds; 0: the default
	Revision       uint64           `json:"revision"`
	UpdatedBy      string           `json:"updated_by,omitempty"`
	UpdatedAt      time.Time        `json:"updated_at,omitzero"`
}

func (r *policyRecord) policy() Policy {
	p := Policy{Revision: r.Revision, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt,
		ApprovalWindow: time.Duration(r.ApprovalWindow) * time.Second}
	p.Approval, _ = scopes.ParseSetLenient(r.Approval) // a scope retired since is never granted anyway
	for id, secs := range r.MaxLifetime {
		d := time.Duration(secs) * time.Second
		if id == DefaultLifetimeScopeKey {
			p.DefaultMaxLifetime = d
		} else if scopes.Known(scopes.ID(id)) {
			if p.MaxLifetime == nil {
				p.MaxLifetime = map[scopes.ID]time.Duration{}
			}
			p.MaxLifetime[scopes.ID(id)] = d
		}
	}
	return p
}

func (p Policy) record() policyRecord {
	r := policyRecord{Approval: p.Approval.Strings(), Revision: p.Revision, UpdatedBy: p.UpdatedBy, UpdatedAt: p.UpdatedAt}
	if p.ApprovalWindow != 0 && p.ApprovalWindow != DefaultApprovalWindow {
		r.ApprovalWindow = int64(p.ApprovalWindow / time.Second)
	}
	if p.DefaultMaxLifetime > 0 || len(p.MaxLifetime) > 0 {
		r.MaxLifetime = map[string]int64{}
	}
	if p.DefaultMaxLifetime > 0 {
		r.MaxLifetime[DefaultLifetimeScopeKey] = int64(p.DefaultMaxLifetime / time.Second)
	}
	for id, d := range p.MaxLifetime {
		if d > 0 {
			r.MaxLifetime[string(id)] = int64(d / time.Second)
		}
	}
	if len(r.Approval) == 0 {
		r.Approval = nil
	}
	return r
}

// Window is how long a request waits for a second admin.
func (p Policy) Window() time.Duration {
	if p.ApprovalWindow <= 0 {
		return DefaultApprovalWindow
	}
	return p.ApprovalWindow
}

// IsZero reports whether the policy sets no rule.
func (p Policy) IsZero() bool { return p.Same(Policy{}) }

// Same reports whether p and q set the same rules, whoever set them when.
func (p Policy) Same(q Policy) bool {
	a, b := p.record(), q.record()
	return maps.Equal(a.MaxLifetime, b.MaxLifetime) && slices.Equal(a.Approval, b.Approval) &&
		a.ApprovalWindow == b.ApprovalWindow
}

// Lifetime is the longest a key of an app holding set may live: the
// shortest maximum that applies, and the scope that sets it ("" for the
// default). Zero: no maximum.
func (p Policy) Lifetime(set scopes.Set) (time.Duration, scopes.ID) {
	best, by := p.DefaultMaxLifetime, scopes.ID("")
	for _, id := range set.IDs() {
		if d := p.MaxLifetime[id]; d > 0 && (best == 0 || d < best) {
			best, by = d, id
		}
	}
	return best, by
}

// Fits reports whether a key lives no longer than max: it ends (expires,
// or is deleted after a roll) at most max after it was made. Every key
// fits no maximum.
func Fits(k Key, max time.Duration) bool {
	if max <= 0 {
		return true
	}
	end := k.Ends()
	return !end.IsZero() && end.Sub(k.CreatedAt) <= max
}

// Breaks is what moving an app from before to after does to its keys
// under the policy: the maximum lifetime after applies (by scope, "" for
// the default), and the keys that work at now and would outlive it. Only
// a maximum after brings that before did not (a scope gained with a
// shorter one) can break a key: keys already beyond the policy are listed
// by KeysBeyondPolicy, never cut.
func (p Policy) Breaks(before, after scopes.Set, keys []Key, now time.Time) (max time.Duration, by scopes.ID, broken []Key) {
	max, by = p.Lifetime(after)
	was, _ := p.Lifetime(before)
	if max == 0 || was != 0 && max >= was {
		return max, by, nil
	}
	for _, k := range keys {
		if k.State(now).Works() && !Fits(k, max) {
			broken = append(broken, k)
		}
	}
	return max, by, broken
}

// stricter is the policy holding the stricter of p's and q's every rule:
// the shorter lifetimes, the union of the scopes needing approval, the
// shorter window. What of q is not in it relaxes p.
func (p Policy) stricter(q Policy) Policy {
	out := Policy{Approval: p.Approval | q.Approval, Revision: p.Revision, UpdatedBy: p.UpdatedBy, UpdatedAt: p.UpdatedAt}
	out.DefaultMaxLifetime = shorter(p.DefaultMaxLifetime, q.DefaultMaxLifetime)
	for _, m := range []map[scopes.ID]time.Duration{p.MaxLifetime, q.MaxLifetime} {
		for id := range m {
			if out.MaxLifetime == nil {
				out.MaxLifetime = map[scopes.ID]time.Duration{}
			}
			out.MaxLifetime[id] = shorter(p.MaxLifetime[id], q.MaxLifetime[id])
		}
	}
	out.ApprovalWindow = min(p.Window(), q.Window())
	return out
}

// Relaxes reports whether moving from p to next relaxes any rule: that
// part of the change waits for another admin (SetPolicy).
func (p Policy) Relaxes(next Policy) bool { return !next.Same(p.stricter(next)) }

// Tightens reports whether moving from p to next tightens any rule: that
// part applies at once.
func (p Policy) Tightens(next Policy) bool { return !p.stricter(next).Same(p) }

// shorter is the shorter of two maximums, zero being none.
func shorter(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// validate refuses rules out of bounds.
func (p Policy) validate() error {
	check := func(what string, d time.Duration) error {
		if d != 0 && (d < MinLifetime || d > MaxLifetime) {
			return fmt.Errorf("%w: %s's maximum lifetime %s is not between %s and %s", ErrPolicy, what,
				FormatDuration(d), FormatDuration(MinLifetime), FormatDuration(MaxLifetime))
		}
		return nil
	}
	if err := check("every key", p.DefaultMaxLifetime); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(p.MaxLifetime)) {
		if !scopes.Known(id) {
			return fmt.Errorf("%w: %q is not a scope id", ErrPolicy, SafeText(string(id)))
		}
		if err := check(string(id), p.MaxLifetime[id]); err != nil {
			return err
		}
	}
	if w := p.ApprovalWindow; w != 0 && (w < MinApprovalWindow || w > MaxApprovalWindow) {
		return fmt.Errorf("%w: the approval window %s is not between %s and %s", ErrPolicy, FormatDuration(w),
			FormatDuration(MinApprovalWindow), FormatDuration(MaxApprovalWindow))
	}
	return nil
}

// FormatDuration writes a policy's duration as people and --max-lifetime
// write it: "30d", "24h", "12h", "90m" (days from two days on).
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "none"
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// PolicyInfo is a policy's rules as the audit trail records them, durations
// as FormatDuration writes them.
type PolicyInfo struct {
	MaxLifetime    map[string]string `json:"max_lifetime,omitempty"` // "*" or a scope id → "30d"
	Approval       []string          `json:"approval,omitempty"`
	ApprovalWindow string            `json:"approval_window"`
}

// Info is the policy's rules as the audit trail records them.
func (p Policy) Info() *PolicyInfo {
	r := p.record()
	info := &PolicyInfo{Approval: r.Approval, ApprovalWindow: FormatDuration(p.Window())}
	for id, secs := range r.MaxLifetime {
		if info.MaxLifetime == nil {
			info.MaxLifetime = map[string]string{}
		}
		info.MaxLifetime[id] = FormatDuration(time.Duration(secs) * time.Second)
	}
	return info
}

// Describe is the policy's rules in a line: "keys live at most 365d;
// model:deploy 30d; approval for guardrail:deploy (window 24h)".
func (p Policy) Describe() string {
	var parts []string
	if p.DefaultMaxLifetime > 0 {
		parts = append(parts, "every key at most "+FormatDuration(p.DefaultMaxLifetime))
	}
	for _, id := range slices.Sorted(maps.Keys(p.MaxLifetime)) {
		parts = append(parts, fmt.Sprintf("%s keys at most %s", id, FormatDuration(p.MaxLifetime[id])))
	}
	if !p.Approval.IsEmpty() {
		parts = append(parts, fmt.Sprintf("a second admin approves %s (within %s)", strings.Join(p.Approval.Strings(), ", "),
			FormatDuration(p.Window())))
	}
	if len(parts) == 0 {
		return "no rules"
	}
	return strings.Join(parts, "; ")
}

// Errors of the policy.
var (
	// ErrPolicy is a policy with a rule out of bounds.
	ErrPolicy = errors.New("bad key policy")
	// ErrLifetime is a key, or an app's keys, that would outlive the
	// policy's maximum lifetime.
	ErrLifetime = errors.New("the key policy's maximum lifetime")
	// ErrPolicyConflict is a change of the policy made on a revision
	// someone else changed since.
	ErrPolicyConflict = fmt.Errorf("%w: the key policy was changed since it was read", ErrConflict)
)

// LifetimeError is a change that would leave a key outliving the policy's
// maximum lifetime: a new key (Keys empty) or an app's keys as it gains a
// scope. It matches ErrLifetime.
type LifetimeError struct {
	App   string
	Max   time.Duration
	Scope scopes.ID // the scope whose maximum applies; "" for the default
	Keys  []Key     // the app's keys that would break it, when an app gains a scope
}

func (e *LifetimeError) Error() string {
	rule := "the key policy"
	if e.Scope != "" {
		rule = "the key policy for " + string(e.Scope)
	}
	if len(e.Keys) == 0 {
		return fmt.Sprintf("keys of app %q must expire within %s (%s): choose an expiry within it",
			SafeText(e.App), FormatDuration(e.Max), rule)
	}
	names := make([]string, 0, len(e.Keys))
	for i, k := range e.Keys {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(e.Keys)-i))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s)", SafeText(k.Name), k.Hint))
	}
	return fmt.Sprintf("app %q would hold %s, whose keys must expire within %s of being made (%s); %s would outlive it: "+
		"roll them (the new keys fit) or delete them first", SafeText(e.App), e.Scope, FormatDuration(e.Max), rule,
		strings.Join(names, ", "))
}

func (e *LifetimeError) Is(target error) bool { return target == ErrLifetime }

// Policy reads the key policy.
func (s *Store) Policy(ctx context.Context) (Policy, error) {
	var p Policy
	err := s.eng.Read(ctx, func(snap Snapshot) (err error) {
		p, err = (&txn{snap: snap}).policy()
		return err
	})
	return p, err
}

// policy reads the key policy as this attempt sees it; on the mirror, the
// record (or its absence) becomes a condition of the change.
func (t *txn) policy() (Policy, error) {
	v, err := t.get(TableMeta, metaPolicy)
	if err != nil || v == nil {
		return Policy{}, err
	}
	var r policyRecord
	if err := decode(v, &r); err != nil {
		return Policy{}, err
	}
	return r.policy(), nil
}

// writePolicy writes p as the policy, its revision bumped, by the txn's
// actor now; it returns what it wrote.
func (t *txn) writePolicy(p Policy, rev uint64) (Policy, error) {
	p.Revision, p.UpdatedBy, p.UpdatedAt = rev+1, t.actor.Name, t.at
	if p.ApprovalWindow == DefaultApprovalWindow {
		p.ApprovalWindow = 0
	}
	return p, t.replace(TableMeta, metaPolicy, encode(p.record()))
}

// SetPolicy changes the key policy from base (as the caller read it) to
// next. Whatever next tightens applies at once (an event policy.update);
// whatever it relaxes (a longer or no lifetime, a scope removed from those
// needing approval, a longer window) becomes a request for another admin's
// approval, and the error is then a *PendingError naming it. A policy
// changed since base is refused (ErrPolicyConflict). It returns the policy
// now in force.
func (s *Store) SetPolicy(ctx context.Context, actor Actor, base, next Policy) (Policy, error) {
	if err := next.validate(); err != nil {
		return Policy{}, err
	}
	var now Policy
	var pending []Approval
	err := s.change(ctx, actor, func(t *txn) error {
		pending = nil
		cur, err := t.policy()
		if err != nil {
			return err
		}
		if cur.Revision != base.Revision {
			return fmt.Errorf("%w (by %s at %s): read it again", ErrPolicyConflict, SafeText(cur.UpdatedBy),
				FormatTime(cur.UpdatedAt, time.UTC))
		}
		now = cur
		tight := cur.stricter(next)
		if !tight.Same(cur) {
			if now, err = t.writePolicy(tight, cur.Revision); err != nil {
				return err
			}
			if err := t.record(Event{Action: ActionPolicyUpdate, PolicyBefore: cur.Info(), PolicyAfter: now.Info()}); err != nil {
				return err
			}
		}
		if next.Same(now) {
			return nil
		}
		a, err := t.requestPolicy(now, next)
		if err != nil {
			return err
		}
		pending = append(pending, a)
		return nil
	})
	if err != nil {
		return Policy{}, err
	}
	if len(pending) > 0 {
		return now, &PendingError{Requests: pending, Policy: &now}
	}
	return now, nil
}
