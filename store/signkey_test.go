package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

var testSigningKey = ed25519.NewKeyFromSeed([]byte("apiscopes store signing key seed"))

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func openSSHKey(t *testing.T, key any, passphrase string) []byte {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "audit", []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(key, "audit")
	}
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// The signing key is taken only from a private file outside the
// database's folder, links followed to where the file really is, and only
// as an ed25519 key without a passphrase.
func TestLoadSigningKey(t *testing.T) {
	root := t.TempDir()
	db := filepath.Join(root, "data")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	good := openSSHKey(t, testSigningKey, "")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		path func() string
		says string // "" loads the key
	}{
		{"an OpenSSH key beside the folder", func() string { return writeFile(t, filepath.Join(root, "keys", "audit"), good, 0o600) }, ""},
		{"a PKCS #8 key", func() string {
			return writeFile(t, filepath.Join(root, "keys", "audit.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o400)
		}, ""},
		{"a folder named like the database's", func() string { return writeFile(t, filepath.Join(root, "data2", "audit"), good, 0o600) }, ""},
		{"a key others may read", func() string { return writeFile(t, filepath.Join(root, "keys", "open"), good, 0o644) }, "chmod 600"},
		{"a key its group may read", func() string { return writeFile(t, filepath.Join(root, "keys", "group"), good, 0o640) }, "others may read it"},
		{"a key in the database's folder", func() string { return writeFile(t, filepath.Join(db, "audit"), good, 0o600) }, "inside the database's folder"},
		{"a key below the database's folder", func() string { return writeFile(t, filepath.Join(db, "keys", "audit"), good, 0o600) }, "inside the database's folder"},
		{"a link to a key in the database's folder", func() string {
			target := writeFile(t, filepath.Join(db, "hidden"), good, 0o600)
			link := filepath.Join(root, "keys", "link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "inside the database's folder"},
		{"a key with a passphrase", func() string {
			return writeFile(t, filepath.Join(root, "keys", "locked"), openSSHKey(t, testSigningKey, "secret"), 0o600)
		}, "passphrase"},
		{"an RSA key", func() string {
			return writeFile(t, filepath.Join(root, "keys", "rsa"), openSSHKey(t, rsaKey, ""), 0o600)
		}, "not an ed25519 key"},
		{"not a key", func() string { return writeFile(t, filepath.Join(root, "keys", "notes"), []byte("hello\n"), 0o600) }, "not a private key"},
		{"a folder", func() string { return filepath.Join(root, "keys") }, "not a regular file"},
		{"no file", func() string { return filepath.Join(root, "keys", "missing") }, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := LoadSigningKey(tt.path(), db)
			switch {
			case tt.says == "" && (err != nil || !key.Equal(testSigningKey)):
				t.Fatalf("LoadSigningKey = %v", err)
			case tt.says != "" && (!errors.Is(err, ErrSigningKey) || !strings.Contains(err.Error(), tt.says)):
				t.Fatalf("LoadSigningKey = %v, want a refusal that says %q", err, tt.says)
			}
		})
	}
	// On a cluster there is no folder: only the file's mode counts.
	if _, err := LoadSigningKey(writeFile(t, filepath.Join(db, "cluster"), good, 0o600), ""); err != nil {
		t.Errorf("a cluster's key: %v", err)
	}
}

// The public keys check takes are the signing key's .pub line, several of
// them, or PEM; nothing else.
func TestLoadAuditPublicKeys(t *testing.T) {
	dir := t.TempDir()
	pub := testSigningKey.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed([]byte("another ed25519 seed of 32 bytes")).Public().(ed25519.PublicKey)
	line := func(k ed25519.PublicKey) []byte {
		sk, err := ssh.NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return ssh.MarshalAuthorizedKey(sk)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rsaKey.PublicKey)
	for _, tt := range []struct {
		name string
		data []byte
		want int
		says string
	}{
		{"a .pub file", line(pub), 1, ""},
		{"two keys, a comment", append(append([]byte("# the old key and the new\n"), line(other)...), line(pub)...), 2, ""},
		{"PEM", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 1, ""},
		{"an RSA key", ssh.MarshalAuthorizedKey(rsaPub), 0, "not ed25519"},
		{"nothing", []byte("\n"), 0, "holds no public key"},
		{"a private key", openSSHKey(t, testSigningKey, ""), 0, "not a public key"},
		{"text", []byte("ssh-ed25519 not-base64\n"), 0, "not an OpenSSH public key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := LoadAuditPublicKeys(writeFile(t, filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")), tt.data, 0o644))
			if tt.says != "" {
				if !errors.Is(err, ErrSigningKey) || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("LoadAuditPublicKeys = %v, want a refusal that says %q", err, tt.says)
				}
				return
			}
			if err != nil || len(keys) != tt.want || !keys[len(keys)-1].Equal(pub) {
				t.Fatalf("LoadAuditPublicKeys = %d keys, %v", len(keys), err)
			}
		})
	}
}

