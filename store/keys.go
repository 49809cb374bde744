package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// CreateKey generates a new API key for an app. The key text is returned
// once and never stored: the caller shows it, then forgets it. Key names
// follow the app name rules and are unique within their app.
func (s *Store) CreateKey(actor Actor, appID uint64, name string) (string, Key, error) {
	if err := actor.mayWrite(); err != nil {
		return "", Key{}, err
	}
	clean, err := CleanName(name)
	if err != nil {
		return "", Key{}, err
	}
	text, err := newKeyText(s.rand)
	if err != nil {
		return "", Key{}, err
	}
	digest := keyDigest(text)
	var rec keyRecord
	err = s.write(func(tx *bolt.Tx) error {
		app, err := getApp(tx, appID)
		if err != nil {
			return err
		}
		existing, err := appKeyRecords(tx, appID)
		if err != nil {
			return err
		}
		for _, k := range existing {
			if foldName(k.Name) == foldName(clean) {
				return &NameError{Name: clean, Err: ErrKeyNameTaken}
			}
		}
		digests := tx.Bucket(bucketDigests)
		if digests.Get(digest[:]) != nil { // 2^-256: a broken random source, not bad luck
			return fmt.Errorf("generate key: the random source repeated itself")
		}
		keys := tx.Bucket(bucketKeys)
		id, err := keys.NextSequence()
		if err != nil {
			return err
		}
		at := s.now().UTC()
		rec = keyRecord{ID: id, AppID: appID, Name: clean, Hint: keyHint(text), Digest: digest[:],
			CreatedBy: actor.Name, CreatedAt: at}
		if err := put(keys, itob(id), rec); err != nil {
			return err
		}
		if err := digests.Put(digest[:], itob(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAppKeys).Put(appKey(appID, id), nil); err != nil {
			return err
		}
		app.Keys++
		app.Revision++
		if err := put(tx.Bucket(bucketApps), itob(appID), app); err != nil {
			return err
		}
		return s.record(tx, actor, at, Event{Action: ActionKeyCreate, AppID: appID, AppName: app.Name,
			KeyID: id, KeyName: clean, KeyHint: rec.Hint})
	})
	if err != nil {
		return "", Key{}, err
	}
	return text, rec.key(), nil
}

// DeleteKey removes a key; it stops working at once. Keys cannot be edited:
// deleting and creating anew is the only way to change one.
func (s *Store) DeleteKey(actor Actor, keyID uint64) error {
	if err := actor.mayWrite(); err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		rec, err := getKey(tx, keyID)
		if err != nil {
			return err
		}
		app, err := getApp(tx, rec.AppID)
		if err != nil {
			return err
		}
		if err := deleteKey(tx, rec); err != nil {
			return err
		}
		app.Keys--
		app.Revision++
		if err := put(tx.Bucket(bucketApps), itob(app.ID), app); err != nil {
			return err
		}
		return s.record(tx, actor, s.now().UTC(), Event{Action: ActionKeyDelete, AppID: app.ID, AppName: app.Name,
			KeyID: rec.ID, KeyName: rec.Name, KeyHint: rec.Hint})
	})
}

// Keys lists an app's keys, oldest first.
func (s *Store) Keys(appID uint64) ([]Key, error) {
	var out []Key
	err := s.db.View(func(tx *bolt.Tx) error {
		if _, err := getApp(tx, appID); err != nil {
			return err
		}
		recs, err := appKeyRecords(tx, appID)
		for _, r := range recs {
			out = append(out, r.key())
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
