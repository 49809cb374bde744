package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The audit trail is a hash chain. Each event's Hash is
//
//	hex(SHA-256(prev ‖ Canonical(event)))
//
// where prev is the previous event's hash as 32 raw bytes (32 zero bytes
// before the first event), so altering, removing or inserting an event
// breaks the chain from that event on. The head (the newest event's seq and
// hash) is kept beside the trail, compared and swapped by every audited
// change, and printed by `apiscopes check` and `apiscopes audit --verify`
// so a copy kept elsewhere can anchor it.
//
// Canonical(event) is engine-independent and simple to reproduce from the
// JSON that `apiscopes audit --json` prints: for each field in the order of
// that JSON, leaving out "hash" and every field that is empty (zero, "",
// false, a zero time, an empty list), the line
//
//	NAME SP LENGTH SP VALUE LF
//
// where NAME is the JSON member name, VALUE is the value's text and LENGTH
// its length in bytes, in decimal. Numbers are decimal, true is "true",
// times are RFC 3339 in UTC with nanoseconds and no trailing zeros (Go's
// time.RFC3339Nano), lists are their items joined by ",", and an object
// (such as "session") is its compact JSON as audit --json prints it, its
// members in that order. Leaving out
// empty fields keeps old events' encodings unchanged when a field is added.
//
// What the chain proves: that the trail is the one its head describes;
// and, since each event from schema 3 on commits to the state its change
// left (statehash.go), that the apps and keys are the ones the trail
// produced. What it cannot prove: whoever can write the database can
// rewrite records, trail and head together. A head saved elsewhere catches
// that (VerifyAuditExtends), and so does one signed with a key kept
// elsewhere (signhead.go).

// Canonical is the encoding of an event that its hash covers.
func Canonical(ev Event) []byte {
	var b []byte
	v := reflect.ValueOf(ev)
	for _, f := range eventFields {
		text, ok := canonicalValue(v.Field(f.index))
		if !ok {
			continue
		}
		b = append(b, f.name...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(text)), 10)
		b = append(b, ' ')
		b = append(b, text...)
		b = append(b, '\n')
	}
	return b
}

// ChainHash is the hash of ev following an event whose hash is prev (hex;
// "" for the first event).
func ChainHash(prev string, ev Event) string {
	var p [sha256.Size]byte
	if prev != "" {
		hex.Decode(p[:], []byte(prev))
	}
	h := sha256.New()
	h.Write(p[:])
	h.Write(Canonical(ev))
	return hex.EncodeToString(h.Sum(nil))
}

type eventField struct {
	index int
	name  string
}

// eventFields are Event's fields in declaration (and JSON) order, but Hash.
var eventFields = func() []eventField {
	var out []eventField
	t := reflect.TypeOf(Event{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "hash" {
			continue
		}
		out = append(out, eventField{i, name})
	}
	return out
}()

func canonicalValue(v reflect.Value) (string, bool) {
	if t, ok := v.Interface().(time.Time); ok {
		if t.IsZero() {
			return "", false
		}
		return t.UTC().Format(time.RFC3339Nano), true
	}
	if v.IsZero() {
		return "", false
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true
	case reflect.Bool:
		return "true", true
	case reflect.Pointer, reflect.Struct:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // as audit --json writes it
		if err := enc.Encode(v.Interface()); err != nil {
			panic(fmt.Sprintf("store: no canonical form for %s: %v", v.Type(), err))
		}
		return strings.TrimSuffix(b.String(), "\n"), true
	case reflect.Slice:
		if v.Len() == 0 {
			return "", false
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ","), true
	}
	panic(fmt.Sprintf("store: no canonical form for %s", v.Type()))
}

// AuditHead is the newest audit event's number and hash: what a copy of
// the trail kept elsewhere is compared with. State is the digest of the
// state hash the head commits to ("" before schema 3); the event's hash
// covers it.
type AuditHead struct {
	Seq   uint64
	Hash  string
	State string
}

// String is the head as `apiscopes audit --verify` prints it, and as
// ParseAuditHead reads it back: "event 4211, sha256 3d5c…" (64 hex
// digits), or "empty".
func (h AuditHead) String() string {
	if h.Seq == 0 {
		return "empty"
	}
	return fmt.Sprintf("event %d, sha256 %s", h.Seq, h.Hash)
}

// Head reads the audit head as it is kept, without walking the trail: for
// a metric or a log line. VerifyAudit proves it.
func (s *Store) Head(ctx context.Context) (AuditHead, error) {
	var head auditHead
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		v, err := snap.Get(TableMeta, metaAuditHead)
		if err != nil || v == nil {
			return err
		}
		return decode(v, &head)
	})
	return head.public(), err
}

// public is the head as callers see it.
func (h auditHead) public() AuditHead { return AuditHead(h) }

// ChainError names the first audit event at which the chain breaks. It
// matches ErrDamaged.
type ChainError struct {
	Seq    uint64 // the event whose hash does not follow
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("the audit trail was tampered with at event %d: %s", e.Seq, e.Reason)
}

func (e *ChainError) Is(target error) bool { return target == ErrDamaged }

// VerifyAudit walks the whole audit trail from the first event, checking
// every event's hash against its predecessor's and the head against the
// newest event. It returns the head, and a *ChainError naming the first
// event altered, removed or inserted.
func (s *Store) VerifyAudit(ctx context.Context) (AuditHead, error) {
	var head AuditHead
	var err error
	readErr := s.eng.Read(ctx, func(snap Snapshot) error {
		head, err = verifyChain(snap)
		return nil
	})
	if readErr != nil {
		return head, readErr
	}
	return head, err
}

// verifyChain checks the chain of a snapshot's audit trail.
func verifyChain(snap Snapshot) (AuditHead, error) {
	var stored auditHead
	v, err := snap.Get(TableMeta, metaAuditHead)
	if err != nil {
		return AuditHead{}, err
	}
	if v != nil {
		if err := decode(v, &stored); err != nil {
			return AuditHead{}, err
		}
	}
	head := stored.public()
	var prev string
	var want uint64 = 1
	var broken error
	err = snap.Scan(TableAudit, nil, ScanOptions{}, func(k, v []byte) error {
		var ev Event
		if err := decode(v, &ev); err != nil {
			broken = &ChainError{Seq: want, Reason: "its record cannot be read"}
			return ErrStop
		}
		switch {
		case len(k) != 8 || btoi(k) != want || ev.Seq != want:
			broken = &ChainError{Seq: want, Reason: fmt.Sprintf("the trail goes on with event %d: events were removed or renumbered", ev.Seq)}
		case ev.Hash != ChainHash(prev, ev):
			broken = &ChainError{Seq: want, Reason: "its hash does not follow from its content and the event before: it was altered, or an event before it was removed or inserted"}
		}
		if broken != nil {
			return ErrStop
		}
		prev = ev.Hash
		want++
		return nil
	})
	if err != nil {
		return head, err
	}
	if broken != nil {
		return head, broken
	}
	if last := want - 1; last != stored.Seq || prev != stored.Hash {
		return head, &ChainError{Seq: last + 1, Reason: fmt.Sprintf("the trail ends at event %d but its head says event %d: events were removed from the end, or the head was changed", last, stored.Seq)}
	}
	return head, nil
}
