package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
)

// AppSpec describes one app of a bulk load: its name, scopes and the names
// of the keys to generate for it.
type AppSpec struct {
	Name   string
	Scopes scopes.Set
	Keys   []string
}

// CreateApps creates many apps and their keys in one transaction, with the
// same checks and audit records as CreateApp and CreateKey one by one, but a
// single commit: loading ten thousand apps takes a second, not minutes of
// fsyncs. Either every app is created or none is.
//
// The keys' text is generated and then forgotten, so nobody can use them:
// this is for demonstrations and load tests that need keys to exist, not
// for keys a service will hold. Those are made with CreateKey.
func (s *Store) CreateApps(actor Actor, specs []AppSpec) error {
	if err := actor.mayWrite(); err != nil {
		return err
	}
	var made []appRecord
	var madeKeys []keyRecord
	return s.commit(func(tx *bolt.Tx) error {
		made, madeKeys = made[:0], madeKeys[:0]
		apps, names := tx.Bucket(bucketApps), tx.Bucket(bucketNames)
		for _, spec := range specs {
			if spec.Scopes.IsEmpty() {
				return fmt.Errorf("app %q: %w", spec.Name, ErrNoScopes)
			}
			name, err := CleanName(spec.Name)
			if err != nil {
				return err
			}
			if names.Get([]byte(foldName(name))) != nil {
				return &NameError{Name: name, Err: ErrNameTaken}
			}
			id, err := apps.NextSequence()
			if err != nil {
				return err
			}
			at := s.now().UTC()
			rec := appRecord{ID: id, Name: name, Scopes: spec.Scopes.Strings(), CreatedBy: actor.Name,
				CreatedAt: at, UpdatedBy: actor.Name, UpdatedAt: at, Revision: 1}
			if err := put(apps, itob(id), rec); err != nil {
				return err
			}
			if err := names.Put([]byte(foldName(name)), itob(id)); err != nil {
				return err
			}
			if err := s.record(tx, actor, at, Event{Action: ActionAppCreate, AppID: id, AppName: name,
				ScopesAfter: rec.Scopes}); err != nil {
				return err
			}
			taken := map[string]bool{}
			for _, kn := range spec.Keys {
				kname, err := CleanName(kn)
				if err != nil {
					return err
				}
				if taken[foldName(kname)] {
					return &NameError{Name: kname, Err: ErrKeyNameTaken}
				}
				taken[foldName(kname)] = true
				text, err := newKeyText(s.rand)
				if err != nil {
					return err
				}
				kat := s.now().UTC()
				krec, err := s.insertKey(tx, &rec, kname, text, actor, kat, time.Time{})
				if err != nil {
					return err
				}
				madeKeys = append(madeKeys, krec)
				if err := s.record(tx, actor, kat, Event{Action: ActionKeyCreate, AppID: id, AppName: name,
					KeyID: krec.ID, KeyName: kname, KeyHint: krec.Hint}); err != nil {
					return err
				}
			}
			made = append(made, rec)
		}
		return nil
	}, func() {
		for _, a := range made {
			s.ix.putApp(a)
		}
		for _, k := range madeKeys {
			s.ix.putKey(k)
		}
	})
}
