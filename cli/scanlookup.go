package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

// keyLookup returns how scan says what a found key is in the database:
// live (with its app and scopes), expired, or unknown. A lookup is never
// noted as a use: a cluster is read for the one key; a file is read for it
// too, or, while a console or serve holds it, that process looks the key
// up without noting it. Where the database cannot be read, every key says
// why, and is reported all the same.
func keyLookup(db database) (look func(key string) string, done func()) {
	if db.cluster() {
		eng, err := etcd.Open(db.config(-1))
		if err != nil {
			why := "not looked up: " + cleanText(err.Error())
			return func(string) string { return why }, func() {}
		}
		return cached(func(key string) (store.Decision, error) {
			var d store.Decision
			err := eng.Read(context.Background(), func(snap store.Snapshot) (err error) {
				d, err = store.VerifySnapshot(snap, key, anyScope, netip.Addr{}, time.Now())
				return err
			})
			return d, err
		}), func() { eng.Close() }
	}
	path, err := dbPath(db.path)
	if err != nil {
		return func(string) string { return "not looked up: no database" }, func() {}
	}
	return cached(func(key string) (d store.Decision, err error) {
		err = local.Reach(path, func(c *local.Conn) (err error) {
			d, err = c.Lookup(key, anyScope)
			return err
		}, func() (err error) {
			d, err = bolt.VerifyFile(path, key, anyScope, netip.Addr{}, time.Now())
			return err
		})
		switch {
		case errors.Is(err, fs.ErrNotExist):
			err = fmt.Errorf("no database at %s", path)
		case errors.Is(err, store.ErrLocked):
			err = errors.New("the database is in use")
		}
		return d, err
	}), func() {}
}

// anyScope is what a lookup asks about: any scope tells a live key (allowed
// or not granted) from an expired or unknown one.
var anyScope = scopes.All()[0].ID

// maxLookedUp bounds the keys cached keeps the description of: a scan's
// memory does not grow with the keys it finds.
const maxLookedUp = 4096

// cached turns a lookup into a description, once per key (of the last
// few thousand).
func cached(lookup func(key string) (store.Decision, error)) func(string) string {
	seen := map[string]string{}
	return func(key string) string {
		if s, ok := seen[key]; ok {
			return s
		}
		d, err := lookup(key)
		s := describeFound(d)
		if err != nil {
			s = "not looked up: " + cleanText(err.Error())
		}
		if len(seen) >= maxLookedUp {
			clear(seen) // a tree full of keys: look them up again rather than hold them all
		}
		seen[key] = s
		return s
	}
}

// describeFound says what a found key is, from a decision on any scope.
func describeFound(d store.Decision) string {
	app := d.App()
	switch d.Reason {
	case store.Allowed, store.ScopeNotGranted:
		return fmt.Sprintf("LIVE: app %q, scopes %s", cleanText(app.Name), strings.Join(app.Scopes.Strings(), ","))
	case store.AddressNotAllowed, store.AddressUnknown: // a lookup names no address: the key has a list
		return fmt.Sprintf("LIVE: app %q, scopes %s, from %s only", cleanText(app.Name), strings.Join(app.Scopes.Strings(), ","),
			strings.Join(store.FormatAllowFrom(d.Key().AllowFrom), ","))
	case store.Expired:
		return fmt.Sprintf("expired: app %q", cleanText(app.Name))
	}
	return "unknown in this database"
}
