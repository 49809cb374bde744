package etcd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"math/big"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// BenchmarkCreateKey measures CreateKey through a store on the engine
// (no read when the store's mirror of the apps and meta tables is current,
// one transaction of six operations and four comparisons, and the wait for
// the store's own watch to deliver it) against the least a write to etcd
// costs: a bare transaction with one Put, on the same cluster. x-baseline
// is how many times slower CreateKey is; the goal is 1.5 or less. ns/op is
// CreateKey's own time.
//
// The two alternate, one of each per iteration, the baseline first every
// other time, so that both see the same cluster and the same disk.
// BenchmarkCreateKeyTxn shows where the rest goes.
//
// reads=any-member is the same with Config.readAnyMember, which matters
// only when a change falls back to a real snapshot: it then starts with a
// read from any member at least as new as what the engine has seen,
// instead of a linearizable read.
func BenchmarkCreateKey(b *testing.B) {
	b.Run("reads=linearizable", func(b *testing.B) { benchCreateKey(b, false, false) })
	b.Run("reads=any-member", func(b *testing.B) { benchCreateKey(b, true, false) })
}

// BenchmarkCreateKeyTxn measures CreateKey against a raw transaction of the
// very operations and comparisons CreateKey's last commit made (recorded,
// and sent again under another prefix, with comparisons made to hold):
// what etcd charges for the change itself. x-same-txn near 1 says the
// store adds little around its transaction, and that what CreateKey costs
// over a bare Put is the transaction's size: its six records and four
// comparisons of whole values.
func BenchmarkCreateKeyTxn(b *testing.B) { benchCreateKey(b, false, true) }

// recording is an engine that keeps the last batch it committed.
type recording struct {
	*Engine
	mu   sync.Mutex
	last store.Batch
}

func (r *recording) Commit(ctx context.Context, bt *store.Batch) (uint64, error) {
	rev, err := r.Engine.Commit(ctx, bt)
	if err == nil {
		r.mu.Lock()
		r.last = store.Batch{Conds: bt.Conds, Ops: bt.Ops}
		r.mu.Unlock()
	}
	return rev, err
}

