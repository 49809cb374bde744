package store

// What a running server reports about its store, for readiness probes and
// metrics: cheap reads of memory, never of the file.

// IsOpen reports whether the store is open: false from the moment Close
// begins, when its answers may no longer follow the file.
func (s *Store) IsOpen() bool {
	select {
	case <-s.stop:
		return false
	default:
		return true
	}
}

// Size is how many apps and keys the store holds, from its in-memory index.
func (s *Store) Size() (apps, keys int) { return s.ix.counts() }

// WriteErrors is how many writes the file system refused (a full or
// read-only disk) since the store was opened.
func (s *Store) WriteErrors() uint64 { return s.writeErrors.Load() }
