package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// allScopes is every scope and one that does not exist.
func allScopes() []scopes.ID {
	ids := []scopes.ID{"model:delete"}
	for _, s := range scopes.All() {
		ids = append(ids, s.ID)
	}
	return ids
}

// t0 is when the point lookup's test databases are made.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// seeded makes a database at path (created) with one app holding
// model:deploy and one key, closes it, and returns the key.
func seeded(t testing.TB, path string) string {
	t.Helper()
	st, err := OpenStore(path, Options{}, store.WithClock(func() time.Time { return t0 }),
		store.WithRandom(rand.NewChaCha8([32]byte{7})), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApp(context.Background(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.CreateKey(context.Background(), admin, app.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestPointLookupAgreesWithVerify: for keys in every state of their life
// and every scope, the point lookup in a closed file decides exactly as
// Store.Verify did on the open store at the same moment.
func TestPointLookupAgreesWithVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	clock := &testClock{t: t0}
	st, err := OpenStore(path, Options{}, store.WithClock(clock.now),
		store.WithRandom(rand.NewChaCha8([32]byte{3})), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	risk, err := st.CreateApp(t.Context(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	support, err := st.CreateApp(t.Context(), admin, "Customer Support", scopes.NewSet(scopes.GuardrailDeploy))
	if err != nil {
		t.Fatal(err)
	}
	sandbox, err := st.CreateApp(t.Context(), admin, "Sandbox", scopes.Full())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	key := func(app store.App, name string, o store.KeyOptions) store.Key {
		t.Helper()
		text, k, err := st.CreateKeyWith(t.Context(), admin, app.ID, name, o)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, text)
		return k
	}
	key(risk, "prod", store.KeyOptions{})
	key(risk, "week", store.KeyOptions{ExpiresIn: 7 * 24 * time.Hour})     // expired by then
	key(risk, "quarter", store.KeyOptions{ExpiresIn: 90 * 24 * time.Hour}) // still works
	rolledAtOnce := key(support, "bot", store.KeyOptions{})                // gone by then
	rolledSlowly := key(support, "monitor", store.KeyOptions{})            // in its grace
	deleted := key(support, "old", store.KeyOptions{})                     // deleted
	key(sandbox, "notebook", store.KeyOptions{})                           // its app deleted
	key(sandbox, "lab", store.KeyOptions{ExpiresIn: 30 * 24 * time.Hour})  // its app deleted
	key(risk, "office", store.KeyOptions{AllowFrom: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if _, err := st.SaveApp(t.Context(), admin, risk, "Risk", scopes.NewSet(scopes.ModelExport, scopes.WorkflowDeploy)); err != nil {
		t.Fatal(err)
	}
	for _, roll := range []struct {
		id    uint64
		grace time.Duration
	}{{rolledAtOnce.ID, time.Hour}, {rolledSlowly.ID, 30 * 24 * time.Hour}} {
		text, _, _, err := st.RollKey(t.Context(), admin, roll.id, roll.grace)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, text)
	}
	if err := st.DeleteKey(t.Context(), admin, deleted.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteApp(t.Context(), admin, sandbox.ID); err != nil {
		t.Fatal(err)
	}
	bad := []byte(keys[0])
	bad[10] = map[bool]byte{true: 'B', false: 'A'}[bad[10] == 'A'] // a typo: the checksum fails
	keys = append(keys, seededElsewhere(t), string(bad), "aps_short", strings.Repeat("x", store.KeyLen), "")

	at := t0.Add(8 * 24 * time.Hour)
	clock.set(at)
	type question struct {
		key    string
		scope  scopes.ID
		client netip.Addr
	}
	want := map[question]store.Decision{}
	reasons := map[store.Reason]int{}
	for _, k := range keys {
		for _, s := range allScopes() {
			for _, client := range []netip.Addr{{}, netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("::ffff:198.51.100.1")} {
				d := st.VerifyFrom(k, s, client)
				want[question{k, s, client}] = d
				reasons[d.Reason]++
			}
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range store.Reasons {
		if reasons[r] == 0 && !r.Failed() { // only a replica on a cluster says it
			t.Errorf("no question was answered %s: the test does not cover every rule", r)
		}
	}
	before := mustRead(t, path)
	for q, w := range want {
		got, err := VerifyFile(path, q.key, q.scope, q.client, at)
		if err != nil {
			t.Fatalf("VerifyFile(%s): %v", q.scope, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("for scope %s the point lookup says\n%+v\nVerify said\n%+v", q.scope, got, w)
		}
		if !scopes.Known(q.scope) || store.CheckKey(q.key) != nil {
			continue // answered without the file
		}
		// Both readers, each on its own: the quick one must not fall back.
		for name, read := range map[string]func(string, string, scopes.ID, netip.Addr, time.Time) (store.Decision, error){
			"quick": quickVerify, "bbolt": boltVerify} {
			got, err := read(path, q.key, q.scope, q.client, at)
			if err != nil || !reflect.DeepEqual(got, w) {
				t.Errorf("%s reader, scope %s: %+v, %v; Verify said %+v", name, q.scope, got, err, w)
			}
		}
	}
	if !bytes.Equal(before, mustRead(t, path)) {
		t.Error("the point lookups changed the file")
	}
}

// seededElsewhere is a well-formed key another database issued.
func seededElsewhere(t *testing.T) string {
	return seeded(t, filepath.Join(t.TempDir(), "other.db"))
}

// TestPointLookupOfSchema1: the file the previous version wrote answers
// through the point lookup as the store answers after migrating it, and
// keeps every byte (a read-only look never migrates it).
func TestPointLookupOfSchema1(t *testing.T) {
	path := copyFixture(t)
	before := mustRead(t, path)
	keys := fixtureKeys()
	st, err := OpenStore(path, Options{ReadOnly: true}, store.ReadOnly(),
		store.WithClock(func() time.Time { return fixtureNow }))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.Decision{}
	for _, k := range keys {
		for _, s := range allScopes() {
			d, err := st.Verify(k, s)
			if err != nil {
				t.Fatal(err)
			}
			want[k+string(s)] = d
		}
	}
	st.Close()
	for i, k := range keys {
		for _, s := range allScopes() {
			got, err := VerifyFile(path, k, s, netip.Addr{}, fixtureNow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want[k+string(s)]) {
				t.Errorf("key %d, %s: the point lookup says\n%+v\nthe store says\n%+v", i+1, s, got, want[k+string(s)])
			}
		}
	}
	for _, tt := range []struct {
		key    int
		scope  scopes.ID
		reason store.Reason
	}{
		{0, scopes.ModelDeploy, store.Allowed},
		{0, scopes.GuardrailDeploy, store.ScopeNotGranted},
		{1, scopes.WorkflowDeploy, store.Allowed},
		{2, scopes.GuardrailDeploy, store.Allowed}, // in its grace
		{3, scopes.ModelImport, store.UnknownKey},  // its app was deleted
		{4, scopes.GuardrailDeploy, store.Allowed},
		{4, scopes.GuardrailUndeploy, store.ScopeNotGranted},
	} {
		if d := want[keys[tt.key]+string(tt.scope)]; d.Reason != tt.reason {
			t.Errorf("key %d, %s: %s, want %s", tt.key+1, tt.scope, d.Reason, tt.reason)
		}
	}
	if d, _ := VerifyFile(path, keys[2], scopes.GuardrailDeploy, netip.Addr{}, time.Date(2026, 12, 7, 9, 10, 0, 0, time.UTC)); d.Reason != store.UnknownKey {
		t.Errorf("support-bot after its grace: %s, want unknown_key", d.Reason)
	}
	if d, _ := VerifyFile(path, keys[1], scopes.ModelDeploy, netip.Addr{}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); d.Reason != store.Expired {
		t.Errorf("reports-staging on its expiry: %s, want expired", d.Reason)
	}
	if !bytes.Equal(before, mustRead(t, path)) {
		t.Error("reading the schema 1 file changed it")
	}
}

// TestPointLookupReadsOneKey: a record of another app that does not decode
// does not stop the point lookup, which reads only the key's own records;
// the whole check (and so every open for writing) refuses the file.
func TestPointLookupReadsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	st, err := OpenStore(path, Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApp(t.Context(), admin, "Marketing", scopes.Full()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	garble(t, path, `"name":"Marketing"`, 7, '!')
	d, err := VerifyFile(path, key, scopes.ModelDeploy, netip.Addr{}, t0)
	if err != nil || d.Reason != store.Allowed {
		t.Fatalf("VerifyFile = %+v, %v; want allowed", d, err)
	}
	if err := CheckFile(t.Context(), path); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("the whole check passed a damaged file: %v", err)
	}
}

// garble sets the byte at offset from every copy of record in the file.
func garble(t *testing.T, path, record string, offset int, to byte) {
	t.Helper()
	data := mustRead(t, path)
	n := 0
	for from := 0; ; {
		i := bytes.Index(data[from:], []byte(record))
		if i < 0 {
			break
		}
		data[from+i+offset] = to
		from += i + 1
		n++
	}
	if n == 0 {
		t.Fatalf("%s is not in the file", record)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPointLookupRefusals: a damaged key record, a page that does not
// hold together, a foreign or empty file are errors that name the file,
// never a crash; a malformed key or unknown scope is refused without
// opening the file at all; nothing is created or written.
func TestPointLookupRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apiscopes.db")
	key := seeded(t, path)

	missing := filepath.Join(dir, "none.db")
	if _, err := VerifyFile(missing, key, scopes.ModelDeploy, netip.Addr{}, t0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("VerifyFile created a database")
	}
	for _, tt := range []struct {
		key    string
		scope  scopes.ID
		reason store.Reason
	}{
		{"aps_short", scopes.ModelDeploy, store.Malformed},
		{key[:20] + "0" + key[21:], scopes.ModelDeploy, store.BadChecksum},
		{key, "model:delete", store.UnknownScope},
	} {
		if tt.reason == store.BadChecksum && key[20] == '0' {
			tt.key = key[:20] + "1" + key[21:]
		}
		d, err := VerifyFile(missing, tt.key, tt.scope, netip.Addr{}, t0)
		if err != nil || d.Reason != tt.reason {
			t.Errorf("%s without a file: %+v, %v", tt.reason, d, err)
		}
	}

	damaged := filepath.Join(dir, "damaged.db")
	os.WriteFile(damaged, mustRead(t, path), 0o600)
	garble(t, damaged, `"name":"ci"`, 7, '!')
	if _, err := VerifyFile(damaged, key, scopes.ModelDeploy, netip.Addr{}, t0); !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), damaged) {
		t.Errorf("a garbled key record: %v", err)
	}

	pages := filepath.Join(dir, "pages.db")
	data := mustRead(t, path)
	for p := 2 * os.Getpagesize(); p+os.Getpagesize() <= len(data); p += os.Getpagesize() {
		data[p+8], data[p+9] = 0xff, 0xff // every page's type
	}
	os.WriteFile(pages, data, 0o600)
	if _, err := VerifyFile(pages, key, scopes.ModelDeploy, netip.Addr{}, t0); err == nil {
		t.Error("a file of garbled pages was read")
	}

	for name, content := range map[string][]byte{"list.db": bytes.Repeat([]byte("eggs, milk\n"), 1000), "empty.db": nil} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o600)
		if _, err := VerifyFile(p, key, scopes.ModelDeploy, netip.Addr{}, t0); !errors.Is(err, store.ErrNotDatabase) {
			t.Errorf("%s: %v", name, err)
		}
		if !bytes.Equal(mustRead(t, p), content) {
			t.Errorf("%s was changed", name)
		}
	}
}

// BenchmarkPointLookup times the point lookup alone in a free file of
// 50,000 keys against one of 10, in alternating blocks of the same run,
// through the quick reader (what verify uses) and through bbolt (Open
// read-only, the path it falls back to), and reports x-few for each: how
// many times the large file costs the small one's.
func BenchmarkPointLookup(b *testing.B) {
	dir := b.TempDir()
	few, fewKey := lookupDatabase(b, filepath.Join(dir, "few.db"), 1)
	many, manyKey := lookupDatabase(b, filepath.Join(dir, "many.db"), 10_000)
	for name, read := range map[string]func(string, string, scopes.ID, netip.Addr, time.Time) (store.Decision, error){
		"quick": quickVerify, "bbolt": boltVerify} {
		b.Run(name, func(b *testing.B) {
			lookup := func(path, key string) {
				if d, err := read(path, key, scopes.ModelDeploy, netip.Addr{}, t0); err != nil || !d.Allowed {
					b.Fatalf("%+v, %v", d, err)
				}
			}
			const block = 64
			var manyTime, fewTime time.Duration
			n := 0
			for i := 0; b.Loop(); i++ {
				if i%block == 0 {
					b.StopTimer()
					start := time.Now()
					for range block {
						lookup(few, fewKey)
					}
					fewTime += time.Since(start)
					b.StartTimer()
				}
				start := time.Now()
				lookup(many, manyKey)
				manyTime += time.Since(start)
				n++
			}
			blocks := (n + block - 1) / block
			perFew := float64(fewTime) / float64(blocks*block)
			b.ReportMetric(perFew, "ns/lookup-few")
			b.ReportMetric(float64(manyTime)/float64(n)/perFew, "x-few")
		})
	}
}

// lookupDatabase makes a database of apps apps with five keys each (their
// text forgotten) and one more key, whose text it returns.
func lookupDatabase(b *testing.B, path string, apps int) (string, string) {
	b.Helper()
	st, err := OpenStore(path, Options{}, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	specs := make([]store.AppSpec, apps)
	for i := range specs {
		specs[i] = store.AppSpec{Name: fmt.Sprintf("App %05d", i), Scopes: scopes.NewSet(scopes.ModelDeploy),
			Keys: []string{"a", "b", "c", "d", "e"}}
	}
	for len(specs) > 0 {
		n := min(2000, len(specs))
		if _, err := st.CreateApps(b.Context(), admin, specs[:n]); err != nil {
			b.Fatal(err)
		}
		specs = specs[n:]
	}
	app, err := st.CreateApp(b.Context(), admin, "Known", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		b.Fatal(err)
	}
	key, _, err := st.CreateKey(b.Context(), admin, app.ID, "known")
	if err != nil {
		b.Fatal(err)
	}
	return path, key
}
