package store

import "apiscopes/scopes"

// AppSpec describes one app of a bulk load: its name, scopes and the names
// of the keys to generate for it.
type AppSpec struct {
	Name   string
	Scopes scopes.Set
	Keys   []string
}

// bulkBatch is how many apps one change of a bulk load creates: with their
// keys and audit records, a change stays within every engine's limits on
// one change (etcd: 128 operations, 1.5 MiB).
const bulkBatch = 8

// CreateApps creates many apps and their keys through the same rules and
// audit records as CreateApp and CreateKey, a few apps to a change: loading
// ten thousand apps takes seconds, not minutes of commits. It returns how
// many apps it created; on an error, the apps before the failing one exist
// (the count says how many) and none after it, so a caller can resume with
// specs[created:].
//
// The keys' text is generated and then forgotten, so nobody can use them:
// this is for demonstrations and load tests that need keys to exist, not
// for keys a service will hold. Those are made with CreateKey.
func (s *Store) CreateApps(actor Actor, specs []AppSpec) (created int, err error) {
	for created < len(specs) {
		n := 1
		for n < len(specs)-created && n < bulkBatch && opsFor(specs[created:created+n+1]) <= maxBulkOps {
			n++
		}
		spec := specs[created]
		if n == 1 && opsFor(specs[created:created+1]) > maxBulkOps {
			if err := s.createLargeApp(actor, spec); err != nil {
				return created, err
			}
			created++
			continue
		}
		chunk := specs[created : created+n]
		err := s.change(actor, func(t *txn) error {
			for _, spec := range chunk {
				app, err := t.createApp(spec.Name, spec.Scopes)
				if err != nil {
					return err
				}
				for _, kn := range spec.Keys {
					if _, _, err := t.createKey(&app, kn, KeyOptions{}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return created, err
		}
		created += len(chunk)
	}
	return created, nil
}

// createLargeApp creates an app with more keys than one change holds: the
// app with its first keys, then the rest a group at a time.
func (s *Store) createLargeApp(actor Actor, spec AppSpec) error {
	per := (maxBulkOps - 5) / 5
	first := spec.Keys[:min(per, len(spec.Keys))]
	var id uint64
	err := s.change(actor, func(t *txn) error {
		app, err := t.createApp(spec.Name, spec.Scopes)
		if err != nil {
			return err
		}
		id = app.ID
		for _, kn := range first {
			if _, _, err := t.createKey(&app, kn, KeyOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	for rest := spec.Keys[len(first):]; err == nil && len(rest) > 0; {
		group := rest[:min(per, len(rest))]
		rest = rest[len(group):]
		err = s.change(actor, func(t *txn) error {
			app, err := t.app(id)
			if err != nil {
				return err
			}
			for _, kn := range group {
				if _, _, err := t.createKey(&app, kn, KeyOptions{}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return err
}

// maxBulkOps is the most operations one bulk change may hold.
const maxBulkOps = 120

// opsFor counts the operations of creating specs: per app its record, name,
// counter, audit record and head; per key its record and digest (the app
// record, counters and head are rewritten in place).
func opsFor(specs []AppSpec) int {
	n := 0
	for _, sp := range specs {
		n += 5 + 3*len(sp.Keys)
	}
	return n
}