// replay is a raw transaction of the same operations and comparisons as
// bt, its keys under prefix: each value comparison made to hold by a put
// of the value it wants before, a missing-key one by a fresh key.
func replay(b *testing.B, cli *clientv3.Client, prefix string, bt store.Batch, n int) func() {
	b.Helper()
	ctx := context.Background()
	key := func(t store.Table, k []byte) string {
		return fmt.Sprintf("%s%d/%s/%x", prefix, n, t, k)
	}
	var cmps []clientv3.Cmp
	var ops, setup []clientv3.Op
	for _, c := range bt.Conds {
		k := key(c.Table, c.Key)
		if c.Value == nil {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
			continue
		}
		setup = append(setup, clientv3.OpPut(k, string(c.Value)))
		cmps = append(cmps, clientv3.Compare(clientv3.Value(k), "=", string(c.Value)))
	}
	if len(setup) > 0 {
		if _, err := cli.Txn(ctx).Then(setup...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	for _, o := range bt.Ops {
		switch o.Kind {
		case store.OpPut:
			ops = append(ops, clientv3.OpPut(key(o.Table, o.Key), string(o.Value)))
		case store.OpDelete:
			ops = append(ops, clientv3.OpDelete(key(o.Table, o.Key)))
		}
	}
	return func() {
		resp, err := cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil || !resp.Succeeded {
			b.Fatalf("replay: %v, succeeded %v", err, resp != nil && resp.Succeeded)
		}
	}
}

func benchCreateKey(b *testing.B, anyMember, sameTxn bool) {
	e := openEngine(b, newPrefix(b), func(c *Config) { c.readAnyMember = anyMember })
	rec := &recording{Engine: e}
	st, err := store.New(rec, store.WithName(e.Name()), store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cli := rawClient(b)
	bare := newPrefix(b) + "bare/"
	same := newPrefix(b) + "same/"
	ctx := context.Background()
	var app store.App
	var keys, base time.Duration
	n := 0
	baselines := func() {
		b.StopTimer()
		defer b.StartTimer()
		if sameTxn {
			rec.mu.Lock()
			last := rec.last
			rec.mu.Unlock()
			again := replay(b, cli, same, last, n)
			start := time.Now()
			again()
			base += time.Since(start)
			return
		}
		start := time.Now()
		if _, err := cli.Txn(ctx).Then(clientv3.OpPut(fmt.Sprintf("%s%08d", bare, n), "x")).Commit(); err != nil {
			b.Fatal(err)
		}
		base += time.Since(start)
	}
	for b.Loop() {
		if n%32 == 0 { // keep apps small: a new key's name is checked against its app's keys
			b.StopTimer()
			var err error
			if app, err = st.CreateApp(ctx, admin, fmt.Sprintf("app %d", n), scopes.Full()); err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.CreateKey(ctx, admin, app.ID, fmt.Sprintf("key %d first", n)); err != nil {
				b.Fatal(err) // a CreateKey's batch for the first replay
			}
			b.StartTimer()
		}
		if n%2 == 1 {
			baselines()
		}
		start := time.Now()
		if _, _, err := st.CreateKey(ctx, admin, app.ID, fmt.Sprintf("key %d", n)); err != nil {
			b.Fatal(err)
		}
		keys += time.Since(start)
		if n%2 == 0 {
			baselines()
		}
		n++
	}
	if sameTxn {
		b.ReportMetric(float64(keys)/float64(base), "x-same-txn")
	} else {
		b.ReportMetric(float64(keys)/float64(base), "x-baseline")
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(n), "baseline-ns/op")
}

// benchKeys is how many keys the verify benchmark looks up among, as the
// store's own benchmark on bbolt does.
const benchKeys = 50_000

// BenchmarkVerify measures Verify on a store on the engine among 50,000
// keys against hashing the key and looking its digest up in a Go map.
// Verify answers from the store's in-memory index, fed by the engine's
// change stream: the same index, so the same ratio, as on bbolt (whose
// benchmark's goal is 3 or less). ns/op is Verify's own time.
func BenchmarkVerify(b *testing.B) {
	rec := &recorder{}
	e := openEngine(b, newPrefix(b))
	st, err := store.New(e, store.WithRandom(rec), store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	const perApp = 38 // the most whose app and keys fit one change
	var specs []store.AppSpec
	for i := 0; i < benchKeys; i += perApp {
		spec := store.AppSpec{Name: fmt.Sprintf("app %d", i/perApp), Scopes: scopes.NewSet(scopes.ModelDeploy)}
		for j := i; j < min(i+perApp, benchKeys); j++ {
			spec.Keys = append(spec.Keys, fmt.Sprintf("key %d", j))
		}
		specs = append(specs, spec)
	}
	if _, err := st.CreateApps(b.Context(), admin, specs); err != nil {
		b.Fatal(err)
	}
	keys := rec.keys()
	bare := make(map[[sha256.Size]byte]int, len(keys))
	for i, k := range keys {
		if d := verify(b, st, k, scopes.ModelDeploy); !d.Allowed {
			b.Fatalf("a key just made: %v", d)
		}
		bare[sha256.Sum256([]byte(k))] = i
	}
	if len(keys) != benchKeys {
		b.Fatalf("%d keys, want %d", len(keys), benchKeys)
	}
	// Visit the keys in a scattered order, as requests from many services do.
	order := make([]int, len(keys))
	for i := range order {
		order[i] = (i * 7919) % len(keys)
	}
	const block = 2048
	var ver, base time.Duration
	n, nBase := 0, 0
	baseline := func(from int) {
		b.StopTimer()
		found := 0
		start := time.Now()
		for i := from; i < from+block; i++ {
			if _, ok := bare[sha256.Sum256([]byte(keys[order[i%benchKeys]]))]; ok {
				found++
			}
		}
		base += time.Since(start)
		nBase += block
		if found != block {
			b.Fatalf("baseline found %d of %d keys", found, block)
		}
		b.StartTimer()
	}
	blockStart := time.Now()
	for b.Loop() {
		if n%block == 0 {
			if n > 0 {
				ver += time.Since(blockStart)
				if (n/block)%2 == 1 { // the block that ended was even: the baseline goes second
					baseline(n - block)
				}
			}
			if (n/block)%2 == 1 { // odd blocks: the baseline goes first
				baseline(n)
			}
			blockStart = time.Now()
		}
		d, err := st.Verify(keys[order[n%benchKeys]], scopes.ModelDeploy)
		if err != nil || !d.Allowed {
			b.Fatalf("Verify = %v, %v", d, err)
		}
		n++
	}
	ver += time.Since(blockStart)
	if nBase == 0 {
		baseline(0)
	}
	b.ReportMetric((float64(ver)/float64(n))/(float64(base)/float64(nBase)), "x-baseline")
}

// recorder is a source of key secrets that remembers them, so that a
// benchmark can use the keys CreateApps makes and forgets. It rebuilds a
// key's text from its secret as the key format specifies: "aps_", the 256
// bits in 43 base-62 digits, then the CRC-32 of all that in 6.
type recorder struct {
	mu      sync.Mutex
	secrets [][]byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	r.mu.Lock()
	r.secrets = append(r.secrets, append([]byte(nil), p[:n]...))
	r.mu.Unlock()
	return n, err
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.secrets))
	for _, s := range r.secrets {
		body := store.KeyPrefix + base62(new(big.Int).SetBytes(s), 43)
		out = append(out, body+base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body)))), 6))
	}
	return out
}

func base62(n *big.Int, width int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, width)
	sixtyTwo := big.NewInt(62)
	m := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, sixtyTwo, m)
		out[i] = digits[m.Int64()]
	}
	return string(out)
}
