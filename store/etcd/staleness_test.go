package etcd

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// TestCurrent cuts a replica off the cluster behind a proxy that drops
// every byte: it stops being current within the bound, while it still
// answers from what it last had; once the network is back it is current
// again and has caught up.
func TestCurrent(t *testing.T) {
	const bound = 2 * time.Second
	var proxies []*proxy
	var eps []string
	for _, m := range cluster.members {
		p := newProxy(t, m.endpoint())
		proxies = append(proxies, p)
		eps = append(eps, p.addr())
	}
	prefix := newPrefix(t)
	replica, e := openStore(t, prefix, func(c *Config) { c.Endpoints = eps; c.MaxStaleness = bound })
	writer, _ := openStore(t, prefix)

	eventually(t, 10*time.Second, "the replica to be current", func() bool { return e.Current(bound) })
	app, err := writer.CreateApp(t.Context(), admin, "Search", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	text, key, err := writer.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replica to allow the new key", func() bool {
		return verify(t, replica, text, scopes.ModelDeploy).Allowed
	})
	rev0, _ := e.Confirmed()

	for _, p := range proxies {
		p.cut()
	}
	cutAt := time.Now()
	if err := writer.DeleteKey(t.Context(), admin, key.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, bound+time.Second, "the replica cut off to stop being current", func() bool { return !e.Current(bound) })
	if rev, at := e.Confirmed(); !at.Before(cutAt) {
		t.Fatalf("confirmed revision %d at %v, after the cut at %v", rev, at, cutAt)
	}
	// What it answers now may be stale: the key deleted on the writer is
	// still allowed here. A server fails closed on !Current instead.
	if d := verify(t, replica, text, scopes.ModelDeploy); !d.Allowed {
		t.Fatalf("the replica cut off learnt of the deletion: %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if err := e.Confirm(ctx); err == nil {
		t.Fatal("a confirmation succeeded while the replica was cut off")
	}
	cancel()

	for _, p := range proxies {
		p.restore()
	}
	eventually(t, 20*time.Second, "the replica to be current again", func() bool { return e.Current(bound) })
	if rev, _ := e.Confirmed(); rev <= rev0 {
		t.Fatalf("confirmed revision %d, not after %d", rev, rev0)
	}
	// Current means caught up: the deletion is applied.
	if d := verify(t, replica, text, scopes.ModelDeploy); d.Reason != store.UnknownKey {
		t.Fatalf("a current replica allows a key deleted before: %v", d)
	}
}

// TestCurrentQuiet: with nothing written, a replica stays current (the
// watch reports its progress when asked), and other databases on the
// cluster moving the revision on do not hold it back.
func TestCurrentQuiet(t *testing.T) {
	const bound = time.Second
	_, e := openStore(t, newPrefix(t), func(c *Config) { c.MaxStaleness = bound })
	other := openEngine(t, newPrefix(t))
	eventually(t, 10*time.Second, "the replica to be current", func() bool { return e.Current(bound) })
	for i := range 3 {
		rev := commit(t, other, put(store.TableMeta, "x", string(rune('a'+i))))
		eventually(t, 10*time.Second, "a confirmation past another database's change", func() bool {
			r, _ := e.Confirmed()
			return r >= rev
		})
	}
	if !e.Current(bound) {
		t.Fatal("not current after confirmations")
	}
	// Its follower is complete through revisions only the other database
	// changed: it shows the database as it was at each of them.
	if rev, _ := e.Confirmed(); e.Through() < rev {
		t.Fatalf("complete through %d, confirmed at %d", e.Through(), rev)
	}
}

