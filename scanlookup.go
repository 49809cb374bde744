package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// keyLookup returns how scan says what a found key is in the database.
// Where the database cannot be read (there is none, or another process
// holds it) every key says why, and is reported all the same. Looking up is
// read-only and not noted as a use.
func keyLookup(db string) (look func(key string) string, done func()) {
	path, err := dbPath(db)
	if err != nil {
		return func(string) string { return "not looked up: no database" }, func() {}
	}
	st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		why := "not looked up: " + cleanText(err.Error())
		if errors.Is(err, fs.ErrNotExist) {
			why = "not looked up: no database at " + cleanText(path)
		} else if errors.Is(err, store.ErrLocked) {
			why = "not looked up: the database is in use"
		}
		return func(string) string { return why }, func() {}
	}
	statuses := map[string]string{}
	return func(key string) string {
		if s, ok := statuses[key]; ok {
			return s
		}
		d, _ := st.Verify(key, scopes.All()[0].ID)
		s := describeFound(d)
		statuses[key] = s
		return s
	}, func() { st.Close() }
}

// describeFound says what a found key is, from a decision on any scope.
func describeFound(d store.Decision) string {
	switch d.Reason {
	case store.Allowed, store.ScopeNotGranted:
		return fmt.Sprintf("LIVE: app %q, scopes %s", cleanText(d.App.Name), strings.Join(d.App.Scopes.Strings(), ","))
	case store.Expired:
		return fmt.Sprintf("expired: app %q", cleanText(d.App.Name))
	}
	return "unknown in this database"
}
