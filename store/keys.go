package store

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// KeyOptions are the choices made when a key is generated.
type KeyOptions struct {
	// ExpiresAt is when the key stops working; zero means never. It must
	// be in the future.
	ExpiresAt time.Time
	// ExpiresIn, when ExpiresAt is zero, sets it this long after the key's
	// creation, by the store's clock ("30 days").
	ExpiresIn time.Duration
	// AllowFrom limits the key to checks from these networks (at most
	// MaxAllowFrom; see ParseAllowFrom). Empty: from anywhere.
	AllowFrom []netip.Prefix
}

// CreateKey generates a new API key for an app that never expires. The key
// text is returned once and never stored: the caller shows it, then forgets
// it. Key names follow the app name rules and are unique within their app.
func (s *Store) CreateKey(ctx context.Context, actor Actor, appID uint64, name string) (string, Key, error) {
	return s.CreateKeyWith(ctx, actor, appID, name, KeyOptions{})
}

// CreateKeyWith is CreateKey with options, such as an expiry.
func (s *Store) CreateKeyWith(ctx context.Context, actor Actor, appID uint64, name string, o KeyOptions) (string, Key, error) {
	var text string
	var rec keyRecord
	err := s.change(ctx, actor, func(t *txn) error {
		app, err := t.app(appID)
		if err != nil {
			return err
		}
		text, rec, err = t.createKey(&app, name, o)
		return err
	})
	if err != nil {
		return "", Key{}, err
	}
	return text, rec.key(), nil
}

// createKey is the one rule for a new key, single or in bulk: it checks
// the name, expiry (the key policy's maximum lifetime too) and address
// list, draws the key, writes it with its digest entry, counts it in app
// (whose record the caller need not write) and records it.
func (t *txn) createKey(app *appRecord, name string, o KeyOptions) (string, keyRecord, error) {
	clean, err := CleanName(name)
	if err != nil {
		return "", keyRecord{}, err
	}
	if o.ExpiresIn < 0 || !o.ExpiresAt.IsZero() && !o.ExpiresAt.After(t.at) {
		return "", keyRecord{}, ErrExpiryPast
	}
	allow, err := NormalizeAllowFrom(o.AllowFrom)
	if err != nil {
		return "", keyRecord{}, err
	}
	if taken, err := t.keyNameTaken(app.ID, clean); err != nil || taken {
		if err == nil {
			err = &NameError{Name: clean, Err: ErrKeyNameTaken}
		}
		return "", keyRecord{}, err
	}
	expires := o.ExpiresAt
	if expires.IsZero() && o.ExpiresIn > 0 {
		expires = t.at.Add(o.ExpiresIn)
	}
	pol, err := t.policy()
	if err != nil {
		return "", keyRecord{}, err
	}
	if max, by := pol.Lifetime(app.app().Scopes); max > 0 && (expires.IsZero() || expires.Sub(t.at) > max) {
		return "", keyRecord{}, &LifetimeError{App: app.Name, Max: max, Scope: by}
	}
	text, rec, err := t.insertKey(app, clean, expires, FormatAllowFrom(allow))
	if err != nil {
		return "", keyRecord{}, err
	}
	return text, rec, t.record(Event{Action: ActionKeyCreate, AppID: app.ID, AppName: app.Name,
		KeyID: rec.ID, KeyName: clean, KeyHint: rec.Hint, ExpiresAt: rec.ExpiresAt, AllowFrom: rec.AllowFrom})
}

// keyNameTaken reports whether app appID has a key of this name (folded),
// among the keys in the snapshot and those this attempt made or removed.
// The index answers when it shows the snapshot's revision; otherwise the
// snapshot's names are read once per app and attempt, so a load of many
// keys into one app reads its keys once a change, not once a key.
func (t *txn) keyNameTaken(appID uint64, name string) (bool, error) {
	folded := FoldName(name)
	if v, ok := t.keyNameDelta[appID][folded]; ok {
		return v, nil
	}
	names, ok := t.keyNameSnap[appID]
	if !ok && t.s != nil {
		// The index knows every app's key names; it answers for the
		// snapshot when it shows the snapshot's revision, as it does but
		// for a moment after another process's change.
		if taken, ok := t.s.ix.keyNamed(appID, folded, t.snap.Revision()); ok {
			return taken, nil
		}
	}
	if !ok {
		names = map[string]bool{}
		err := t.snap.Scan(TableKeys, itob(appID), ScanOptions{}, func(_, v []byte) error {
			var rec struct {
				Name string `json:"name"`
			}
			if err := decode(v, &rec); err != nil {
				return err
			}
			names[FoldName(rec.Name)] = true
			return nil
		})
		if err != nil {
			return false, err
		}
		if t.keyNameSnap == nil {
			t.keyNameSnap = map[uint64]map[string]bool{}
		}
		t.keyNameSnap[appID] = names
	}
	return names[folded], nil
}