// A signed head says what it signs, and its signature holds for its key
// and message only.
func TestSignedHeadMessage(t *testing.T) {
	h := SignedHead{Seq: 42, Hash: strings.Repeat("ab", 32), State: strings.Repeat("cd", 32),
		At: time.Date(2026, 12, 1, 10, 0, 0, 500, time.FixedZone("CET", 3600)), Key: KeyFingerprint(testSigningKey.Public().(ed25519.PublicKey))}
	want := "apiscopes audit head\nseq 42\nhash " + h.Hash + "\nstate " + h.State + "\nat 2026-12-01T09:00:00.0000005Z\n"
	if got := string(h.Message()); got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if !strings.HasPrefix(h.Key, "SHA256:") || len(h.Key) != len("SHA256:")+43 {
		t.Errorf("fingerprint %q", h.Key)
	}
	h.Sig = ed25519.Sign(testSigningKey, h.Message())
	if !h.Verify(testSigningKey.Public().(ed25519.PublicKey)) {
		t.Error("the signature does not hold")
	}
	other := h
	other.Seq++
	if other.Verify(testSigningKey.Public().(ed25519.PublicKey)) {
		t.Error("the signature holds for another head")
	}
}

// KeepHeads reports the head at once and then every interval, signed
// when given the key, until its context ends.
func TestKeepHeads(t *testing.T) {
	st, err := New(NewMemory(), WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateApp(t.Context(), Actor{Name: "Ada", Role: Admin}, "Risk", 1); err != nil {
		t.Fatal(err)
	}
	for _, key := range []ed25519.PrivateKey{nil, testSigningKey} {
		ctx, cancel := context.WithCancel(context.Background())
		reports := make(chan SignedHead, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			st.KeepHeads(ctx, time.Millisecond, key, nil, func(h SignedHead, err error) {
				if err != nil {
					t.Error(err)
				}
				select {
				case reports <- h:
				default:
				}
			})
		}()
		for range 3 {
			select {
			case h := <-reports:
				if h.Seq != 1 || len(h.Hash) != 64 || len(h.State) != 64 || (key != nil) != (h.Sig != nil) {
					t.Errorf("reported %+v", h)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no report within 10 s")
			}
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("KeepHeads went on after its context ended")
		}
	}
	if sh, ok, err := st.NewestSignedHead(t.Context()); err != nil || !ok || !sh.Verify(testSigningKey.Public().(ed25519.PublicKey)) {
		t.Errorf("NewestSignedHead = %+v, %v, %v", sh, ok, err)
	}
}

// A head reads back as audit --verify prints it, alone or in its line.
func TestParseAuditHead(t *testing.T) {
	hash := strings.Repeat("3d", 32)
	head := AuditHead{Seq: 4211, Hash: hash}
	for _, text := range []string{
		head.String(),
		"  " + head.String() + "\n",
		"The audit trail of /srv/apiscopes.db is intact: " + head.String(),
		"Audit trail: " + head.String(),
		"2026-12-01 10:00:00 INFO apiscopes: audit head event=4211 sha256=" + hash + " signed=true",
	} {
		if got, err := ParseAuditHead(text); err != nil || got != head {
			t.Errorf("ParseAuditHead(%q) = %v, %v", text, got, err)
		}
	}
	if got, err := ParseAuditHead("empty"); err != nil || got != (AuditHead{}) {
		t.Errorf("ParseAuditHead(empty) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "event 4211", "event 4211, sha256 " + hash[:63], "event 0, sha256 " + hash,
		"event 1, sha256 " + hash + " event 2, sha256 " + hash, "4211 " + hash, "event 4211, sha256 " + strings.ToUpper(hash),
		"event 4211, sha256 " + hash + "ab"} {
		if _, err := ParseAuditHead(bad); !errors.Is(err, ErrBadHead) {
			t.Errorf("ParseAuditHead(%q) = %v, want ErrBadHead", bad, err)
		}
	}
}
