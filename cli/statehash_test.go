package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/storetest"
)

// auditKey is the audit signing key of these tests.
var auditKey = ed25519.NewKeyFromSeed([]byte("apiscopes cli audit signing key!"))

// writeAuditKeys writes the signing key, private, into a folder of its own
// and its .pub beside it; it returns both paths.
func writeAuditKeys(t *testing.T) (private, public string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(auditKey, "audit")
	if err != nil {
		t.Fatal(err)
	}
	private = filepath.Join(dir, "audit")
	if err := os.WriteFile(private, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := gossh.NewPublicKey(auditKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	public = private + ".pub"
	if err := os.WriteFile(public, gossh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	return private, public
}

// TestAuditVerifyExpect: audit --verify --expect passes while the trail
// holds the head saved from an earlier --verify, and fails once the trail
// was rewritten, head and state with it, as whoever can write the file can;
// through a console holding the file too.
func TestAuditVerifyExpect(t *testing.T) {
	path, _ := seededDB(t)
	code, saved, errs := runCmd(t, "audit", "--verify", "--db", path)
	if code != 0 {
		t.Fatalf("audit --verify = %d, %q", code, errs)
	}
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApp(t.Context(), store.Actor{Name: "amara", Role: store.Admin}, "Later", scopes.NewSet(scopes.ModelExport)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errs := runCmd(t, "audit", "--verify", "--expect", saved, "--db", path)
	if code != 0 || !strings.Contains(out, "as expected") {
		t.Fatalf("audit --verify --expect a head the trail extends = %d, %q, %q", code, out, errs)
	}
	h, code, msg := openStore(path, io.Discard)
	if h == nil {
		t.Fatalf("%d %s", code, msg)
	}
	code, out, errs = runCmd(t, "audit", "--verify", "--expect", saved, "--db", path)
	h.Close()
	if code != 0 || !strings.Contains(out, "as expected") {
		t.Fatalf("the same while a console holds the file = %d, %q, %q", code, out, errs)
	}

	storetest.Rewrite(t, path, "audit", func(ev map[string]any) {
		if ev["seq"] == 1.0 {
			ev["actor"] = "mallory"
		}
	})
	if code, _, errs := runCmd(t, "audit", "--verify", "--db", path); code != 0 {
		t.Fatalf("the rewritten trail no longer holds together: the test rewrote it badly: %q", errs)
	}
	code, _, errs = runCmd(t, "audit", "--verify", "--expect", saved, "--db", path)
	if code != 1 || !strings.Contains(errs, "does not extend the head saved earlier") {
		t.Fatalf("audit --verify --expect on a rewritten trail = %d, %q", code, errs)
	}
	h, code, msg = openStore(path, io.Discard)
	if h == nil {
		t.Fatalf("%d %s", code, msg)
	}
	code, _, errs = runCmd(t, "audit", "--verify", "--expect", saved, "--db", path)
	h.Close()
	if code != 1 || !strings.Contains(errs, "does not extend the head saved earlier") {
		t.Fatalf("the same while a console holds the file = %d, %q", code, errs)
	}

	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"audit", "--expect", saved, "--db", path}, "--expect goes with --verify"},
		{[]string{"audit", "--verify", "--expect", "event 3", "--db", path}, "not an audit head"},
	} {
		if code, _, errs := runCmd(t, tt.args...); code != 2 || !strings.Contains(errs, tt.says) {
			t.Errorf("%q = %d, %q; want 2 and %q", tt.args, code, errs, tt.says)
		}
	}
}

// TestCheckNamesASilentGrant: an app given a scope in the file behind the
// store's back fails check, which names the app, though the chain holds.
func TestCheckNamesASilentGrant(t *testing.T) {
	path, _ := seededDB(t)
	storetest.RewriteRaw(t, path, "apps", 1, func(v []byte) []byte {
		var rec map[string]any
		json.Unmarshal(v, &rec)
		rec["scopes"] = append(rec["scopes"].([]any), "guardrail:undeploy")
		out, _ := json.Marshal(rec)
		return out
	})
	if code, _, errs := runCmd(t, "audit", "--verify", "--db", path); code != 0 {
		t.Fatalf("the chain alone: %q", errs)
	}
	code, _, errs := runCmd(t, "check", path)
	if code != 1 || !strings.Contains(errs, "app 1 was changed without an audit event") {
		t.Fatalf("check = %d, %q", code, errs)
	}
}

// TestCheckSignedHeads: check compares the heads serve signed with the
// trail, and with --audit-public-key verifies their signatures, on the file
// and through a console holding it; a trail rewritten behind a signed head
// fails it.
func TestCheckSignedHeads(t *testing.T) {
	path, _ := seededDB(t)
	_, public := writeAuditKeys(t)
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(t.Context(), auditKey); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errs := runCmd(t, "check", path, "--audit-public-key", public)
	if code != 0 || !strings.Contains(out, "Signed heads: verified") {
		t.Fatalf("check --audit-public-key = %d, %q, %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, "check", path); code != 0 || !strings.Contains(out, "give --audit-public-key") {
		t.Fatalf("check without the key = %d, %q", code, out)
	}
	h, code, msg := openStore(path, io.Discard)
	if h == nil {
		t.Fatalf("%d %s", code, msg)
	}
	code, out, errs = runCmd(t, "--db", path, "check", "--audit-public-key", public)
	h.Close()
	if code != 0 || !strings.Contains(out, "Signed heads: verified") {
		t.Fatalf("the same while a console holds the file = %d, %q, %q", code, out, errs)
	}

	storetest.Rewrite(t, path, "apps", func(rec map[string]any) {
		rec["scopes"] = append(rec["scopes"].([]any), "guardrail:undeploy")
	})
	for _, args := range [][]string{{"check", path}, {"check", path, "--audit-public-key", public}} {
		if code, _, errs := runCmd(t, args...); code != 1 || !strings.Contains(errs, "the head signed at") {
			t.Errorf("%q on a resealed grant = %d, %q", args, code, errs)
		}
	}
	if code, _, errs := runCmd(t, "check", path, "--audit-public-key", filepath.Join(t.TempDir(), "none.pub")); code != 2 ||
		!strings.Contains(errs, "unusable audit signing key") {
		t.Errorf("a missing public key file = %d, %q", code, errs)
	}
}

// TestServeSignsTheAuditHead: serve refuses a signing key inside the
// database's folder or open to others; with one kept properly it logs and
// signs the head at once, and check verifies the signature afterwards.
func TestServeSignsTheAuditHead(t *testing.T) {
	t.Setenv("APISCOPES_HTTP", "")
	path, _ := seededDB(t)
	private, public := writeAuditKeys(t)
	inFolder := filepath.Join(filepath.Dir(path), "audit")
	if err := os.WriteFile(inFolder, mustReadFile(t, private), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(filepath.Dir(private), "open")
	if err := os.WriteFile(open, mustReadFile(t, private), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o644)
	for key, says := range map[string]string{inFolder: "inside the database's folder", open: "chmod 600"} {
		code, _, errs := runWithStdin(t, "", "serve", "--db", path, "--http", "127.0.0.1:0", "--audit-signing-key", key)
		if code != 2 || !strings.Contains(errs, says) {
			t.Errorf("serve --audit-signing-key %s = %d, %q; want 2 and %q", key, code, errs, says)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--db", path, "--http", "127.0.0.1:0", "--audit-signing-key", private}, nil,
			&bytes.Buffer{}, stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "signed=true") {
		if time.Now().After(deadline) {
			t.Fatalf("serve never logged a signed head: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if log := stderr.String(); !strings.Contains(log, "audit head event=2 sha256=") ||
		!strings.Contains(log, store.KeyFingerprint(auditKey.Public().(ed25519.PublicKey))) {
		t.Errorf("the log does not show the head and the key: %s", log)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	code, out, errs := runCmd(t, "check", path, "--audit-public-key", public)
	if code != 0 || !strings.Contains(out, "Signed heads: verified; the newest, event 2") {
		t.Fatalf("check after serve signed = %d, %q, %q", code, out, errs)
	}
	// The log line is a head to expect later.
	var line string
	for l := range strings.Lines(stderr.String()) {
		if strings.Contains(l, "audit head event=") {
			line = l
		}
	}
	if code, out, errs := runCmd(t, "audit", "--verify", "--db", path, "--expect", line); code != 0 || !strings.Contains(out, "as expected") {
		t.Errorf("audit --verify --expect the logged head = %d, %q, %q", code, out, errs)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
