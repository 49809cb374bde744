package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"apiscopes/scopes"
)

var benchAdmin = Actor{Name: "Ada", Role: Admin}

// recorder keeps what a random source hands out, so that keys generated
// and forgotten by CreateApps can be made again.
type recorder struct {
	mu  sync.Mutex
	r   io.Reader
	out bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.r.Read(p)
	r.out.Write(p[:n])
	return n, err
}

// keys makes again every key drawn from the source, in order.
func (r *recorder) keys(tb testing.TB) []string {
	var out []string
	for b := r.out.Bytes(); len(b) >= 32; b = b[32:] {
		k, err := newKeyText(bytes.NewReader(b[:32]))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// storeWithKeys loads apps of 100 keys each until there are n keys, through
// CreateApps, then opens the store again on the same engine, as a process
// starting on such a database does. It returns the store, on the system
// clock as in production, and the keys' texts.
func storeWithKeys(tb testing.TB, n int) (*Store, []string) {
	return storeWithListedKeys(tb, n, nil)
}

// storeWithListedKeys is storeWithKeys with every key limited to the
// networks of allow (none: no list), written into the key records before
// the store opens again.
func storeWithListedKeys(tb testing.TB, n int, allow []string) (*Store, []string) {
	tb.Helper()
	eng := NewMemory()
	rec := &recorder{r: testRandom(11)}
	s, err := New(eng, WithRandom(rec), WithMaintenance(0))
	if err != nil {
		tb.Fatal(err)
	}
	var specs []AppSpec
	for i := range n / 100 {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("App %d", i), Scopes: scopes.NewSet(scopes.ModelDeploy),
			Keys: seqNames(100)})
	}
	if _, err := s.CreateApps(tb.Context(), benchAdmin, specs); err != nil {
		tb.Fatal(err)
	}
	s.unfollow() // hand the engine to a new store, as a restart would
	s.clock.stop()
	if len(allow) > 0 {
		b := &Batch{}
		err := eng.Read(tb.Context(), func(snap Snapshot) error {
			return snap.Scan(TableKeys, nil, ScanOptions{}, func(k, v []byte) error {
				var rec keyRecord
				if err := decode(v, &rec); err != nil {
					return err
				}
				rec.AllowFrom = allow
				b.Put(TableKeys, bytes.Clone(k), encode(rec))
				return nil
			})
		})
		if err == nil {
			_, err = eng.Commit(tb.Context(), b)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	s, err = New(eng, WithMaintenance(0))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, rec.keys(tb)
}

func seqNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("key %d", i)
	}
	return out
}

// benchKeys is how many keys the verify benchmark looks up among.
const benchKeys = 50_000

// BenchmarkVerify measures Store.Verify among 50,000 keys against the least
// any verifier must do: hash the key and look the digest up in a Go map.
// x-baseline is how many times slower Verify is, with its scope check, the
// expiry check and the note of use; the goal is 1.5 or less. ns/op is
// Verify's own time.
//
// The two are timed in alternating blocks of the same keys, so that both
// see the same machine; the loop that runs second in a block finds the keys
// in the CPU's cache, so the order swaps every block. The baseline hashes
// from a stack buffer, as Verify does: converting the key to a []byte would
// allocate and flatter Verify.
func BenchmarkVerify(b *testing.B) {
	s, keys := storeWithKeys(b, benchKeys)
	bare := make(map[[sha256.Size]byte]uint64, len(keys))
	for i, k := range keys {
		bare[sha256.Sum256([]byte(k))] = uint64(i + 1)
	}
	// Visit the keys in a scattered order, as requests from many services do.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = (i * 7919) % len(keys)
	}
	bareLookups := func(from, n int) time.Duration {
		found := 0
		start := time.Now()
		for i := from; i < from+n; i++ {
			k := keys[order[i%len(keys)]]
			var buf [KeyLen]byte
			if _, ok := bare[sha256.Sum256(buf[:copy(buf[:], k)])]; ok {
				found++
			}
		}
		d := time.Since(start)
		if found != n {
			b.Fatalf("baseline found %d of %d keys", found, n)
		}
		return d
	}

	const block = 2048
	var verify, baseline time.Duration
	n, nBase := 0, 0
	base := func(from, count int) {
		b.StopTimer()
		baseline += bareLookups(from, count)
		nBase += count
		b.StartTimer()
	}
	blockStart := time.Now()
	for b.Loop() {
		if n%block == 0 {
			if n > 0 {
				verify += time.Since(blockStart)
				if (n/block)%2 == 1 { // the block that ended was even: the baseline goes second
					base(n-block, block)
				}
			}
			if (n/block)%2 == 1 { // odd blocks: the baseline goes first
				base(n, block)
			}
			blockStart = time.Now()
		}
		d, err := s.Verify(keys[order[n%len(keys)]], scopes.ModelDeploy)
		if err != nil || !d.Allowed {
			b.Fatalf("Verify = %v, %v", d, err)
		}
		n++
	}
	verify += time.Since(blockStart)
	if last := (n - 1) / block; last%2 == 0 {
		base(last*block, n-last*block)
	}
	b.ReportMetric((float64(verify)/float64(n))/(float64(baseline)/float64(nBase)), "x-baseline")
}

