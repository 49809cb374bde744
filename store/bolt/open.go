package bolt

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"apiscopes/store"
)

// OpenStore opens the database file at path as a store: the engine with o,
// then the domain on it with opts. A writer that finds a file of an older
// schema keeps a checked copy beside it (PATH.schema1-TIME.bak for schema
// 1, and so on: KeepCopy) before it migrates the file.
func OpenStore(path string, o Options, opts ...store.Option) (*store.Store, error) {
	e, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	opts = append([]store.Option{store.WithName(path), store.WithMigrationBackup(e.KeepCopy)}, opts...)
	return store.New(e, opts...)
}

// KeepCopy writes a checked copy of the file beside it before the file is
// changed in a way older versions cannot read, named after the schema it
// holds: PATH.schema2-20261130T090000Z.bak. It is a store's migration
// backup (store.WithMigrationBackup).
func (e *Engine) KeepCopy() (string, error) {
	tag := "schema"
	err := e.view(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket([]byte(store.TableMeta)); meta != nil {
			v := string(meta.Get([]byte("schema")))
			if n, ok := strings.CutPrefix(v, "apiscopes/"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
				tag += n
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return e.keepCopy(tag)
}

// keepCopy writes a checked copy of the file beside it, tagged.
func (e *Engine) keepCopy(tag string) (string, error) {
	path := fmt.Sprintf("%s.%s-%s.bak", e.path, tag, time.Now().UTC().Format("20060102T150405Z"))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := e.WriteBackup(f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	c, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("the copy failed its check: %w", err)
	}
	c.Close()
	return path, nil
}

// DefaultPath is where the console keeps its database when --db is not
// given: $XDG_DATA_HOME/apiscopes/apiscopes.db, else under ~/.local/share.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the default database: %w; pass --db PATH", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "apiscopes", "apiscopes.db"), nil
}
