package cli

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
	"apiscopes/store/etcd/etcdtest"
)

// TestRollingUpgrade runs a replica of this version through a cluster's
// upgrades, as docs/replicas.md orders them. On a cluster still at the
// previous schema (replicas of the older version may serve it) the replica
// answers verify and makes no change; `apiscopes upgrade` keeps a checked
// copy and moves the cluster on, and the replica takes changes from then on.
// Then a replica of a newer version migrates the cluster past this one's
// schema: the replica fails closed (verify 503 upgrade_required, /readyz
// failing, the log saying why), never answering from records it does not
// understand.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	member := etcdtest.Start(t)
	endpoint := member.Endpoint
	cfg := etcd.Config{Endpoints: []string{endpoint}, MaxStaleness: -1}
	st, err := etcd.OpenStore(cfg, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	app, err := st.CreateApp(t.Context(), testAdmin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	setSchema := func(v string) {
		t.Helper()
		eng, err := etcd.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		b := &store.Batch{}
		b.Put(store.TableMeta, []byte("schema"), []byte(v))
		if _, err := eng.Commit(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	setSchema(store.SchemaV3) // as the previous version left it: the same records

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--etcd", endpoint, "--http", "127.0.0.1:0", "--max-staleness", "1s",
			"--host-key", filepath.Join(t.TempDir(), "host_key")}, nil, io.Discard, stderr)
	}()
	logged := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(stderr.String(), what); {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q:\n%s", what, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	logged("replica current")
	verifyURL := readyURL.FindStringSubmatch(stderr.String())[1]
	get := func(url string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if strings.HasSuffix(url, "/v1/verify") {
			resp, err = http.Post(url, "application/json", strings.NewReader(`{"key":"`+key+`","scope":"model:deploy"}`))
		} else {
			resp, err = http.Get(url)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	readyz := strings.TrimSuffix(verifyURL, "/v1/verify") + "/readyz"

	// Before the upgrade: checks answered, changes refused, nothing upgraded.
	if code, body := get(verifyURL); code != http.StatusOK {
		t.Fatalf("verify before the upgrade: %d %s", code, body)
	}
	code, out, errs := runCmd(t, "app", "create", "New", "--scope", "model:export", "--etcd", endpoint)
	if code != ExitRefused || !strings.Contains(errs, "apiscopes upgrade") {
		t.Fatalf("a change before the upgrade: %d %s%s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "upgrade", "--etcd", endpoint); code != ExitUsage || !strings.Contains(errs, "--backup FILE") {
		t.Errorf("upgrade without a copy: %d %s", code, errs)
	}

	// The upgrade: a checked copy of the cluster as it was, then schema 4.
	backup := filepath.Join(t.TempDir(), "before-upgrade.db")
	code, out, errs = runCmd(t, "upgrade", "--etcd", endpoint, "--backup", backup)
	if code != ExitOK || !strings.Contains(out, "from schema 3 to 4") || !strings.Contains(out, backup) {
		t.Fatalf("upgrade: %d %s%s", code, out, errs)
	}
	if err := bolt.CheckFile(ctx, backup); err != nil {
		t.Errorf("the copy: %v", err)
	}
	logged("the database was upgraded to this version's schema")
	if code, out, errs := runCmd(t, "app", "create", "New", "--scope", "model:export", "--etcd", endpoint); code != ExitOK {
		t.Errorf("a change after the upgrade: %d %s%s", code, out, errs)
	}
	if code, out, _ := runCmd(t, "upgrade", "--etcd", endpoint, "--backup", backup+".2"); code != ExitOK || !strings.Contains(out, "already") {
		t.Errorf("upgrade again: %d %s", code, out)
	}

	// A replica of a newer version migrates the cluster on: this one
	// fails closed.
	setSchema("apiscopes/5")
	logged("replica outdated")
	if code, body := get(verifyURL); code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"upgrade_required"`) {
		t.Errorf("verify after a newer migration: %d %s", code, body)
	}
	if code, body := get(readyz); code != http.StatusServiceUnavailable || !strings.Contains(body, "upgrade") {
		t.Errorf("readyz after a newer migration: %d %s", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