// BenchmarkVerifyFrom measures a check of keys limited to addresses
// (VerifyFrom from an address in the key's list) against its floor,
// Verify of keys without a list, among 50,000 keys each, in alternating
// blocks of the same run. x-without-list is the ratio; the goal is 1.2 or
// less. A key's record says whether it has a list and holds its first
// network when it is IPv4 (allowslot.go): "first" checks from inside it,
// as a key with one office network is checked; "beyond" from inside the
// list's second network, which reads the key's whole list.
func BenchmarkVerifyFrom(b *testing.B) {
	plain, plainKeys := storeWithKeys(b, benchKeys)
	lists := []string{"192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"}
	for _, tt := range []struct {
		name   string
		list   []string
		client netip.Addr
	}{
		{"first", lists[:1], netip.MustParseAddr("192.0.2.77")},
		{"beyond", lists, netip.MustParseAddr("198.51.100.7")},
	} {
		b.Run(tt.name, func(b *testing.B) {
			listed, listedKeys := storeWithListedKeys(b, benchKeys, tt.list)
			order := make([]int, benchKeys)
			for i := range order {
				order[i] = (i * 7919) % benchKeys
			}
			run := func(from, n int, withList bool) time.Duration {
				start := time.Now()
				for i := from; i < from+n; i++ {
					j := order[i%benchKeys]
					var d Decision
					if withList {
						d = listed.VerifyFrom(listedKeys[j], scopes.ModelDeploy, tt.client)
					} else {
						d, _ = plain.Verify(plainKeys[j], scopes.ModelDeploy)
					}
					if !d.Allowed {
						b.Fatalf("%s", d.Reason)
					}
				}
				return time.Since(start)
			}
			const block = 2048
			var with, without time.Duration
			i := 0
			for b.Loop() {
				if i%2 == 0 {
					with += run(i*block, block, true)
					without += run(i*block, block, false)
				} else {
					without += run(i*block, block, false)
					with += run(i*block, block, true)
				}
				i++
			}
			b.ReportMetric(float64(with)/float64(without), "x-without-list")
		})
	}
}

// Verify allocates nothing, whatever its answer: a busy verifier makes no
// garbage.
func TestVerifyAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a thousand keys")
	}
	s, keys := storeWithKeys(t, 1000)
	cases := map[string]struct {
		key   string
		scope scopes.ID
	}{
		"allowed":           {keys[7], scopes.ModelDeploy},
		"scope not granted": {keys[7], scopes.ModelExport},
		"unknown scope":     {keys[7], "model:delete"},
		"unknown key":       {withChecksum(KeyPrefix + keys[7][4:47]), scopes.ModelDeploy},
		"bad checksum":      {keys[7][:50] + "xyz", scopes.ModelDeploy},
		"malformed":         {"aps_short", scopes.ModelDeploy},
	}
	for name, c := range cases {
		if n := testing.AllocsPerRun(100, func() { s.Verify(c.key, c.scope) }); n != 0 {
			t.Errorf("%s: Verify allocates %v times", name, n)
		}
	}
	listed, listedKeys := storeWithListedKeys(t, 100, []string{"192.0.2.0/24", "2001:db8::/32"})
	for _, client := range []string{"192.0.2.7", "2001:db8::7", "::ffff:192.0.2.8", "203.0.113.1"} {
		a := netip.MustParseAddr(client)
		if n := testing.AllocsPerRun(100, func() { listed.VerifyFrom(listedKeys[3], scopes.ModelDeploy, a) }); n != 0 {
			t.Errorf("VerifyFrom %s allocates %v times", client, n)
		}
	}
}

