package store

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The check of the state hash: the apps and keys as read, hashed from
// scratch, must be the state the audit head commits to (the state its
// newest event's change produced), and the lanes kept with the head must
// be what the head's digest says. A record changed, inserted or deleted
// behind the store's back fails it; the trail's marks then name the
// record.

// stateHash checks the state hash of a schema 3 snapshot; c.state holds
// the hash of the records the apps and keys steps read.
func (c *checker) stateHash() error {
	schema, err := c.snap.Get(TableMeta, metaSchema)
	if err != nil || !keepsState(string(schema)) {
		return err // schema 2, read as it is: no state hash kept yet
	}
	var head auditHead
	if v, err := c.snap.Get(TableMeta, metaAuditHead); err != nil {
		return err
	} else if v != nil && decode(v, &head) != nil {
		return nil // reported by the audit step
	}
	if derived, seq, err := deriveState(c.snap); err != nil {
		if err := c.addf("the state hash kept with the audit head: %v", err); err != nil {
			return err
		}
	} else if seq != head.Seq || derived.Sum() != head.state() {
		if err := c.addf("the state hash kept with the audit head (its checkpoint and the events since) is not the " +
			"one the head commits to: one of them was changed behind the store's back"); err != nil {
			return err
		}
	}
	if raw, err := c.snap.Get(TableMeta, metaState); err != nil {
		return err
	} else if cp, seq, err := parseCheckpoint(raw); err == nil && seq > 0 {
		var at Event
		if v, err := c.snap.Get(TableAudit, itob(seq)); err != nil {
			return err
		} else if v != nil && decode(v, &at) == nil && at.State != "" && at.State != cp.Sum() {
			if err := c.addf("the state hash's checkpoint at event %d is not the state that event committed to: "+
				"it was changed behind the store's back", seq); err != nil {
				return err
			}
		}
	}
	var newest Event
	err = c.snap.Scan(TableAudit, nil, ScanOptions{Reverse: true}, func(_, v []byte) error {
		decode(v, &newest) // one that does not decode is reported by the audit step
		return ErrStop
	})
	if err != nil {
		return err
	}
	if newest.Seq == head.Seq && newest.State != "" && newest.State != head.state() {
		if err := c.addf("the audit head's state is not the one event %d committed to: the head was changed "+
			"behind the store's back", head.Seq); err != nil {
			return err
		}
	}
	if c.state.Sum() == head.state() {
		return nil
	}
	named, complete, err := c.nameStrays()
	if err != nil || named > 0 {
		return err
	}
	why := "changed again since by an audited change"
	if !complete {
		why = "changed again since, or older than the upgrade to schema 3"
	}
	return c.addf("the apps and keys are not the state the audit trail commits to at event %d: a record was "+
		"changed, inserted or deleted without an audit event, and the trail cannot name it (%s): "+
		"compare with a backup", head.Seq, why)
}

// trailMark is what the trail last said of a record: the mark's digest
// ("-" if removed) and the event that said it.
type trailMark struct {
	digest string
	seq    uint64
}

// nameStrays names each record that is not as the trail's marks last left
// it: changed, inserted or deleted without an event. It returns how many
// it named, and whether the trail marks every record it ever wrote (a
// database made at schema 3, not upgraded to it).
func (c *checker) nameStrays() (named int, complete bool, err error) {
	marks := map[string]trailMark{}
	appKeys := map[uint64][]string{} // the keys' places the trail marked, by app
	ids := map[string]bool{}         // "app 3", "key 17": every app and key an event names
	first := true
	err = c.snap.Scan(TableAudit, nil, ScanOptions{}, func(_, v []byte) error {
		var ev Event
		if decode(v, &ev) != nil {
			return nil // reported by the audit step
		}
		if first {
			complete, first = ev.State != "", false
		}
		ids["app "+strconv.FormatUint(ev.AppID, 10)] = true
		for _, k := range []uint64{ev.KeyID, ev.NewKeyID} {
			ids["key "+strconv.FormatUint(k, 10)] = true
		}
		if ev.Approval != 0 {
			ids["approval "+strconv.FormatUint(ev.Approval, 10)] = true
		}
		if ev.PolicyAfter != nil {
			ids["policy"] = true
		}
		for _, m := range ev.Records {
			place, now, _, err := parseMark(m)
			if err != nil {
				continue // the derivation of the state hash reported it
			}
			digest := digestText(now)
			marks[place] = trailMark{digest, ev.Seq}
			appID, _, isKey := keyPlace(place)
			switch {
			case isKey:
				appKeys[appID] = append(appKeys[appID], place)
			case digest == "-": // an app removed with its keys
				id, _ := strconv.ParseUint(strings.TrimPrefix(place, "app "), 10, 64)
				for _, k := range appKeys[id] {
					marks[k] = trailMark{"-", ev.Seq}
				}
				delete(appKeys, id)
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	live := map[string]bool{}
	for _, t := range append(stateTables, TableMeta) {
		err := c.snap.Scan(t, nil, ScanOptions{}, func(k, v []byte) error {
			if t == TableMeta && !bytes.Equal(k, metaPolicy) {
				return nil // of the meta table, the state covers the policy alone
			}
			place, d := statePlace(t, k), recordDigest(t, k, v)
			digest := digestText(&d)
			live[place] = true
			m, ok := marks[place]
			var problem string
			switch {
			case ok && m.digest == digest:
				return nil
			case ok && m.digest == "-":
				problem = fmt.Sprintf("was put back without an audit event after event %d removed it", m.seq)
			case ok:
				problem = fmt.Sprintf("was changed without an audit event: it is not the record event %d wrote", m.seq)
			case !ids[idOf(place)]:
				problem = "was inserted without an audit event: no event made it"
			case complete:
				problem = "was changed or inserted without an audit event: no event wrote it"
			default:
				return nil // older than the upgrade to schema 3: the trail does not name it
			}
			named++
			return c.addf("%s %s", describePlace(place), problem)
		})
		if err != nil {
			return named, complete, err
		}
	}
	var gone []string
	for place, m := range marks {
		if m.digest != "-" && !live[place] {
			gone = append(gone, place)
		}
	}
	slices.SortFunc(gone, func(a, b string) int { return cmp.Or(cmp.Compare(marks[a].seq, marks[b].seq), strings.Compare(a, b)) })
	for _, place := range gone {
		named++
		if err := c.addf("%s was deleted without an audit event (event %d wrote it)", describePlace(place), marks[place].seq); err != nil {
			return named, complete, err
		}
	}
	return named, complete, nil
}

// keyPlace reads a key's place, "key 3/17".
func keyPlace(place string) (appID, keyID uint64, ok bool) {
	rest, ok := strings.CutPrefix(place, "key ")
	if !ok {
		return 0, 0, false
	}
	a, k, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	var err1, err2 error
	appID, err1 = strconv.ParseUint(a, 10, 64)
	keyID, err2 = strconv.ParseUint(k, 10, 64)
	return appID, keyID, err1 == nil && err2 == nil
}

// idOf is how events name a place's record: "app 3", or "key 17".
func idOf(place string) string {
	if _, keyID, ok := keyPlace(place); ok {
		return "key " + strconv.FormatUint(keyID, 10)
	}
	return place
}

// describePlace is a place as a problem names it: "app 3", "key 17 of app 3".
func describePlace(place string) string {
	if appID, keyID, ok := keyPlace(place); ok {
		return fmt.Sprintf("key %d of app %d", keyID, appID)
	}
	return place
}
