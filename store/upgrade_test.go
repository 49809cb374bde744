package store

import (
	"bytes"
	"context"
	"testing"
	"time"

	"apiscopes/scopes"
)

// oldWriter is a writer of schema 2, as a replica not yet upgraded is: it
// creates an app and its audit event, with no state hash.
func oldWriter(t *testing.T, eng Engine, id uint64, name string) {
	t.Helper()
	var head auditHead
	err := eng.Read(context.Background(), func(snap Snapshot) error {
		v, err := snap.Get(TableMeta, metaAuditHead)
		if err != nil || v == nil {
			return err
		}
		return decode(v, &head)
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 9, 0, int(id), 0, time.UTC)
	rec := appRecord{ID: id, Name: name, Scopes: []string{string(scopes.ModelDeploy)}, CreatedBy: "old", CreatedAt: at,
		UpdatedBy: "old", UpdatedAt: at, Revision: 1}
	ev := Event{Seq: head.Seq + 1, At: at, Actor: "old", Role: Admin, Action: ActionAppCreate, AppID: id, AppName: name,
		ScopesAfter: rec.Scopes}
	ev.Hash = ChainHash(head.Hash, ev)
	b := &Batch{}
	b.Require(TableMeta, metaSchema, []byte(SchemaV2))
	b.Put(TableApps, itob(id), encode(rec))
	b.Put(TableNames, []byte(FoldName(name)), itob(id))
	b.Put(TableMeta, metaAppSeq, itob(id))
	b.Put(TableAudit, itob(ev.Seq), encode(ev))
	b.Put(TableMeta, metaAuditHead, encode(auditHead{Seq: ev.Seq, Hash: ev.Hash}))
	if head.Seq == 0 {
		b.Put(TableMeta, metaSchema, []byte(SchemaV2))
		b.Conds = nil
	}
	if _, err := eng.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// overtaken is an engine on which a writer of the old schema commits a
// change just before the first upgrade to this schema does.
type overtaken struct {
	Engine
	t    *testing.T
	done bool
}

func (o *overtaken) Commit(ctx context.Context, b *Batch) (uint64, error) {
	for _, op := range b.Ops {
		if !o.done && op.Kind == OpPut && op.Table == TableMeta && bytes.Equal(op.Key, metaSchema) && string(op.Value) == Schema {
			o.done = true
			oldWriter(o.t, o.Engine, 2, "Overtaking")
		}
	}
	return o.Engine.Commit(ctx, b)
}

// An upgrade that a writer of the old schema overtakes (another replica,
// not yet upgraded, making a change meanwhile) is made again on what that
// writer left, whose app is then in the state hash.
func TestUpgradeOvertakenByAnOldWriter(t *testing.T) {
	mem := NewMemory()
	oldWriter(t, mem, 1, "First")
	eng := &overtaken{Engine: mem, t: t}
	st, err := New(eng, WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !eng.done {
		t.Fatal("the old writer did not overtake the upgrade")
	}
	head, err := st.VerifyAudit(t.Context())
	if err != nil || head.Seq != 2 || head.State == "" {
		t.Fatalf("head %+v, %v", head, err)
	}
	if err := st.CheckRecords(t.Context()); err != nil {
		t.Fatalf("the upgrade left out the old writer's app: %v", err)
	}
	if apps, _ := st.Apps(t.Context()); len(apps) != 2 {
		t.Errorf("%d apps", len(apps))
	}
}
