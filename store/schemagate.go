package store

import "fmt"

// Rolling upgrades: replicas of two versions share a cluster while they
// are replaced one by one. A replica follows the change stream, which
// shows the database's schema moving. One that sees it move past the
// schema it knows no longer understands every record (a key's address
// list, say, which it would ignore), so from then on it answers every
// check with UpgradeRequired, is not Ready, and writes nothing: it fails
// closed. A replica of the new version opened with WaitForUpgrade on a
// database not yet upgraded answers checks and writes nothing until the
// stream shows the upgrade.

// noteSchema takes in the schema the change stream (or a reload) shows.
func (s *Store) noteSchema(v []byte) {
	switch sv := string(v); {
	case v == nil:
	case sv == Schema:
		if s.gate.behind.Swap(nil) != nil { // upgraded: changes go on
			s.feed.resync() // every console reads again, and finds it can write
		}
	case older(sv):
		// A database restored from an older copy under a running store:
		// its records are ones this version reads; its changes are refused
		// until it is upgraded again (commitRule's check).
	default:
		if s.gate.newer.Swap(&sv) == nil {
			s.gate.shut.Or(gateNewer)
			s.feed.resync() // every console reads again, and finds it cannot write
		}
	}
}

// Outdated says, once the database has moved to a schema past this
// build's, that this store answers no check and makes no change; nil until
// then. It matches ErrNewerSchema.
func (s *Store) Outdated() error {
	v := s.gate.newer.Load()
	if v == nil {
		return nil
	}
	return fmt.Errorf("%s: %w: it was upgraded to schema %q, and this apiscopes knows %q: it answers no check and "+
		"makes no change until it is upgraded", s.name, ErrNewerSchema, *v, Schema)
}

// Behind says, while a store opened with WaitForUpgrade waits for its
// database to be upgraded, that it makes no change; nil otherwise. It
// matches ErrUpgradePending.
func (s *Store) Behind() error {
	v := s.gate.behind.Load()
	if v == nil {
		return nil
	}
	return s.schemaError([]byte(*v))
}

// writable reports whether the database's schema is the one this store
// writes: not while it waits for an upgrade, nor once the database moved
// past it. Last-used times and housekeeping wait meanwhile (they would
// be refused); the times are kept in memory.
func (s *Store) writable() bool { return s.gate.behind.Load() == nil && s.gate.newer.Load() == nil }
