package storetest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"apiscopes/store"
)

// ResealBatch is what whoever can write the database can do after
// changing its records or trail behind the store's back, without the
// store's rules: compute the state hash of the apps and keys anew, make the
// newest event commit to it and mark every record as it now is, chain the
// trail anew from its first event, and write the head and a checkpoint of
// the state hash at it. The result passes
// Check; only a head saved elsewhere, or signed with a key kept elsewhere,
// tells it from the trail the store wrote. The batch writes the events
// whose bytes change, the head and the state's lanes.
func ResealBatch(snap store.Snapshot) (*store.Batch, error) {
	state, err := store.StateOf(snap)
	if err != nil {
		return nil, err
	}
	type stored struct {
		key, raw []byte
		ev       store.Event
	}
	var events []stored
	marks := map[string]string{} // place → the trail's last mark of it ("-": removed)
	err = snap.Scan(store.TableAudit, nil, store.ScanOptions{}, func(k, v []byte) error {
		var ev store.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return err
		}
		events = append(events, stored{bytes.Clone(k), bytes.Clone(v), ev})
		for _, m := range ev.Records {
			// "PLACE NOW WAS": the record's place, its digest now and before.
			f := strings.Fields(m)
			if len(f) < 3 {
				continue
			}
			place, digest := strings.Join(f[:len(f)-2], " "), f[len(f)-2]
			marks[place] = digest
			if id, ok := strings.CutPrefix(place, "app "); ok && digest == "-" {
				for p := range marks {
					if strings.HasPrefix(p, "key "+id+"/") {
						marks[p] = "-"
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b := &store.Batch{}
	var head struct {
		Seq   uint64 `json:"seq"`
		Hash  string `json:"hash"`
		State string `json:"state,omitempty"`
	}
	if len(events) > 0 {
		// The newest event marks every record as it is, and every record
		// the trail holds live that is gone.
		newest := &events[len(events)-1].ev
		newest.State, newest.Records = state.Sum(), nil
		live := map[string]bool{}
		for _, t := range []store.Table{store.TableApps, store.TableKeys, store.TableApprovals, store.TableMeta} {
			err := snap.Scan(t, nil, store.ScanOptions{}, func(k, v []byte) error {
				if t == store.TableMeta && string(k) != "policy" {
					return nil // of the meta table, the state covers the policy alone
				}
				m := store.RecordMark(t, k, v, nil)
				f := strings.Fields(m)
				live[strings.Join(f[:len(f)-2], " ")] = true
				newest.Records = append(newest.Records, m)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		for place, digest := range marks {
			if digest != "-" && !live[place] {
				newest.Records = append(newest.Records, place+" - -")
			}
		}
		for i := range events {
			ev := &events[i].ev
			ev.Hash = store.ChainHash(head.Hash, *ev)
			head.Seq, head.Hash = ev.Seq, ev.Hash
			raw, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(raw, events[i].raw) {
				b.Put(store.TableAudit, events[i].key, raw)
			}
		}
	}
	head.State = state.Sum()
	raw, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	b.Put(store.TableMeta, []byte("audit.head"), raw)
	// A checkpoint of the state hash at the head: the event's number, then
	// the lanes.
	b.Put(store.TableMeta, []byte("audit.state"), append(itob(head.Seq), state.Bytes()...))
	return b, nil
}

// Reseal commits ResealBatch through eng.
func Reseal(t testing.TB, eng store.Engine) {
	t.Helper()
	var b *store.Batch
	err := eng.Read(ctx, func(snap store.Snapshot) (err error) {
		b, err = ResealBatch(snap)
		return err
	})
	if err != nil {
		t.Fatalf("reseal: %v", err)
	}
	markForeign(eng)
	if _, err := eng.Commit(ctx, b); err != nil {
		t.Fatalf("reseal: %v", err)
	}
}
