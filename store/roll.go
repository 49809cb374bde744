package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxGrace is the longest a rolled key may keep working beside its new key.
const MaxGrace = 30 * 24 * time.Hour

// RollKey replaces a key: it generates a new key for the same app, returned
// once like CreateKey's, and schedules the old key's deletion after grace.
// With no grace the old key is deleted in the same transaction; otherwise it
// keeps working until then, so services can move to the new key, and is
// refused as if deleted from that moment on. The old key's name, secret and
// app never change.
//
// The new key is named after the old one: the same name when the old key
// goes at once, otherwise "<name> (rolled)" (or "(rolled 2)", …). An old key
// with an expiry passes its lifetime on: the new key expires as long after
// its creation as the old one did.
func (s *Store) RollKey(actor Actor, keyID uint64, grace time.Duration) (string, Key, error) {
	if err := actor.mayWrite(); err != nil {
		return "", Key{}, err
	}
	if grace < 0 || grace > MaxGrace {
		return "", Key{}, ErrGrace
	}
	text, err := newKeyText(s.rand)
	if err != nil {
		return "", Key{}, err
	}
	var old, rec keyRecord
	var app appRecord
	err = s.commit(func(tx *bolt.Tx) error {
		var err error
		if old, err = getKey(tx, keyID); err != nil {
			return err
		}
		at := s.now().UTC()
		if !old.DeleteAt.IsZero() {
			return ErrKeyRolled
		}
		if app, err = getApp(tx, old.AppID); err != nil {
			return err
		}
		var expires time.Time
		if !old.ExpiresAt.IsZero() {
			expires = at.Add(old.ExpiresAt.Sub(old.CreatedAt))
		}
		ev := Event{Action: ActionKeyRoll, AppID: app.ID, AppName: app.Name, KeyID: old.ID, KeyName: old.Name,
			KeyHint: old.Hint, ExpiresAt: expires}
		name := old.Name
		if grace == 0 {
			if app, err = removeKey(tx, old); err != nil {
				return err
			}
			ev.DeleteAt = at
		} else {
			name = s.rolledName(app.ID, old.Name)
			old.DeleteAt, old.DeleteBy = at.Add(grace), actor.Name
			if err := put(tx.Bucket(bucketKeys), itob(old.ID), old); err != nil {
				return err
			}
			ev.DeleteAt = old.DeleteAt
		}
		if rec, err = s.insertKey(tx, &app, name, text, actor, at, expires); err != nil {
			return err
		}
		ev.NewKeyID, ev.NewKeyName, ev.NewKeyHint = rec.ID, rec.Name, rec.Hint
		return s.record(tx, actor, at, ev)
	}, func() {
		if grace == 0 {
			s.ix.dropKey(old.ID)
		} else {
			s.ix.putKey(old)
		}
		s.ix.putApp(app)
		s.ix.putKey(rec)
	})
	if err != nil {
		return "", Key{}, err
	}
	return text, rec.key(), nil
}

// rolledName is the first of "<name> (rolled)", "<name> (rolled 2)", … that
// no key of the app has, the name shortened to keep within MaxNameLen.
func (s *Store) rolledName(appID uint64, name string) string {
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
		if !s.ix.keyNamed(appID, foldName(candidate)) {
			return candidate
		}
	}
}

// sweep deletes the rolled keys whose grace period has passed, each with a
// key.delete audit record in the name of the admin who rolled it.
func (s *Store) sweep() error {
	var due []uint64
	var now time.Time
	s.ix.mu.RLock()
	for id, e := range s.ix.byID {
		if e.key.DeleteAt.IsZero() {
			continue
		}
		if now.IsZero() {
			now = s.now() // read only when something is scheduled
		}
		if e.key.Deleting(now) {
			due = append(due, id)
		}
	}
	s.ix.mu.RUnlock()
	if len(due) == 0 {
		return nil
	}
	var gone []uint64
	var apps []appRecord
	return s.commit(func(tx *bolt.Tx) error {
		gone, apps = gone[:0], apps[:0]
		for _, id := range due {
			rec, err := getKey(tx, id)
			if err != nil || rec.DeleteAt.IsZero() || now.Before(rec.DeleteAt) {
				continue
			}
			app, err := removeKey(tx, rec)
			if err != nil {
				return err
			}
			by := Actor{Name: rec.DeleteBy, Role: Admin, Origin: "scheduled by a roll"}
			if by.Name == "" {
				by.Name = "apiscopes"
			}
			if err := s.record(tx, by, now.UTC(), Event{Action: ActionKeyDelete, AppID: app.ID, AppName: app.Name,
				KeyID: rec.ID, KeyName: rec.Name, KeyHint: rec.Hint, Scheduled: true}); err != nil {
				return err
			}
			gone, apps = append(gone, id), append(apps, app)
		}
		return nil
	}, func() {
		for _, id := range gone {
			s.ix.dropKey(id)
		}
		for _, a := range apps {
			s.ix.putApp(a) // the last of an app's records is its final state
		}
	})
}
