package store

import (
	"fmt"
	"sort"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// CreateApp adds an app with the given name and scopes. An empty name (not
// one of only spaces, which is refused) gets the next free default: "Untitled app", "Untitled app 2", and so on.
func (s *Store) CreateApp(actor Actor, name string, set scopes.Set) (App, error) {
	if err := actor.mayWrite(); err != nil {
		return App{}, err
	}
	if set.IsEmpty() {
		return App{}, ErrNoScopes
	}
	var rec appRecord
	err := s.commit(func(tx *bolt.Tx) error {
		n := name
		if n == "" {
			n = nextDefaultName(tx)
		}
		clean, err := CleanName(n)
		if err != nil {
			return err
		}
		names := tx.Bucket(bucketNames)
		if names.Get([]byte(foldName(clean))) != nil {
			return &NameError{Name: clean, Err: ErrNameTaken}
		}
		apps := tx.Bucket(bucketApps)
		id, err := apps.NextSequence()
		if err != nil {
			return err
		}
		at := s.now().UTC()
		rec = appRecord{ID: id, Name: clean, Scopes: set.Strings(), CreatedBy: actor.Name, CreatedAt: at,
			UpdatedBy: actor.Name, UpdatedAt: at, Revision: 1}
		if err := put(apps, itob(id), rec); err != nil {
			return err
		}
		if err := names.Put([]byte(foldName(clean)), itob(id)); err != nil {
			return err
		}
		return s.record(tx, actor, at, Event{Action: ActionAppCreate, AppID: id, AppName: clean, ScopesAfter: rec.Scopes})
	}, func() { s.ix.putApp(rec) })
	if err != nil {
		return App{}, err
	}
	return rec.app()
}

// NextAppName is the name CreateApp gives an app created without one now.
func (s *Store) NextAppName() (string, error) {
	var name string
	err := s.db.View(func(tx *bolt.Tx) error { name = nextDefaultName(tx); return nil })
	return name, err
}

func nextDefaultName(tx *bolt.Tx) string {
	names := tx.Bucket(bucketNames)
	for i := 1; ; i++ {
		n := DefaultAppName
		if i > 1 {
			n += " " + strconv.Itoa(i)
		}
		if names.Get([]byte(foldName(n))) == nil {
			return n
		}
	}
}

// UpdateApp renames an app and sets its scopes in one change. The new scopes
// apply to every key of the app from the next check on.
func (s *Store) UpdateApp(actor Actor, id uint64, name string, set scopes.Set) (App, error) {
	return s.update(actor, id, func(rec *appRecord) error {
		clean, err := CleanName(name)
		if err != nil {
			return err
		}
		if set.IsEmpty() {
			return ErrNoScopes
		}
		rec.Name, rec.Scopes = clean, set.Strings()
		return nil
	})
}

// RenameApp changes an app's name only.
func (s *Store) RenameApp(actor Actor, id uint64, name string) (App, error) {
	return s.update(actor, id, func(rec *appRecord) error {
		clean, err := CleanName(name)
		rec.Name = clean
		return err
	})
}

// SetScopes changes an app's scopes only.
func (s *Store) SetScopes(actor Actor, id uint64, set scopes.Set) (App, error) {
	return s.update(actor, id, func(rec *appRecord) error {
		if set.IsEmpty() {
			return ErrNoScopes
		}
		rec.Scopes = set.Strings()
		return nil
	})
}

// update applies change to app id, keeps the name index in step and records
// the before and after of the name and scopes. A change that changes nothing
// writes nothing.
func (s *Store) update(actor Actor, id uint64, change func(*appRecord) error) (App, error) {
	if err := actor.mayWrite(); err != nil {
		return App{}, err
	}
	var rec appRecord
	err := s.commit(func(tx *bolt.Tx) error {
		var err error
		if rec, err = getApp(tx, id); err != nil {
			return err
		}
		before := rec
		before.Scopes = append([]string(nil), rec.Scopes...)
		if err := change(&rec); err != nil {
			return err
		}
		renamed := rec.Name != before.Name
		rescoped := fmt.Sprint(rec.Scopes) != fmt.Sprint(before.Scopes)
		if !renamed && !rescoped {
			return nil
		}
		names := tx.Bucket(bucketNames)
		if foldName(rec.Name) != foldName(before.Name) {
			if names.Get([]byte(foldName(rec.Name))) != nil {
				return &NameError{Name: rec.Name, Err: ErrNameTaken}
			}
			if err := names.Delete([]byte(foldName(before.Name))); err != nil {
				return err
			}
		}
		if err := names.Put([]byte(foldName(rec.Name)), itob(id)); err != nil {
			return err
		}
		at := s.now().UTC()
		rec.UpdatedBy, rec.UpdatedAt, rec.Revision = actor.Name, at, rec.Revision+1
		if err := put(tx.Bucket(bucketApps), itob(id), rec); err != nil {
			return err
		}
		ev := Event{Action: ActionAppUpdate, AppID: id, AppName: rec.Name}
		if renamed {
			ev.NameBefore = before.Name
		}
		if rescoped {
			ev.ScopesBefore, ev.ScopesAfter = before.Scopes, rec.Scopes
		}
		return s.record(tx, actor, at, ev)
	}, func() { s.ix.putApp(rec) })
	if err != nil {
		return App{}, err
	}
	return rec.app()
}

// DeleteApp removes an app and, in the same transaction, all of its keys:
// they stop working at once.
func (s *Store) DeleteApp(actor Actor, id uint64) error {
	if err := actor.mayWrite(); err != nil {
		return err
	}
	return s.commit(func(tx *bolt.Tx) error {
		rec, err := getApp(tx, id)
		if err != nil {
			return err
		}
		keys, err := appKeyRecords(tx, id)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := deleteKey(tx, k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketNames).Delete([]byte(foldName(rec.Name))); err != nil {
			return err
		}
		if err := tx.Bucket(bucketApps).Delete(itob(id)); err != nil {
			return err
		}
		return s.record(tx, actor, s.now().UTC(), Event{Action: ActionAppDelete, AppID: id, AppName: rec.Name,
			ScopesBefore: rec.Scopes, KeysGone: len(keys)})
	}, func() { s.ix.dropApp(id) })
}

// App returns one app.
func (s *Store) App(id uint64) (App, error) {
	var rec appRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getApp(tx, id)
		return err
	})
	if err != nil {
		return App{}, err
	}
	return rec.app()
}

// Apps returns every app, sorted by name (case-insensitively), then id.
func (s *Store) Apps() ([]App, error) {
	var out []App
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(_, v []byte) error {
			var rec appRecord
			if err := decode(v, &rec); err != nil {
				return err
			}
			app, err := rec.app()
			if err != nil {
				return err
			}
			out = append(out, app)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool {
		a, b := foldName(out[i].Name), foldName(out[j].Name)
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

func getApp(tx *bolt.Tx, id uint64) (appRecord, error) {
	var rec appRecord
	v := tx.Bucket(bucketApps).Get(itob(id))
	if v == nil {
		return rec, fmt.Errorf("app %d: %w (it may have been deleted)", id, ErrNotFound)
	}
	return rec, decode(v, &rec)
}
