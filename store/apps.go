package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"apiscopes/scopes"
)

// CreateApp adds an app with the given name and scopes. An empty name (not
// one of only spaces, which is refused) gets the next free default:
// "Untitled app", "Untitled app 2", and so on.
//
// Scopes whose grant the key policy has wait for another admin: the app
// is made with the others, and the error is a *PendingError holding the
// app and the request. An app whose every scope would wait is refused
// (ErrApprovalNeedsScope).
func (s *Store) CreateApp(ctx context.Context, actor Actor, name string, set scopes.Set) (App, error) {
	var rec appRecord
	var pending []Approval
	err := s.change(ctx, actor, func(t *txn) error {
		pol, err := t.policy()
		if err != nil {
			return err
		}
		now, wait, err := splitGrant(set, set, pol)
		if err != nil {
			return err
		}
		if rec, err = t.createApp(name, now); err != nil {
			return err
		}
		if pending = nil; !wait.IsEmpty() {
			pending, err = t.requestGrant(rec, wait, pol)
		}
		return err
	})
	if err != nil {
		return App{}, err
	}
	app := rec.app()
	if len(pending) > 0 {
		return app, &PendingError{App: &app, Requests: pending}
	}
	return app, nil
}

// splitGrant splits the scopes set an app is to hold, of which added are
// new to it, into those it holds at once and those that wait for another
// admin; an app left with no scope meanwhile is refused.
func splitGrant(set, added scopes.Set, pol Policy) (now, wait scopes.Set, err error) {
	wait = added & pol.Approval
	now = set &^ wait
	if !wait.IsEmpty() && now.IsEmpty() {
		return 0, 0, fmt.Errorf("%w: %s waits for another admin's approval, and an app holds a scope meanwhile: "+
			"give it another scope too", ErrApprovalNeedsScope, strings.Join(wait.Strings(), ", "))
	}
	return now, wait, nil
}

// createApp is the one rule for a new app, single or in bulk.
func (t *txn) createApp(name string, set scopes.Set) (appRecord, error) {
	if set.IsEmpty() {
		return appRecord{}, ErrNoScopes
	}
	if name == "" {
		var err error
		if name, err = t.nextDefaultName(); err != nil {
			return appRecord{}, err
		}
	}
	clean, err := CleanName(name)
	if err != nil {
		return appRecord{}, err
	}
	if id, err := t.appNamed(FoldName(clean)); err != nil || id != 0 {
		if err == nil {
			err = &NameError{Name: clean, Err: ErrNameTaken}
		}
		return appRecord{}, err
	}
	id, err := t.nextID(metaAppSeq)
	if err != nil {
		return appRecord{}, err
	}
	rec := appRecord{ID: id, Name: clean, Scopes: set.Strings(), CreatedBy: t.actor.Name, CreatedAt: t.at,
		UpdatedBy: t.actor.Name, UpdatedAt: t.at, Revision: 1}
	if err := t.writeRecord(TableApps, itob(id), nil, encode(rec)); err != nil { // a new id: nothing there
		return appRecord{}, err
	}
	t.put(TableNames, []byte(FoldName(clean)), itob(id))
	return rec, t.record(Event{Action: ActionAppCreate, AppID: id, AppName: clean, ScopesAfter: rec.Scopes})
}

// NextAppName is the name CreateApp gives an app created without one now.
func (s *Store) NextAppName(ctx context.Context) (name string, err error) {
	err = s.eng.Read(ctx, func(snap Snapshot) error {
		name, err = (&txn{snap: snap}).nextDefaultName()
		return err
	})
	return name, err
}

func (t *txn) nextDefaultName() (string, error) {
	for i := 1; ; i++ {
		n := DefaultAppName
		if i > 1 {
			n += " " + strconv.Itoa(i)
		}
		id, err := t.appNamed(FoldName(n))
		if err != nil {
			return "", err
		}
		if id == 0 {
			return n, nil
		}
	}
}

