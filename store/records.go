package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"apiscopes/scopes"
)

// App is an API app as the console lists it.
type App struct {
	ID        uint64
	Name      string
	Scopes    scopes.Set
	CreatedBy string
	CreatedAt time.Time
	UpdatedBy string
	UpdatedAt time.Time
	Revision  uint64 // bumped by every change to the app or its keys
	Keys      int    // how many API keys the app has
}

// Key is a stored API key: everything but its text, which is never kept.
type Key struct {
	ID        uint64
	AppID     uint64
	Name      string
	Hint      string // "aps_…" and the key's last four characters
	CreatedBy string
	CreatedAt time.Time

	ExpiresAt  time.Time // when the key stops working; zero: never
	LastUsedAt time.Time // the last check that recognised the key; zero: never used
	DeleteAt   time.Time // when a rolled key is deleted; zero: not scheduled
}

// Expired reports whether the key has stopped working by its expiry at now.
func (k Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Deleting reports whether the key's scheduled deletion is due at now: from
// then on it is refused as if it were already deleted.
func (k Key) Deleting(now time.Time) bool { return !k.DeleteAt.IsZero() && !now.Before(k.DeleteAt) }

type appRecord struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  uint64    `json:"revision"`
	Keys      int       `json:"keys"`
}

type keyRecord struct {
	ID        uint64    `json:"id"`
	AppID     uint64    `json:"app_id"`
	Name      string    `json:"name"`
	Hint      string    `json:"hint"`
	Digest    []byte    `json:"sha256"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`

	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"` // written at most once a minute, see usage.go
	DeleteAt   time.Time `json:"delete_at,omitzero"`    // set by a roll
	DeleteBy   string    `json:"delete_by,omitempty"`   // who rolled it, for the deletion's audit record
}

func (r *appRecord) app() (App, error) {
	set, err := scopes.ParseSet(r.Scopes)
	if err != nil {
		return App{}, fmt.Errorf("app %d: %w", r.ID, err)
	}
	return App{ID: r.ID, Name: r.Name, Scopes: set, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt, Revision: r.Revision, Keys: r.Keys}, nil
}

func (r *keyRecord) key() Key {
	return Key{ID: r.ID, AppID: r.AppID, Name: r.Name, Hint: r.Hint, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		ExpiresAt: r.ExpiresAt, LastUsedAt: r.LastUsedAt, DeleteAt: r.DeleteAt}
}

// itob is the big-endian form of an id: bbolt keeps such keys in numeric order.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// appKey is the app_keys index entry: app id then key id.
func appKey(appID, keyID uint64) []byte { return append(itob(appID), itob(keyID)...) }

// decode unmarshals a record read inside a transaction (json copies the data
// out, so the record outlives the transaction).
func decode(v []byte, into any) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("damaged record: %w", err)
	}
	return nil
}

func put(b interface{ Put(k, v []byte) error }, k []byte, rec any) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}