// TestResyncAfterCompaction: a replica cut off while the cluster compacts
// the changes it missed cannot be given them when it is back: it reloads
// from a new snapshot instead, and tells its feed's subscribers to.
func TestResyncAfterCompaction(t *testing.T) {
	var proxies []*proxy
	var eps []string
	for _, m := range cluster.members {
		p := newProxy(t, m.endpoint())
		proxies = append(proxies, p)
		eps = append(eps, p.addr())
	}
	prefix := newPrefix(t)
	replica, _ := openStore(t, prefix, func(c *Config) { c.Endpoints = eps })
	writer, _ := openStore(t, prefix)
	app, err := writer.CreateApp(t.Context(), admin, "Search", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	old, key, err := writer.CreateKey(t.Context(), admin, app.ID, "old")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replica to allow the key", func() bool {
		return verify(t, replica, old, scopes.ModelDeploy).Allowed
	})
	sub := replica.Subscribe()
	defer sub.Close()

	for _, p := range proxies {
		p.sever()
	}
	if err := writer.DeleteKey(t.Context(), admin, key.ID); err != nil {
		t.Fatal(err)
	}
	added, _, err := writer.CreateKey(t.Context(), admin, app.ID, "new")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rawClient(t).Get(ctxT(t), "/", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawClient(t).Compact(ctxT(t), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	for _, p := range proxies {
		p.restore()
	}
	eventually(t, 30*time.Second, "the replica to reload", func() bool {
		return verify(t, replica, old, scopes.ModelDeploy).Reason == store.UnknownKey &&
			verify(t, replica, added, scopes.ModelDeploy).Allowed
	})
	select {
	case up := <-sub.C:
		if !up.Resync {
			t.Fatalf("the feed told of %+v, not a resync", up.Event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the feed did not tell its subscriber to reload")
	}
	if err := replica.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestStalledMemberIsLeft: the member a replica's change stream uses stops
// answering without closing a connection (a proxy that holds every byte,
// as SIGSTOP does). The stream moves to a member that answers, confirms
// through it, and the replica never stops answering, not once unavailable,
// while it learns of a change made meanwhile within the bound; nor does it
// raise the bound to do so.
func TestStalledMemberIsLeft(t *testing.T) {
	const bound = 3 * time.Second
	proxies := map[string]*proxy{}
	var eps []string
	for _, m := range cluster.members {
		p := newProxy(t, m.endpoint())
		proxies[p.addr()] = p
		eps = append(eps, p.addr())
	}
	prefix := newPrefix(t)
	e := openEngine(t, prefix, func(c *Config) { c.Endpoints = eps; c.MaxStaleness = bound })
	replica, err := store.New(e, store.WithName(e.Name()), store.WithMaintenance(0), store.WithMaxStaleness(bound))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	writer, _ := openStore(t, prefix)

	app, err := writer.CreateApp(t.Context(), admin, "Search", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	text, key, err := writer.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replica to allow the new key", func() bool {
		return verify(t, replica, text, scopes.ModelDeploy).Allowed
	})

	stalled := e.member().endpoint
	proxies[stalled].cut()
	cutAt := time.Now()
	deleted := make(chan struct{})
	go func() {
		defer close(deleted)
		if err := writer.DeleteKey(t.Context(), admin, key.ID); err != nil {
			t.Error(err)
		}
	}()

	// Check without a pause for three bounds: never unavailable; the
	// deletion reaches the replica within the bound.
	var unavailable, checks int
	var learnt time.Duration
	for time.Since(cutAt) < 3*bound {
		d := verify(t, replica, text, scopes.ModelDeploy)
		checks++
		switch d.Reason {
		case store.Unavailable:
			unavailable++
		case store.UnknownKey:
			if learnt == 0 {
				learnt = time.Since(cutAt)
			}
		}
		time.Sleep(time.Millisecond)
	}
	<-deleted
	if unavailable > 0 {
		t.Errorf("%d of %d checks unavailable with two members answering", unavailable, checks)
	}
	switch {
	case learnt == 0:
		t.Errorf("the deletion never reached the replica in %v", 3*bound)
	case learnt > bound:
		t.Errorf("the deletion reached the replica %v after the stall, not within the bound %v", learnt, bound)
	}
	m := e.member()
	if m.endpoint == stalled {
		t.Fatalf("the stream is still on the stalled member %s", stalled)
	}
	e.mu.Lock()
	moves := e.moves
	e.mu.Unlock()
	if moves != 1 {
		t.Errorf("the stream moved %d times, want once", moves)
	}
	if rev, at := e.Confirmed(); !at.After(cutAt) || rev == 0 {
		t.Errorf("last confirmed revision %d at %v, not through the new member after the stall at %v", rev, at, cutAt)
	}
	if e.cfg.MaxStaleness != bound {
		t.Errorf("the bound became %v", e.cfg.MaxStaleness)
	}
}
