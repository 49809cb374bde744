package store

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateKey generates a new API key for an app that never expires. The key
// text is returned once and never stored: the caller shows it, then forgets
// it. Key names follow the app name rules and are unique within their app.
func (s *Store) CreateKey(actor Actor, appID uint64, name string) (string, Key, error) {
	return s.CreateKeyWith(actor, appID, name, KeyOptions{})
}

// KeyOptions are the choices made when a key is generated.
type KeyOptions struct {
	// ExpiresAt is when the key stops working; zero means never. It must
	// be in the future.
	ExpiresAt time.Time
	// ExpiresIn, when ExpiresAt is zero, sets it this long after the key's
	// creation, by the store's clock ("30 days").
	ExpiresIn time.Duration
}

// CreateKeyWith is CreateKey with options, such as an expiry.
func (s *Store) CreateKeyWith(actor Actor, appID uint64, name string, o KeyOptions) (string, Key, error) {
	if err := actor.mayWrite(); err != nil {
		return "", Key{}, err
	}
	clean, err := CleanName(name)
	if err != nil {
		return "", Key{}, err
	}
	if !o.ExpiresAt.IsZero() && !o.ExpiresAt.After(s.now()) || o.ExpiresIn < 0 {
		return "", Key{}, ErrExpiryPast
	}
	text, err := newKeyText(s.rand)
	if err != nil {
		return "", Key{}, err
	}
	var rec keyRecord
	var app appRecord
	err = s.commit(func(tx *bolt.Tx) error {
		var err error
		if app, err = getApp(tx, appID); err != nil {
			return err
		}
		if s.ix.keyNamed(appID, foldName(clean)) {
			return &NameError{Name: clean, Err: ErrKeyNameTaken}
		}
		at := s.now().UTC()
		expires := o.ExpiresAt
		if expires.IsZero() && o.ExpiresIn > 0 {
			expires = at.Add(o.ExpiresIn)
		}
		if rec, err = s.insertKey(tx, &app, clean, text, actor, at, expires); err != nil {
			return err
		}
		return s.record(tx, actor, at, Event{Action: ActionKeyCreate, AppID: appID, AppName: app.Name,
			KeyID: rec.ID, KeyName: clean, KeyHint: rec.Hint, ExpiresAt: rec.ExpiresAt})
	}, func() { s.ix.putApp(app); s.ix.putKey(rec) })
	if err != nil {
		return "", Key{}, err
	}
	return text, rec.key(), nil
}

// insertKey writes a new key of app with its two index entries, and counts
// it in the app's record. The caller has checked the name and records the
// audit event.
func (s *Store) insertKey(tx *bolt.Tx, app *appRecord, name, text string, actor Actor, at, expires time.Time) (keyRecord, error) {
	digest := keyDigest(text)
	digests := tx.Bucket(bucketDigests)
	if digests.Get(digest[:]) != nil { // 2^-256: a broken random source, not bad luck
		return keyRecord{}, fmt.Errorf("generate key: the random source repeated itself")
	}
	keys := tx.Bucket(bucketKeys)
	id, err := keys.NextSequence()
	if err != nil {
		return keyRecord{}, err
	}
	if !expires.IsZero() {
		expires = expires.UTC()
	}
	rec := keyRecord{ID: id, AppID: app.ID, Name: name, Hint: keyHint(text), Digest: digest[:],
		CreatedBy: actor.Name, CreatedAt: at, ExpiresAt: expires}
	if err := put(keys, itob(id), rec); err != nil {
		return keyRecord{}, err
	}
	if err := digests.Put(digest[:], itob(id)); err != nil {
		return keyRecord{}, err
	}
	if err := tx.Bucket(bucketAppKeys).Put(appKey(app.ID, id), nil); err != nil {
		return keyRecord{}, err
	}
	app.Keys++
	app.Revision++
	return rec, put(tx.Bucket(bucketApps), itob(app.ID), *app)
}

// DeleteKey removes a key; it stops working at once. Keys cannot be edited:
// to replace one, roll it (RollKey) or delete it and create another.
func (s *Store) DeleteKey(actor Actor, keyID uint64) error {
	if err := actor.mayWrite(); err != nil {
		return err
	}
	var app appRecord
	return s.commit(func(tx *bolt.Tx) error {
		rec, err := getKey(tx, keyID)
		if err != nil {
			return err
		}
		if app, err = removeKey(tx, rec); err != nil {
			return err
		}
		return s.record(tx, actor, s.now().UTC(), Event{Action: ActionKeyDelete, AppID: app.ID, AppName: app.Name,
			KeyID: rec.ID, KeyName: rec.Name, KeyHint: rec.Hint})
	}, func() { s.ix.dropKey(keyID); s.ix.putApp(app) })
}

// removeKey deletes a key and uncounts it from its app, returning the app as
// it now is.
func removeKey(tx *bolt.Tx, rec keyRecord) (appRecord, error) {
	app, err := getApp(tx, rec.AppID)
	if err != nil {
		return app, err
	}
	if err := deleteKey(tx, rec); err != nil {
		return app, err
	}
	app.Keys--
	app.Revision++
	return app, put(tx.Bucket(bucketApps), itob(app.ID), app)
}

// Keys lists an app's keys, oldest first. A key's LastUsedAt is the latest
// use this process has seen, which may be newer than the file's. A rolled
// key whose deletion is due is left out: it is refused as if deleted, and
// the next sweep removes it.
func (s *Store) Keys(appID uint64) ([]Key, error) {
	var out []Key
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := getApp(tx, appID); err != nil {
			return err
		}
		recs, err := appKeyRecords(tx, appID)
		for _, r := range recs {
			k := r.key()
			if k.Deleting(now) {
				continue
			}
			if used := s.ix.lastUsed(k.ID); used > 0 && used > k.LastUsedAt.UnixNano() {
				k.LastUsedAt = time.Unix(0, used).UTC()
			}
			out = append(out, k)
		}
		return err
	})
	return out, err
}

func getKey(tx *bolt.Tx, id uint64) (keyRecord, error) {
	var rec keyRecord
	v := tx.Bucket(bucketKeys).Get(itob(id))
	if v == nil {
		return rec, fmt.Errorf("API key %d: %w (it may have been deleted)", id, ErrNotFound)
	}
	return rec, decode(v, &rec)
}

func appKeyRecords(tx *bolt.Tx, appID uint64) ([]keyRecord, error) {
	var out []keyRecord
	prefix := itob(appID)
	c := tx.Bucket(bucketAppKeys).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rec, err := getKey(tx, btoi(k[8:]))
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// deleteKey removes a key record and both of its index entries.
func deleteKey(tx *bolt.Tx, rec keyRecord) error {
	if err := tx.Bucket(bucketDigests).Delete(rec.Digest); err != nil {
		return err
	}
	if err := tx.Bucket(bucketAppKeys).Delete(appKey(rec.AppID, rec.ID)); err != nil {
		return err
	}
	return tx.Bucket(bucketKeys).Delete(itob(rec.ID))
}
