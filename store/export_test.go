package store

// CheckOnOpen is the check a store makes as it opens: CheckRecords without
// the state hash and the signed heads, for benchmarks of what they add.
func (s *Store) CheckOnOpen() error {
	return s.eng.Read(ctxBG, func(snap Snapshot) error { return checkSnapshot(s.name, snap) })
}
