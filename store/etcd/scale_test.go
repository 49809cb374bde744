package etcd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// scaleEnv asks the scale benchmarks for a database of that many keys
// (ten to an app); without it they skip, as building one takes minutes.
// APISCOPES_ETCD_SCALE_DIR is where the file goes (a temporary folder if
// unset).
const scaleEnv = "APISCOPES_ETCD_SCALE"

// scaleData is one database twice: a file, and the same records copied
// under a prefix of the test cluster.
type scaleData struct {
	path   string
	prefix string
	keys   int
	bytes  int64 // what the copy added to the cluster's database, all members alike
}

// built keeps the databases made so far: the benchmarks of one run share
// them. scaleFiles are removed when the run ends (TestMain).
var (
	built      = map[int]*scaleData{}
	scaleFiles []string
)

func scaleKeys(b *testing.B) int {
	b.Helper()
	v := os.Getenv(scaleEnv)
	if v == "" {
		b.Skipf("set %s=N to build a database of N keys", scaleEnv)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		b.Fatalf("%s=%q: want a number of keys, at least 10", scaleEnv, v)
	}
	return n
}

// buildScale builds the file with the bulk path (CreateApps), then copies
// it into the cluster as `apiscopes migrate` does.
func buildScale(b *testing.B, keys int) *scaleData {
	b.Helper()
	if d := built[keys]; d != nil {
		return d
	}
	dir := os.Getenv(scaleEnv + "_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "apiscopes-scale-"); err != nil {
			b.Fatal(err)
		}
		scaleFiles = append(scaleFiles, dir)
	}
	d := &scaleData{path: filepath.Join(dir, fmt.Sprintf("scale-%d.db", keys)), prefix: newPrefix(b), keys: keys}
	st, err := bolt.OpenStore(d.path, bolt.Options{NoSync: true}, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	if apps, n := st.Size(); apps != 0 && (apps != keys/10 || n != keys) {
		b.Fatalf("%s holds %d apps and %d keys, not a database of %d keys: remove it", d.path, apps, n, keys)
	} else if apps != 0 {
		keys = 0 // made by an earlier run, kept in APISCOPES_ETCD_SCALE_DIR
	}
	const perApp = 10
	names := make([]string, perApp)
	for i := range names {
		names[i] = fmt.Sprintf("key %d", i+1)
	}
	start := time.Now()
	for made := 0; made < keys/perApp; {
		n := min(1000, keys/perApp-made)
		if made == 0 && keys > 0 {
			scaleFiles = append(scaleFiles, d.path) // made here: removed at the end of the run
		}
		specs := make([]store.AppSpec, n)
		for i := range specs {
			specs[i] = store.AppSpec{Name: fmt.Sprintf("App %07d", made+i+1), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: names}
		}
		if _, err := st.CreateApps(context.Background(), admin, specs); err != nil {
			b.Fatal(err)
		}
		made += n
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("file of %d keys in %v", d.keys, time.Since(start).Round(time.Second))
	keys = d.keys

	before := clusterBytes(b)
	start = time.Now()
	from, err := bolt.Open(d.path, bolt.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	to := openEngine(b, d.prefix, func(c *Config) { c.MaxStaleness = -1 })
	_, err = store.Copy(context.Background(), from, to, nil)
	from.Close()
	to.Close()
	if err != nil {
		b.Fatal(err)
	}
	d.bytes = clusterBytes(b) - before
	b.Logf("copied to the cluster in %v, %d bytes (%d a key)", time.Since(start).Round(time.Second), d.bytes, d.bytes/int64(keys))
	built[keys] = d
	return d
}

// clusterBytes is the size of the first member's database in use (etcd's
// DbSizeInUse: what compaction and defragmentation leave of it).
func clusterBytes(b *testing.B) int64 {
	b.Helper()
	cli := rawClient(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, cluster.endpoints()[0])
	if err != nil {
		b.Fatal(err)
	}
	return st.DbSizeInUse
}

// BenchmarkStartAtScale measures a replica's start on a large database:
// from opening the cluster until the store has loaded its index and the
// engine has confirmed it current (when `serve --etcd` answers /readyz),
// against opening the same records in a file (when `serve` on the file
// answers it), alternately in the same run. x-file is how many times
// longer the replica takes; the goal is 2 or less. floor-s is the least a
// replica's start can take: one read of the apps' and keys' records from
// the cluster, at one revision, in pages (x-floor: the start against it).
// etcd-B/key is what the copy added to the cluster's database, in bytes a
// key (apps, keys, digests, names, the audit trail: the quota's arithmetic).
//
// APISCOPES_ETCD_SCALE=1000000 go test ./store/etcd -run '^$' -bench StartAtScale -benchtime 3x -timeout 2h
func BenchmarkStartAtScale(b *testing.B) {
	keys := scaleKeys(b)
	d := buildScale(b, keys)
	var file, floor, replica time.Duration
	for b.Loop() {
		start := time.Now()
		st, err := bolt.OpenStore(d.path, bolt.Options{}, store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		file += time.Since(start)
		st.Close()

		start = time.Now()
		fe, err := Open(Config{Endpoints: cluster.endpoints(), Prefix: d.prefix, MaxStaleness: -1})
		if err != nil {
			b.Fatal(err)
		}
		var records int
		err = fe.Read(context.Background(), func(snap store.Snapshot) error {
			for _, t := range []store.Table{store.TableApps, store.TableKeys} {
				if err := snap.Scan(t, nil, store.ScanOptions{}, func(_, _ []byte) error { records++; return nil }); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || records != keys+keys/10 {
			b.Fatalf("read %d records: %v", records, err)
		}
		fe.Close()
		floor += time.Since(start)

		start = time.Now()
		e, err := Open(Config{Endpoints: cluster.endpoints(), Prefix: d.prefix})
		if err != nil {
			b.Fatal(err)
		}
		rst, err := store.New(e, store.WithName(e.Name()), store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Minute); !e.Current(5 * time.Second); {
			if time.Now().After(deadline) {
				b.Fatal("the replica never became current")
			}
			time.Sleep(time.Millisecond)
		}
		replica += time.Since(start)
		if apps, n := rst.Size(); n != keys || apps != keys/10 {
			b.Fatalf("the replica loaded %d apps and %d keys", apps, n)
		}
		rst.Close()
	}
	n := float64(b.N)
	b.ReportMetric(file.Seconds()/n, "file-s")
	b.ReportMetric(replica.Seconds()/n, "replica-s")
	b.ReportMetric(float64(replica)/float64(file), "x-file")
	b.ReportMetric(floor.Seconds()/n, "floor-s")
	b.ReportMetric(float64(replica)/float64(floor), "x-floor")
	b.ReportMetric(float64(d.bytes)/float64(keys), "etcd-B/key")
}

// BenchmarkReloadAtScale measures the reload of a replica whose change
// stream fell behind compaction, on a large database: the replica is cut
// off from every member, the cluster takes a change and compacts it away,
// and the replica is let back. reload-s is from then until its store has
// read a new snapshot (its feed says so), against the time the same
// replica took to start (start-s, the baseline: a reload reads what a
// start reads, without the start's check); reloads counts the reloads it
// made by the time it confirmed itself current again (the goal: one).
//
// APISCOPES_ETCD_SCALE=100000 go test ./store/etcd -run '^$' -bench ReloadAtScale -benchtime 1x -timeout 1h
func BenchmarkReloadAtScale(b *testing.B) {
	keys := scaleKeys(b)
	d := buildScale(b, keys)
	var proxies []*proxy
	var eps []string
	for _, m := range cluster.members {
		p := newProxy(b, m.endpoint())
		proxies = append(proxies, p)
		eps = append(eps, p.addr())
	}
	cli := rawClient(b)
	var startT, reloadT time.Duration
	reloads := 0
	for b.Loop() {
		start := time.Now()
		e, err := Open(Config{Endpoints: eps, Prefix: d.prefix})
		if err != nil {
			b.Fatal(err)
		}
		rst, err := store.New(e, store.WithName(e.Name()), store.WithMaintenance(0))
		if err != nil {
			b.Fatal(err)
		}
		startT += time.Since(start)
		sub := rst.Subscribe()
		for _, p := range proxies {
			p.sever()
		}
		// Two revisions the replica misses, the first compacted away.
		var resp *clientv3.PutResponse
		for range 2 {
			if resp, err = cli.Put(context.Background(), d.prefix+"bench-gap", time.Now().String()); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := cli.Compact(context.Background(), resp.Header.Revision); err != nil {
			b.Fatal(err)
		}
		for _, p := range proxies {
			p.restore()
		}
		start = time.Now()
		n := 0
		for n == 0 {
			select {
			case up := <-sub.C:
				if up.Resync {
					n++
				}
			case <-time.After(5 * time.Minute):
				b.Fatal("the replica never reloaded")
			}
		}
		reloadT += time.Since(start)
		for deadline := time.Now().Add(5 * time.Minute); !e.Current(5*time.Second) || e.Through() < uint64(resp.Header.Revision); {
			if time.Now().After(deadline) {
				b.Fatal("the replica never caught up after its reload")
			}
			time.Sleep(10 * time.Millisecond)
		}
		for len(sub.C) > 0 {
			if up := <-sub.C; up.Resync {
				n++
			}
		}
		reloads += n
		sub.Close()
		rst.Close()
	}
	b.ReportMetric(startT.Seconds()/float64(b.N), "start-s")
	b.ReportMetric(reloadT.Seconds()/float64(b.N), "reload-s")
	b.ReportMetric(float64(reloadT)/float64(startT), "x-start")
	b.ReportMetric(float64(reloads)/float64(b.N), "reloads")
}