// BenchmarkFeed measures what one change costs each open console with
// 10,000 apps listed: the feed hands every subscription the change's
// update, and each applies it to its own copy of the list (found by name,
// as the list is ordered). The baseline is the least a console told only
// that an app changed must do instead: read that app again with App. The
// goal is 2 or less; ns/op is one change for 100 consoles.
func BenchmarkFeed(b *testing.B) {
	const apps, sessions = 10_000, 100
	s, err := New(NewMemory(), WithRandom(testRandom(12)), WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var specs []AppSpec
	for i := range apps {
		specs = append(specs, AppSpec{Name: fmt.Sprintf("App %05d", i), Scopes: scopes.NewSet(scopes.ModelDeploy)})
	}
	if _, err := s.CreateApps(b.Context(), benchAdmin, specs); err != nil {
		b.Fatal(err)
	}
	list, _ := s.Apps(b.Context())
	subs := make([]*Subscription, sessions)
	lists := make([][]App, sessions)
	for i := range subs {
		subs[i] = s.Subscribe()
		lists[i] = slices.Clone(list)
	}
	// A real change, and the update it makes.
	target := list[apps/3]
	if _, err := s.SaveApp(b.Context(), benchAdmin, target, target.Name, scopes.Full()); err != nil {
		b.Fatal(err)
	}
	var up Update
	for i, sub := range subs {
		up = <-sub.C
		lists[i] = applyUpdate(lists[i], up)
	}
	if !up.App.Scopes.Allows(scopes.ModelExport) || lists[0][apps/3].Scopes != scopes.Full() {
		b.Fatalf("the update %+v was not applied", up)
	}
	up.Seq = 0

	feed := func() {
		s.feed.publish([]Update{up})
		for i, sub := range subs {
			lists[i] = applyUpdate(lists[i], <-sub.C)
		}
	}
	reread := func() {
		for range sessions {
			if _, err := s.App(b.Context(), target.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	const block = 64
	var withFeed, baseline time.Duration
	n := 0
	base := func() {
		b.StopTimer()
		start := time.Now()
		for range block {
			reread()
		}
		baseline += time.Since(start)
		b.StartTimer()
	}
	blockStart := time.Now()
	for b.Loop() {
		if n%block == 0 {
			if n > 0 {
				withFeed += time.Since(blockStart)
				base()
			}
			blockStart = time.Now()
		}
		feed()
		n++
	}
	withFeed += time.Since(blockStart)
	base()
	nBase := ((n + block - 1) / block) * block
	b.ReportMetric((float64(withFeed)/float64(n))/(float64(baseline)/float64(nBase)), "x-baseline")
}

// applyUpdate is what a console does with an update to its list of apps,
// ordered ByName: the changed app is found under the name it had, and put
// where its name now belongs (or removed, once deleted).
func applyUpdate(list []App, up Update) []App {
	if up.Resync {
		return list // a console reloads; not measured here
	}
	was := up.Event.AppName
	if up.Event.NameBefore != "" {
		was = up.Event.NameBefore
	}
	i, found := slices.BinarySearchFunc(list, App{ID: up.Event.AppID, Name: was}, ByName)
	switch {
	case up.App == nil:
		if found {
			list = slices.Delete(list, i, i+1)
		}
		return list
	case found && up.App.Name == list[i].Name:
		list[i] = *up.App
		return list
	case found:
		list = slices.Delete(list, i, i+1)
	}
	j, _ := slices.BinarySearchFunc(list, *up.App, ByName)
	return slices.Insert(list, j, *up.App)
}

func TestApplyUpdate(t *testing.T) {
	list := []App{{ID: 1, Name: "alpha"}, {ID: 2, Name: "Beta"}, {ID: 3, Name: "gamma"}}
	steps := []struct {
		up   Update
		want string
	}{
		{Update{Event: Event{AppID: 2, AppName: "Beta"}, App: &App{ID: 2, Name: "Beta", Keys: 1}}, "alpha Beta gamma"},
		{Update{Event: Event{AppID: 2, AppName: "zeta", NameBefore: "Beta"}, App: &App{ID: 2, Name: "zeta"}}, "alpha gamma zeta"},
		{Update{Event: Event{AppID: 4, AppName: "delta"}, App: &App{ID: 4, Name: "delta"}}, "alpha delta gamma zeta"},
		{Update{Event: Event{AppID: 1, AppName: "alpha"}}, "delta gamma zeta"},
	}
	for _, st := range steps {
		list = applyUpdate(list, st.up)
		var got []string
		for _, a := range list {
			got = append(got, a.Name)
		}
		if fmt.Sprint(got) != "["+st.want+"]" {
			t.Fatalf("after %+v: %v, want %s", st.up.Event, got, st.want)
		}
	}
	if list[0].Keys != 0 || applyUpdate([]App{{ID: 2, Name: "Beta"}}, steps[0].up)[0].Keys != 1 {
		t.Error("an update did not replace the app")
	}
}

// BenchmarkCheckKey measures the format and checksum check that refuses a
// mistyped key before any lookup, against computing the key's checksum
// alone (CRC-32 and its base62 form).
func BenchmarkCheckKey(b *testing.B) {
	r := testRandom(7)
	keys := make([]string, 256)
	for i := range keys {
		k, err := newKeyText(r)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	n := 0
	start := time.Now()
	for b.Loop() {
		if err := CheckKey(keys[n%len(keys)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check := time.Since(start)
	ok := 0
	start = time.Now()
	for i := range n {
		k := keys[i%len(keys)]
		if sum := checksum62(k[:KeyLen-checksumLen]); string(sum[:]) == k[KeyLen-checksumLen:] {
			ok++
		}
	}
	baseline := time.Since(start)
	if ok != n {
		b.Fatalf("baseline accepted %d of %d keys", ok, n)
	}
	b.ReportMetric(float64(check)/float64(baseline), "x-baseline")
}

// A key's record is one cache line, so a check reads no more of memory
// than it must, and a key's slot holds the key as it was made, less its
// last use, which the record keeps beside it.
func TestKeyRecordIsACacheLine(t *testing.T) {
	if size := unsafe.Sizeof(keyRec{}); size != 64 {
		t.Errorf("a key's record is %d bytes, not 64", size)
	}
	if tbl := newKeyTable(50_000, 1); uintptr(unsafe.Pointer(&tbl.recs[0]))%64 != 0 {
		t.Errorf("a large table's records do not start on a 64-byte boundary")
	}
	at := time.Date(2026, 12, 2, 13, 4, 5, 678, time.UTC)
	for _, k := range []Key{
		{ID: 1, AppID: 2, Name: "n", Hint: "h", CreatedBy: "c", CreatedAt: at, LastUsedAt: at},
		{ID: 1, AppID: 3, CreatedBy: "a", CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		{ID: 1, AppID: 3, CreatedBy: "a", CreatedAt: at, DeleteAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{ID: 4, AppID: 3, CreatedBy: "a", CreatedAt: at, AllowFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	} {
		slot := newKeySlot(k, nil)
		want := k
		want.LastUsedAt = time.Time{}
		if !reflect.DeepEqual(*slot.key, want) {
			t.Errorf("a key through its slot: %+v, want %+v", *slot.key, want)
		}
		if slot.deadline != (!k.ExpiresAt.IsZero() || !k.DeleteAt.IsZero()) {
			t.Errorf("key %+v: deadline %v", k, slot.deadline)
		}
		if (slot.list != listNone) != (len(k.AllowFrom) > 0) {
			t.Errorf("key %+v: list %v", k, slot.list)
		}
	}
}

// BenchmarkUsageNoting measures what per-scope usage costs a check: Verify
// (which notes the key's last use and its app's use of the scope) against
// the same decision noting only the key's last use, as Verify did before,
// over the same keys in alternating blocks. x-without is the ratio; the goal
// is 1.1 or less.
func BenchmarkUsageNoting(b *testing.B) {
	s, keys := storeWithKeys(b, benchKeys)
	order := make([]int, len(keys))
	for i := range order {
		order[i] = (i * 7919) % len(keys)
	}
	run := func(note int, from, n int) time.Duration {
		start := time.Now()
		var d Decision
		for i := from; i < from+n; i++ {
			if s.decide(&d, keys[order[i%len(keys)]], scopes.ModelDeploy, netip.Addr{}, note); d.Reason != Allowed {
				b.Fatalf("%s", d.Reason)
			}
		}
		return time.Since(start)
	}
	const block = 2048
	var noting, plain time.Duration
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			noting += run(noteAll, i*block, block)
			plain += run(noteKey, i*block, block)
		} else {
			plain += run(noteKey, i*block, block)
			noting += run(noteAll, i*block, block)
		}
		i++
	}
	b.ReportMetric(float64(noting)/float64(plain), "x-without")
}