// noteKeyName records that this attempt made (or removed) a key name.
func (t *txn) noteKeyName(appID uint64, name string, present bool) {
	if t.keyNameDelta == nil {
		t.keyNameDelta = map[uint64]map[string]bool{}
	}
	if t.keyNameDelta[appID] == nil {
		t.keyNameDelta[appID] = map[string]bool{}
	}
	t.keyNameDelta[appID][FoldName(name)] = present
}

// insertKey draws a new key of app and writes it with its digest entry,
// counting it in the app's record. The caller has checked the name and
// records the audit event.
func (t *txn) insertKey(app *appRecord, name string, expires time.Time, allow []string) (string, keyRecord, error) {
	text, err := newKeyText(t.s.rand)
	if err != nil {
		return "", keyRecord{}, err
	}
	digest := keyDigest(text)
	// A digest already in use (2^-256: a broken random source, not bad
	// luck) fails the commit's condition. Only a run after a failed
	// commit reads the snapshot for it, to tell this from another
	// writer's change; this attempt's own keys are checked every time.
	t.b.Require(TableDigests, digest[:], nil)
	if _, mine := t.written[tkey(TableDigests, digest[:])]; mine || t.attempt > 1 {
		if v, err := t.get(TableDigests, digest[:]); err != nil || v != nil {
			if err == nil {
				err = fmt.Errorf("generate key: the random source repeated itself")
			}
			return "", keyRecord{}, err
		}
	}
	id, err := t.nextID(metaKeySeq)
	if err != nil {
		return "", keyRecord{}, err
	}
	if !expires.IsZero() {
		expires = expires.UTC()
	}
	rec := keyRecord{ID: id, AppID: app.ID, Name: name, Hint: keyHint(text), Digest: digest[:],
		CreatedBy: t.actor.Name, CreatedAt: t.at, ExpiresAt: expires, AllowFrom: allow}
	if err := t.writeRecord(TableKeys, keyKey(app.ID, id), nil, encode(rec)); err != nil { // a new id: nothing there
		return "", keyRecord{}, err
	}
	t.put(TableDigests, digest[:], keyKey(app.ID, id))
	t.noteKeyName(app.ID, name, true)
	app.Keys++
	app.Revision++
	if err := t.putApp(*app); err != nil {
		return "", keyRecord{}, err
	}
	return text, rec, nil
}

// DeleteKey removes a key; it stops working at once. Keys cannot be edited:
// to replace one, roll it (RollKey) or delete it and create another.
func (s *Store) DeleteKey(ctx context.Context, actor Actor, keyID uint64) error {
	return s.deleteKey(ctx, actor, keyID, ActionKeyDelete)
}

// DiscardKey deletes a key just made whose text could not be handed to
// whoever asked for it (their output closed, a write failed): a key nobody
// received must not stay valid. The audit trail says why it went.
func (s *Store) DiscardKey(ctx context.Context, actor Actor, keyID uint64) error {
	return s.deleteKey(ctx, actor, keyID, ActionKeyUndelivered)
}

func (s *Store) deleteKey(ctx context.Context, actor Actor, keyID uint64, action Action) error {
	return s.change(ctx, actor, func(t *txn) error {
		rec, err := t.keyByID(keyID)
		if err != nil {
			return err
		}
		app, err := t.removeKey(rec)
		if err != nil {
			return err
		}
		return t.record(Event{Action: action, AppID: app.ID, AppName: app.Name,
			KeyID: rec.ID, KeyName: rec.Name, KeyHint: rec.Hint})
	})
}

// removeKey deletes a key and its digest entry and uncounts it from its
// app, returning the app as it now is.
func (t *txn) removeKey(rec keyRecord) (appRecord, error) {
	app, err := t.app(rec.AppID)
	if err != nil {
		return app, err
	}
	if err := t.replace(TableKeys, keyKey(rec.AppID, rec.ID), nil); err != nil {
		return app, err
	}
	t.del(TableDigests, rec.Digest)
	t.del(TableUsage, keyUseKey(rec.ID))
	t.noteKeyName(rec.AppID, rec.Name, false)
	app.Keys--
	app.Revision++
	return app, t.putApp(app)
}

// Keys lists an app's keys, oldest first. A key's LastUsedAt is the latest
// use this process knows of, which may be newer than the database's. A
// rolled key whose deletion is due is left out: it is refused as if
// deleted, and the next sweep removes it.
func (s *Store) Keys(ctx context.Context, appID uint64) ([]Key, error) {
	var out []Key
	now := s.clock.now()
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		out = out[:0]
		if _, err := (&txn{snap: snap}).app(appID); err != nil {
			return err
		}
		recs, err := appKeys(snap, appID)
		for _, r := range recs {
			k := r.key()
			if k.Deleting(now) {
				continue
			}
			out = append(out, s.withUse(k))
		}
		return err
	})
	return out, err
}
