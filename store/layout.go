package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"apiscopes/scopes"
)

// The records of schema version 4, as every engine stores them. The layout
// is part of the file format: change it only with a new schema version and
// a migration (see migrate.go).

// Meta keys.
var (
	metaSchema     = []byte("schema")        // Schema
	metaAppSeq     = []byte("seq.apps")      // the last app id handed out
	metaKeySeq     = []byte("seq.keys")      // the last key id handed out
	metaAuditHead  = []byte("audit.head")    // the last audit event: auditHead
	metaState      = []byte("audit.state")   // a checkpoint of the state hash: an event number and the lanes then (statekeep.go)
	metaUsageSince = []byte("usage.since")   // when this database began noting key use (RFC 3339)
	metaPolicy     = []byte("policy")        // the key policy (policy.go); absent: none
	metaApprSeq    = []byte("seq.approvals") // the last approval request id handed out
)

// Schema versions. Version 1 kept a key under its own id with separate
// app-key and digest indexes; version 2 keeps an app's keys under the app's
// id, so an app and all its keys go in one range removal; version 3 keeps
// the same records and a state hash of them with the audit head, which
// every change keeps up to date (an older apiscopes writing would not);
// version 4 adds the key policy, approval requests and keys' address
// lists, which an older apiscopes would ignore: it must neither write nor
// answer checks from such a database.
const (
	SchemaV1 = "apiscopes/1"
	SchemaV2 = "apiscopes/2"
	SchemaV3 = "apiscopes/3"
	SchemaV4 = "apiscopes/4"
	// Schema is the version this apiscopes writes.
	Schema = SchemaV4
)

// App is an API app as the console lists it.
type App struct {
	ID        uint64
	Name      string
	Scopes    scopes.Set
	Retired   []string // scope ids the app holds that this apiscopes does not know: never granted, kept
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

	// AllowFrom is where the key may be used from: a check from any other
	// address is refused (allowfrom.go). Empty: from anywhere.
	AllowFrom []netip.Prefix
}

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

	ExpiresAt time.Time `json:"expires_at,omitzero"`
	DeleteAt  time.Time `json:"delete_at,omitzero"`  // set by a roll
	DeleteBy  string    `json:"delete_by,omitempty"` // who rolled it, for the deletion's audit record

	LastUsedAt time.Time `json:"last_used_at,omitzero"` // schema 1 only: version 2 keeps use in TableUsage

	AllowFrom []string `json:"allow_from,omitempty"` // schema 4: networks in canonical form (allowfrom.go)
}

// auditHead is the newest audit event: every audited change compares and
// swaps it, which keeps the sequence gapless whichever process writes.
type auditHead struct {
	Seq   uint64 `json:"seq"`
	Hash  string `json:"hash"`            // the newest event's Hash; "" before the first
	State string `json:"state,omitempty"` // the state hash's digest now; "" for no records (or schema 2)
}

// state is the digest of the state the head commits to.
func (h *auditHead) state() string {
	if h.State == "" {
		return emptyState
	}
	return h.State
}

// app converts a record; scope ids this build does not know are kept aside
// as retired rather than refused.
func (r *appRecord) app() App {
	set, retired := scopes.ParseSetLenient(r.Scopes)
	return App{ID: r.ID, Name: r.Name, Scopes: set, Retired: retired, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt, Revision: r.Revision, Keys: r.Keys}
}

func (r *keyRecord) key() Key {
	return Key{ID: r.ID, AppID: r.AppID, Name: r.Name, Hint: r.Hint, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		ExpiresAt: r.ExpiresAt, DeleteAt: r.DeleteAt, AllowFrom: readAllowFrom(r.AllowFrom)}
}

// itob is the big-endian form of an id: bytewise order is numeric order.
func itob(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// keyUseKey is where a key's last use is kept in TableUsage.
func keyUseKey(keyID uint64) []byte { return append([]byte{'k'}, itob(keyID)...) }

// scopeUsePrefix is where the use of an app's scopes is kept in TableUsage,
// one entry per scope id after it.
func scopeUsePrefix(appID uint64) []byte { return append([]byte{'s'}, itob(appID)...) }

// keyKey is where a key lives: its app's id, then its own.
func keyKey(appID, keyID uint64) []byte { return append(itob(appID), itob(keyID)...) }

// decode unmarshals a record (json copies the data out, so the record
// outlives the snapshot it came from).
// errDamagedRecord is a record that does not decode.
var errDamagedRecord = errors.New("damaged record")

func decode(v []byte, into any) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("%w: %w", errDamagedRecord, err)
	}
	return nil
}

// encode marshals a record; the records' types always marshal.
func encode(rec any) []byte {
	v, err := json.Marshal(rec)
	if err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", rec, err))
	}
	return v
}
