package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxGrace is the longest a rolled key may keep working beside its new key.
const MaxGrace = 30 * 24 * time.Hour

// RollKey replaces a key: it generates a new key for the same app, returned
// once like CreateKey's, and schedules the old key's deletion after grace.
// With no grace the old key is deleted in the same change; otherwise it
// keeps working until then, so services can move to the new key, and is
// refused as if deleted from that moment on. The old key's name, secret and
// app never change. It returns the new key's text and record, and the old
// key as it now is (its DeleteAt set).
//
// The new key is named after the old one: the same name when the old key
// goes at once, otherwise "<name> (rolled)" (or "(rolled 2)", …). An old key
// with an expiry passes its lifetime on: the new key expires as long after
// its creation as the old one did, but never longer than the key policy's
// maximum lifetime for the app (a key that never expired gets that
// lifetime). The new key keeps the old one's address list.
func (s *Store) RollKey(ctx context.Context, actor Actor, keyID uint64, grace time.Duration) (text string, newKey, oldKey Key, err error) {
	if grace < 0 || grace > MaxGrace {
		return "", Key{}, Key{}, ErrGrace
	}
	var old, rec keyRecord
	err = s.change(ctx, actor, func(t *txn) error {
		var err error
		if old, err = t.keyByID(keyID); err != nil {
			return err
		}
		if !old.DeleteAt.IsZero() {
			return ErrKeyRolled
		}
		app, err := t.app(old.AppID)
		if err != nil {
			return err
		}
		var expires time.Time
		if !old.ExpiresAt.IsZero() {
			expires = t.at.Add(old.ExpiresAt.Sub(old.CreatedAt))
		}
		pol, err := t.policy()
		if err != nil {
			return err
		}
		if max, _ := pol.Lifetime(app.app().Scopes); max > 0 && (expires.IsZero() || expires.Sub(t.at) > max) {
			expires = t.at.Add(max) // the new key gets no more than the policy's maximum
		}
		ev := Event{Action: ActionKeyRoll, AppID: app.ID, AppName: app.Name, KeyID: old.ID, KeyName: old.Name,
			KeyHint: old.Hint, ExpiresAt: expires, AllowFrom: old.AllowFrom}
		name := old.Name
		if grace == 0 {
			if app, err = t.removeKey(old); err != nil {
				return err
			}
			old.DeleteAt = t.at
		} else {
			if name, err = t.rolledName(app.ID, old.Name); err != nil {
				return err
			}
			old.DeleteAt, old.DeleteBy = t.at.Add(grace), t.actor.Name
			if err := t.replace(TableKeys, keyKey(old.AppID, old.ID), encode(old)); err != nil {
				return err
			}
		}
		ev.DeleteAt = old.DeleteAt
		if text, rec, err = t.insertKey(&app, name, expires, old.AllowFrom); err != nil {
			return err
		}
		ev.NewKeyID, ev.NewKeyName, ev.NewKeyHint = rec.ID, rec.Name, rec.Hint
		return t.record(ev)
	})
	if err != nil {
		return "", Key{}, Key{}, err
	}
	return text, rec.key(), old.key(), nil
}

// rolledName is the first of "<name> (rolled)", "<name> (rolled 2)", … that
// no key of the app has, the name shortened to keep within MaxNameLen.
func (t *txn) rolledName(appID uint64, name string) (string, error) {
	for i := 1; ; i++ {
		suffix := " (rolled)"
		if i > 1 {
			suffix = fmt.Sprintf(" (rolled %d)", i)
		}
		base := []rune(name)
		if n := MaxNameLen - len([]rune(suffix)); len(base) > n {
			base = base[:n]
		}
		candidate := string(base) + suffix
		taken, err := t.keyNameTaken(appID, candidate)
		if err != nil || !taken {
			return candidate, err
		}
	}
}

// sweep deletes the rolled keys whose grace period has passed, each with a
// key.delete audit record in the name of the admin who rolled it, then
// removes digest entries left behind by deleted apps, a bounded batch to a
// change, until none is left; and closes the approval requests whose
// window has passed (approvals.go).
func (s *Store) sweep(ctx context.Context) error {
	now := s.clock.now()
	due := s.ix.dueForDeletion(now)
	for len(due) > 0 {
		batch := due[:min(len(due), sweepKeys)]
		due = due[len(batch):]
		err := s.commitRule(ctx, Actor{}, func(t *txn) error {
			for _, id := range batch {
				rec, err := t.keyByID(id)
				if errors.Is(err, ErrNotFound) {
					continue // deleted meanwhile
				}
				if err != nil {
					return err
				}
				if !rec.key().Deleting(now) {
					continue
				}
				app, err := t.removeKey(rec)
				if err != nil {
					return err
				}
				by := Actor{Name: rec.DeleteBy, Role: Admin, Origin: "scheduled by a roll"}
				if by.Name == "" {
					by.Name = systemName
				}
				if err := t.recordBy(by, now.UTC(), Event{Action: ActionKeyDelete, AppID: app.ID, AppName: app.Name,
					KeyID: rec.ID, KeyName: rec.Name, KeyHint: rec.Hint, Scheduled: true}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return errors.Join(s.sweepOrphans(ctx), s.expireApprovals(ctx))
}

// maxSweepOps keeps a housekeeping change well within the smallest limit an
// engine sets on one change (etcd: 128 operations).
const maxSweepOps = 96

// sweepKeys is how many due keys one change deletes: each takes its record,
// digest entry, usage note and audit record, and shares its app's record
// and the audit head.
const sweepKeys = maxSweepOps / 6

// systemName names the store itself in the audit trail, for what it does
// on its own (a scheduled deletion whose admin is unknown).
const systemName = "apiscopes"

// sweepAll is the sweep at open: the rolled keys that fell due while no
// process held the database, and every digest entry whose key is gone (the
// index found them as it loaded).
func (s *Store) sweepAll(ctx context.Context) error { return s.sweep(ctx) }

// sweepOrphans removes the digest entries and usage notes of keys removed
// with their app (in one range removal), a bounded batch to a change, until
// none is left. Each removal requires the key to still be absent, so it
// never races a writer; nothing is audited, as nothing a user sees changes.
func (s *Store) sweepOrphans(ctx context.Context) error {
	for {
		orphans := s.ix.takeOrphans(maxSweepOps / 3)
		if len(orphans) == 0 {
			return nil
		}
		err := s.commitRule(ctx, Actor{}, func(t *txn) error {
			for d, id := range orphans {
				v, err := t.snap.Get(TableDigests, d[:])
				if err != nil {
					return err
				}
				if len(v) != 16 || btoi(v[8:]) != id {
					continue // swept already, or never written
				}
				if _, err := t.sweepOrphan(d, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for d := range orphans {
			s.ix.forgetOrphan(d)
		}
	}
}

// sweepOrphan adds the removal of a digest entry whose key is gone.
func (t *txn) sweepOrphan(d [32]byte, at []byte) (bool, error) {
	if t.s.ix.hasKey(btoi(at[8:])) {
		return false, nil
	}
	rec, err := t.snap.Get(TableKeys, at)
	if err != nil || rec != nil {
		return false, err
	}
	at = append([]byte(nil), at...)
	t.b.Require(TableKeys, at, nil)
	t.b.Require(TableDigests, d[:], at)
	t.b.Delete(TableDigests, d[:])
	t.b.Delete(TableUsage, keyUseKey(btoi(at[8:])))
	return true, nil
}