// SaveApp is the one way to change an app: its name and scopes, for an
// editor that read base earlier. If the app's name or scopes have changed
// since, nothing is written and the error is a *ConflictError, so no one's
// change is overwritten silently. Key changes in between do not conflict:
// keys are not part of the edit. A name equal to base's is left as stored
// (even one another tool wrote that CleanName would refuse); any other is
// checked as CreateApp checks it. Scope ids this apiscopes does not know
// (retired) stay as they are. The new scopes apply to every key of the app
// from the next check on. A save that changes nothing writes nothing.
//
// The key policy holds: scopes whose grant it has wait for another admin
// (the error is then a *PendingError holding the app as saved and the
// request), and a scope gained whose maximum key lifetime some of the
// app's keys outlive refuses the whole save (a *LifetimeError naming
// them).
func (s *Store) SaveApp(ctx context.Context, actor Actor, base App, name string, set scopes.Set) (App, error) {
	var rec appRecord
	var pending []Approval
	err := s.change(ctx, actor, func(t *txn) error {
		var err error
		pending = nil
		if rec, err = t.app(base.ID); err != nil {
			return err
		}
		before := rec
		cur := rec.app()
		if cur.Name != base.Name || cur.Scopes != base.Scopes {
			return &ConflictError{Base: base, Current: cur}
		}
		if set.IsEmpty() {
			return ErrNoScopes
		}
		pol, err := t.policy()
		if err != nil {
			return err
		}
		set, wait, err := splitGrant(set, set&^cur.Scopes, pol)
		if err != nil {
			return err
		}
		if err := t.keysFit(rec, cur.Scopes, set, pol); err != nil {
			return err
		}
		rec.Scopes = append(set.Strings(), cur.Retired...)
		if name != base.Name {
			if rec.Name, err = CleanName(name); err != nil {
				return err
			}
		}
		renamed := rec.Name != before.Name
		rescoped := !slices.Equal(rec.Scopes, before.Scopes)
		if !renamed && !rescoped {
			if !wait.IsEmpty() {
				pending, err = t.requestGrant(rec, wait, pol)
			}
			return err
		}
		if FoldName(rec.Name) != FoldName(before.Name) {
			if id, err := t.appNamed(FoldName(rec.Name)); err != nil || id != 0 {
				if err == nil {
					err = &NameError{Name: rec.Name, Err: ErrNameTaken}
				}
				return err
			}
			t.del(TableNames, []byte(FoldName(before.Name)))
		}
		t.put(TableNames, []byte(FoldName(rec.Name)), itob(rec.ID))
		rec.UpdatedBy, rec.UpdatedAt, rec.Revision = t.actor.Name, t.at, rec.Revision+1
		if err := t.putApp(rec); err != nil {
			return err
		}
		ev := Event{Action: ActionAppUpdate, AppID: rec.ID, AppName: rec.Name}
		if renamed {
			ev.NameBefore = before.Name
		}
		if rescoped {
			ev.ScopesBefore, ev.ScopesAfter = before.Scopes, rec.Scopes
		}
		if err := t.record(ev); err != nil {
			return err
		}
		if !wait.IsEmpty() {
			pending, err = t.requestGrant(rec, wait, pol)
		}
		return err
	})
	if err != nil {
		return App{}, err
	}
	app := rec.app()
	if len(pending) > 0 {
		return app, &PendingError{App: &app, Requests: pending}
	}
	return app, nil
}

// keysFit refuses moving app from before to after when a scope gained
// brings a maximum key lifetime some of its working keys outlive.
func (t *txn) keysFit(app appRecord, before, after scopes.Set, pol Policy) error {
	was, _ := pol.Lifetime(before)
	if max, _ := pol.Lifetime(after); max == 0 || was != 0 && max >= was {
		return nil // no key to read
	}
	if max, by, broken := pol.Breaks(before, after, t.keyList(app.ID), t.at); len(broken) > 0 {
		return &LifetimeError{App: app.Name, Max: max, Scope: by, Keys: broken}
	}
	return nil
}

// DeleteApp removes an app and, in the same change, all of its keys: they
// stop working at once. The keys go in one range removal, however many
// there are; their digest index entries are swept afterwards, and are never
// taken for a key meanwhile.
func (s *Store) DeleteApp(ctx context.Context, actor Actor, id uint64) error {
	return s.change(ctx, actor, func(t *txn) error {
		rec, err := t.app(id)
		if err != nil {
			return err
		}
		if err := t.removeAppKeys(id); err != nil {
			return err
		}
		t.b.DeletePrefix(TableUsage, scopeUsePrefix(id))
		t.del(TableNames, []byte(FoldName(rec.Name)))
		if err := t.replace(TableApps, itob(id), nil); err != nil {
			return err
		}
		return t.record(Event{Action: ActionAppDelete, AppID: id, AppName: rec.Name,
			ScopesBefore: rec.Scopes, KeysGone: rec.Keys})
	})
}

// App returns one app.
func (s *Store) App(ctx context.Context, id uint64) (App, error) {
	var rec appRecord
	err := s.eng.Read(ctx, func(snap Snapshot) (err error) {
		rec, err = (&txn{snap: snap}).app(id)
		return err
	})
	if err != nil {
		return App{}, err
	}
	return rec.app(), nil
}

// Apps returns every app in list order (ByName).
func (s *Store) Apps(ctx context.Context) ([]App, error) { return s.FirstApps(ctx, -1) }

// FirstApps returns at most n apps (every app if n < 0) from the start of
// the list order: by name, case-insensitively. It reads only those apps, so
// a screen can show its first page at once however many apps there are,
// and load the rest in the background.
func (s *Store) FirstApps(ctx context.Context, n int) ([]App, error) {
	var out []App
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		out = out[:0]
		t := &txn{snap: snap}
		return snap.Scan(TableNames, nil, ScanOptions{}, func(k, v []byte) error {
			if n >= 0 && len(out) >= n {
				return ErrStop
			}
			if len(v) != 8 {
				return fmt.Errorf("damaged record: name index entry %q", k)
			}
			rec, err := t.app(btoi(v))
			if err != nil {
				return err
			}
			out = append(out, rec.app())
			return nil
		})
	})
	return out, err
}

// ByName is the list order of apps: by folded name, then id. The name index
// keeps apps in this order; screens that sort apps themselves use it too.
func ByName(a, b App) int {
	return cmp.Or(strings.Compare(FoldName(a.Name), FoldName(b.Name)), cmp.Compare(a.ID, b.ID))
}
