package certfile

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/server/certfile/certtest"
)

// TestReloadServesTheRenewedCertificate: a listener configured once serves
// the certificate in the files at each Reload, and keeps the last good one
// when the files turn bad.
func TestReloadServesTheRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	certFile, keyFile := ca.Issue(t, dir, "first")
	p, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q", got)
	}
	ca.Issue(t, dir, "second")
	if err := p.Reload(); err != nil || served() != "second" {
		t.Fatalf("after reload: %v, %s", err, served())
	}
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), keyFile) || served() != "second" {
		t.Fatalf("a bad key: %v, %s", err, served())
	}
	if _, err := Load(filepath.Join(dir, "none.pem"), keyFile); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}
