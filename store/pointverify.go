package store

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"apiscopes/scopes"
)

// VerifySnapshot decides whether key may use scope at now, by the rules of
// Verify (which both follow: see verify.go), from one snapshot of a
// database no index was loaded for: it reads the key's digest entry, its
// record and its app's record, and nothing else, so its cost does not grow
// with the number of keys. It reads schema 1 and 2 databases as well as
// schema 3, without migrating them, and notes no use (it writes nothing).
//
// An unknown scope or a key that fails CheckKey is refused before anything
// is read: snap may then be nil. A database that is empty, newer or not an
// apiscopes database, and a record that does not decode, are errors.
// client is the address the key is used from (the zero Addr: unknown), as
// for Verify.
func VerifySnapshot(snap Snapshot, key string, scope scopes.ID, client netip.Addr, now time.Time) (Decision, error) {
	var d Decision
	if admit(&d, len(key), scope) < 0 {
		return d, nil
	}
	// The second step of the rules says why a key not found is refused; a
	// key that fails CheckKey was never issued, so it is refused for its
	// typo before anything is read, as the index would after its lookup.
	if r := unknownReason(key); r != UnknownKey {
		d.Reason = r
		return d, nil
	}
	return VerifySnapshotDigest(snap, keyDigest(key), scope, client, now)
}

// VerifySnapshotDigest is VerifySnapshot for a key known by its digest
// alone (KeyDigest), whose form and checksum the caller has checked: a
// command asks the process holding a file this way, so the key's text
// never crosses the socket.
func VerifySnapshotDigest(snap Snapshot, digest [32]byte, scope scopes.ID, client netip.Addr, now time.Time) (Decision, error) {
	var d Decision
	si := admit(&d, KeyLen, scope) // a digest is of a key whose form the caller checked
	if si < 0 {
		return d, nil
	}
	schema, err := snap.Get(TableMeta, metaSchema)
	if err != nil {
		return d, err
	}
	at, err := snap.Get(TableDigests, digest[:])
	if err != nil {
		return d, err
	}
	switch v := string(schema); {
	case v == Schema, v == SchemaV3, v == SchemaV2: // one layout of keys
		if at != nil && len(at) != 16 {
			return d, fmt.Errorf("%w: the digest index entry of the key is not an app and key id", ErrDamaged)
		}
	case v == SchemaV1:
		if at != nil && len(at) != 8 {
			return d, fmt.Errorf("%w: the digest index entry of the key is not a key id", ErrDamaged)
		}
	case schema == nil:
		return d, fmt.Errorf("%w: the file holds no data at all; %s", ErrNotDatabase, HollowAdvice)
	case strings.HasPrefix(v, "apiscopes/"):
		return d, fmt.Errorf("%w (schema %q; this apiscopes knows %q): upgrade apiscopes to use it", ErrNewerSchema, v, Schema)
	default:
		return d, fmt.Errorf("%w (schema %q)", ErrNotDatabase, v)
	}
	if at == nil {
		d.Reason = UnknownKey
		return d, nil
	}
	raw, err := snap.Get(TableKeys, at)
	if err != nil {
		return d, err
	}
	if raw == nil { // left by an app's deletion, to be swept: never a key
		d.Reason = UnknownKey
		return d, nil
	}
	var rec keyRecord
	if err := decode(raw, &rec); err != nil {
		return d, errors.Join(ErrDamaged, err)
	}
	if !bytes.Equal(rec.Digest, digest[:]) || len(at) == 16 && btoi(at[:8]) != rec.AppID {
		return d, fmt.Errorf("%w: the digest index points at key %d, which is another key", ErrDamaged, rec.ID)
	}
	rawApp, err := snap.Get(TableApps, itob(rec.AppID))
	if err != nil {
		return d, err
	}
	if rawApp == nil {
		d.Reason = UnknownKey
		return d, nil
	}
	var app appRecord
	if err := decode(rawApp, &app); err != nil {
		return d, errors.Join(ErrDamaged, err)
	}
	k, a := rec.key(), app.app()
	judge(&d, &found{app: &a, key: &k, state: k.State(now), inList: k.Allows(client), granted: a.Scopes.HasIndex(si)}, client)
	return d, nil
}
