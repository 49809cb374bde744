package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
)

// Finding apps and keys by what a person or a script names them with. The
// console picks from lists; the command line names an app by its name or
// id and a key by its app and name, its id, or its own text.

// AppNamed returns the app with this name, compared as names are kept
// unique: case-insensitively (FoldName).
func (s *Store) AppNamed(ctx context.Context, name string) (App, error) {
	var rec appRecord
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		t := &txn{snap: snap}
		id, err := t.appNamed(FoldName(strings.TrimSpace(name)))
		if err != nil {
			return err
		}
		if id == 0 {
			return fmt.Errorf("no app is named %q: %w", SafeText(name), ErrNotFound)
		}
		rec, err = t.app(id)
		return err
	})
	if err != nil {
		return App{}, err
	}
	return rec.app(), nil
}

// Key returns one key by its id, whichever app it belongs to.
func (s *Store) Key(ctx context.Context, id uint64) (Key, error) {
	var rec keyRecord
	err := s.eng.Read(ctx, func(snap Snapshot) (err error) {
		rec, err = (&txn{s: s, snap: snap}).keyByID(id)
		return err
	})
	if err != nil {
		return Key{}, err
	}
	return s.withUse(rec.key()), nil
}

// KeyNamed returns the key of an app with this name (case-insensitively,
// as key names are unique within their app).
func (s *Store) KeyNamed(ctx context.Context, appID uint64, name string) (Key, error) {
	keys, err := s.Keys(ctx, appID)
	if err != nil {
		return Key{}, err
	}
	folded := FoldName(strings.TrimSpace(name))
	for _, k := range keys {
		if FoldName(k.Name) == folded {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("the app has no key named %q: %w", SafeText(name), ErrNotFound)
}

// KeyDigest is the SHA-256 digest of a key's text, the only form of a key
// the database holds. A command that names a key by its text to another
// process sends this, never the text.
func KeyDigest(key string) [sha256.Size]byte { return keyDigest(key) }

// KeyByDigest returns the key whose text has this digest: the exact way to
// name a leaked key found in a file. A key whose rolled grace has passed is
// not found, as Verify would not find it.
func (s *Store) KeyByDigest(ctx context.Context, digest [sha256.Size]byte) (Key, error) {
	var rec keyRecord
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		v, err := snap.Get(TableDigests, digest[:])
		if err != nil {
			return err
		}
		if len(v) != 16 {
			return fmt.Errorf("the key is unknown here (never issued, or deleted): %w", ErrNotFound)
		}
		k, err := snap.Get(TableKeys, v)
		if err != nil {
			return err
		}
		if k == nil {
			return fmt.Errorf("the key is unknown here (deleted with its app): %w", ErrNotFound)
		}
		return decode(k, &rec)
	})
	if err != nil {
		return Key{}, err
	}
	k := s.withUse(rec.key())
	if k.Deleting(s.clock.now()) {
		return Key{}, fmt.Errorf("the key %s was rolled and its grace has passed: %w", k.Hint, ErrNotFound)
	}
	return k, nil
}

// KeysWithHint returns every key whose hint is hint ("aps_…W1Jm"), across
// all apps. Four characters collide among many keys: a caller names a key
// by its hint only where exactly one has it, and a person confirms it.
func (s *Store) KeysWithHint(ctx context.Context, hint string) ([]Key, error) {
	var out []Key
	now := s.clock.now()
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		out = out[:0]
		return snap.Scan(TableKeys, nil, ScanOptions{}, func(_, v []byte) error {
			var rec keyRecord
			if err := decode(v, &rec); err != nil {
				return err
			}
			if rec.Hint == hint && !rec.key().Deleting(now) {
				out = append(out, s.withUse(rec.key()))
			}
			return nil
		})
	})
	return out, err
}

// withUse is k with the latest use this process knows of.
func (s *Store) withUse(k Key) Key {
	if used := s.ix.lastUsed(k.ID); used > 0 {
		k.LastUsedAt = time.Unix(0, used).UTC()
	}
	return k
}
