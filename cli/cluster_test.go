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
	"apiscopes/store/etcd"
	"apiscopes/store/etcd/etcdtest"
)

// TestServeReplica: `serve --etcd` answers from the cluster, fails closed
// with 503 "unavailable" once it cannot confirm it is current, says so in
// its log, and answers again, saying so too, when the cluster is back.
func TestServeReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	member := etcdtest.Start(t)
	endpoint := member.Endpoint
	st, err := etcd.OpenStore(etcd.Config{Endpoints: []string{endpoint}, MaxStaleness: -1}, store.WithMaintenance(0))
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	args := []string{"--http", "127.0.0.1:0", "--max-staleness", "1s",
		"--host-key", filepath.Join(t.TempDir(), "host_key")}
	go func() {
		done <- Run(ctx, append([]string{"serve", "--etcd", endpoint}, args...), nil, io.Discard, stderr)
	}()

	logged := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); strings.Count(stderr.String(), what) < n; {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q %d times:\n%s", what, n, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	logged("replica current", 1)
	url := readyURL.FindStringSubmatch(stderr.String())[1]
	ask := func() (int, string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"key":"`+key+`","scope":"model:deploy"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := ask(); code != http.StatusOK {
		t.Fatalf("before the outage: %d %s", code, body)
	}

	member.Stop()
	logged("replica unavailable", 1)
	if code, body := ask(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"reason":"unavailable"`) {
		t.Errorf("during the outage: %d %s; want 503 unavailable", code, body)
	}

	member.Restart()
	logged("replica current", 2)
	if code, body := ask(); code != http.StatusOK {
		t.Errorf("after the outage: %d %s", code, body)
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
	if strings.Contains(stderr.String(), key) {
		t.Error("the replica logged the key")
	}
}

// TestMigrateCommand: a file moves to a cluster and back with `apiscopes
// migrate`, keys working on each side, whatever database the shell's
// APISCOPES_ variables name; a cluster that holds a database already is
// refused, and so are --db and --etcd.
func TestMigrateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	endpoint := etcdtest.Start(t).Endpoint
	path, key := seededDB(t)
	// A replica's shell: these name a database, but not for migrate.
	t.Setenv("APISCOPES_ETCD", "http://127.0.0.1:1")
	t.Setenv("APISCOPES_DB", filepath.Join(t.TempDir(), "elsewhere.db"))

	code, out, errs := runCmd(t, "migrate", "--from-db", path, "--to-etcd", endpoint)
	if code != 0 || !strings.Contains(out, "checked") {
		t.Fatalf("migrate to the cluster: %d\n%s%s", code, out, errs)
	}
	code, out, errs = runWithStdin(t, key, "verify", "--etcd", endpoint, "--scope", "model:deploy")
	if code != 0 {
		t.Errorf("verify on the cluster: %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCmd(t, "migrate", "--from-db", path, "--to-etcd", endpoint)
	if code == 0 || !strings.Contains(errs, "holds") {
		t.Errorf("migrate onto a database: %d, %q; want a refusal", code, errs)
	}

	back := filepath.Join(t.TempDir(), "back.db")
	code, out, errs = runCmd(t, "migrate", "--from-etcd", endpoint, "--to-db", back)
	if code != 0 {
		t.Fatalf("migrate back: %d\n%s%s", code, out, errs)
	}
	// A file named on the command line wins over a cluster's variables.
	t.Setenv("APISCOPES_ETCD_CACERT", filepath.Join(t.TempDir(), "ca.crt"))
	if code, out, errs = runWithStdin(t, key, "verify", "--db", back, "--scope", "model:deploy"); code != 0 {
		t.Errorf("verify on the file migrated back: %d\n%s%s", code, out, errs)
	}
	if code, out, errs = runCmd(t, "check", back); code != 0 || !strings.Contains(out, "is sound: 1 app") {
		t.Errorf("check of the file migrated back: %d\n%s%s", code, out, errs)
	}

	for _, flag := range []string{"--db", "--etcd"} {
		code, _, errs := runCmd(t, "migrate", flag, "x", "--from-db", path, "--to-etcd", endpoint)
		if code != 2 || !strings.Contains(errs, "not --db or --etcd") {
			t.Errorf("migrate %s: %d, %q", flag, code, errs)
		}
	}
}
