package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"apiscopes/scopes"
)

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
// many apps it created: on an error, the apps of specs[:created] exist and
// none after them, so a caller can resume with specs[created:] (the failing
// spec first). An app with more keys than one change holds is made in
// several changes; its key names are checked before the first, and should
// a later one fail to be written the app is deleted again.
//
// The keys' text is generated and then forgotten, so nobody can use them:
// this is for demonstrations and load tests that need keys to exist, not
// for keys a service will hold. Those are made with CreateKey.
func (s *Store) CreateApps(ctx context.Context, actor Actor, specs []AppSpec) (created int, err error) {
	if err := s.mayWrite(&actor); err != nil {
		return 0, err
	}
	for created < len(specs) {
		n := 1
		for n < len(specs)-created && n < bulkBatch && opsFor(specs[created:created+n+1]) <= maxBulkOps {
			n++
		}
		if n == 1 && opsFor(specs[created:created+1]) > maxBulkOps {
			if err := s.createLargeApp(ctx, actor, specs[created]); err != nil {
				return created, err
			}
			created++
			continue
		}
		err := s.createChunk(ctx, actor, specs[created:created+n])
		switch {
		case err == nil:
			created += n
		case n == 1:
			return created, err
		default:
			// One spec of the chunk is at fault: make the apps before it
			// one at a time, so that the count points at it.
			for _, spec := range specs[created : created+n] {
				if err := s.createChunk(ctx, actor, []AppSpec{spec}); err != nil {
					return created, err
				}
				created++
			}
		}
	}
	return created, nil
}

// createChunk creates a few apps and their keys in one change.
func (s *Store) createChunk(ctx context.Context, actor Actor, chunk []AppSpec) error {
	return s.change(ctx, actor, func(t *txn) error {
		pol, err := t.policy()
		if err != nil {
			return err
		}
		for _, spec := range chunk {
			if wait := spec.Scopes & pol.Approval; !wait.IsEmpty() {
				return fmt.Errorf("%w: app %q: the key policy has a grant of %s wait for another admin, which a bulk load cannot",
					ErrPolicy, SafeText(spec.Name), strings.Join(wait.Strings(), ", "))
			}
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
}

// createLargeApp creates an app with more keys than one change holds: the
// app with its first keys, then the rest a group at a time. The key names
// are checked first, so only a failure to write can stop it half way; the
// app is then deleted again.
func (s *Store) createLargeApp(ctx context.Context, actor Actor, spec AppSpec) error {
	seen := make(map[string]bool, len(spec.Keys))
	for _, kn := range spec.Keys {
		clean, err := CleanName(kn)
		if err != nil {
			return err
		}
		if seen[FoldName(clean)] {
			return &NameError{Name: clean, Err: ErrKeyNameTaken}
		}
		seen[FoldName(clean)] = true
	}
	per := (maxBulkOps - 5) / 5
	first := spec.Keys[:min(per, len(spec.Keys))]
	var id uint64
	err := s.change(ctx, actor, func(t *txn) error {
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
	if err != nil {
		return err
	}
	for rest := spec.Keys[len(first):]; len(rest) > 0; {
		group := rest[:min(per, len(rest))]
		rest = rest[len(group):]
		err = s.change(ctx, actor, func(t *txn) error {
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
		if err != nil {
			if derr := s.DeleteApp(ctx, actor, id); derr != nil && !errors.Is(derr, ErrNotFound) {
				return fmt.Errorf("%w (app %d was left with some of its keys: %v)", err, id, derr)
			}
			return err
		}
	}
	return nil
}

// maxBulkOps is the most operations one bulk change may hold.
const maxBulkOps = 120

// opsFor counts the operations of creating specs: the state hash's lanes;
// per app its record, name, counter, audit record and head; per key its
// record and digest (the app record, counters, head and lanes are
// rewritten in place).
func opsFor(specs []AppSpec) int {
	n := 1
	for _, sp := range specs {
		n += 5 + 3*len(sp.Keys)
	}
	return n
}
