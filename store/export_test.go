package store

import "context"

// CheckOnOpen is the check a store makes as it opens: CheckRecords without
// the state hash and the signed heads, for benchmarks of what they add.
func (s *Store) CheckOnOpen(ctx context.Context) error {
	return s.eng.Read(ctx, func(snap Snapshot) error { return checkSnapshot(s.name, snap) })
}
