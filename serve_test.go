package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// TestServeKeepsHotBackupsAndStopsCleanly runs `apiscopes serve` as its own
// process with hot backups every 100 ms, stops it with SIGTERM, and checks
// that it said goodbye, closed the database, and left backups that open.
func TestServeKeepsHotBackupsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := gossh.NewPublicKey(pub)
	admins := filepath.Join(dir, "admins")
	os.WriteFile(admins, gossh.MarshalAuthorizedKey(sshPub), 0o600)
	backups := filepath.Join(dir, "backups")

	raw, _ := json.Marshal([]string{"serve", "--db", filepath.Join(dir, "a.db"), "--admins", admins,
		"--ssh", "127.0.0.1:0", "--backup-dir", backups, "--backup-every", "100ms"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := store.ListBackups(backups)
		if len(files) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no hot backups after 15 s; log:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; log:\n%s", err, errb.String())
	}
	log := errb.String()
	for _, want := range []string{"listening", "host key", "fingerprint=SHA256:", "shutting down", "database closed cleanly"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	files, err := store.ListBackups(backups)
	if err != nil || len(files) < 2 {
		t.Fatalf("backups: %v %v", files, err)
	}
	for _, f := range files {
		if err := store.CheckFile(f); err != nil {
			t.Errorf("backup %s: %v", f, err)
		}
	}
	if err := store.CheckFile(filepath.Join(dir, "a.db")); err != nil {
		t.Errorf("the database after shutdown: %v", err)
	}
}
