package store

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// ErrStop ends EachEvent early without an error.
var ErrStop = errors.New("stop")

// EachEvent calls fn for every audit event, newest first, decoding one at a
// time: printing or exporting a long trail needs no memory for all of it.
// fn returning ErrStop ends the walk with a nil error; any other error ends
// it with that error. fn runs inside a read transaction: it must not call
// back into the store to write.
func (s *Store) EachEvent(fn func(Event) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var ev Event
			if err := decode(v, &ev); err != nil {
				return err
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}
