package store

import (
	bolt "go.etcd.io/bbolt"
)

// FirstApps returns at most n apps from the start of the list order (the
// order of Apps: by name, case-insensitively). It reads only those apps, so
// a screen can show its first page at once however many apps there are,
// and load the rest in the background.
func (s *Store) FirstApps(n int) ([]App, error) {
	var out []App
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNames).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			rec, err := getApp(tx, btoi(v))
			if err != nil {
				return err
			}
			app, err := rec.app()
			if err != nil {
				return err
			}
			out = append(out, app)
		}
		return nil
	})
	return out, err
}
