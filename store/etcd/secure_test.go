package etcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"apiscopes/scopes"
	"apiscopes/store"
)

// pki is a certificate authority of a test and the files it issued.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "apiscopes test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key}
	p.CAFile = p.write(t, "ca.crt", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes a certificate for name (a server on loopback, or a client)
// and returns its certificate and key files.
func (p *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "EC PRIVATE KEY", kd)
}

// A cluster that asks for TLS with client certificates and has auth
// enabled, as a production cluster does: the engine connects with the
// flags' files and a user limited to its prefix, and the whole store
// works through it (commits, the change stream, the housekeeping
// election). Wrong or missing credentials are refused with a message that
// names the cluster and the cause, never a hang.
func TestTLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own")
	}
	p := newPKI(t)
	serverCert, serverKey := p.issue(t, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := p.issue(t, "client", x509.ExtKeyUsageClientAuth)

	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := embed.NewConfig()
	cfg.Name = "secure"
	cfg.Dir = filepath.Join(t.TempDir(), "secure")
	cu := url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = "secure=" + pu.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: serverCert, KeyFile: serverKey, TrustedCAFile: p.CAFile,
		ClientCertAuth: true}
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(t.TempDir(), "secure.log")}
	m := &member{cfg: cfg}
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.hardStop)
	endpoint := []string{cu.String()}
	tlsFiles := TLS{CAFile: p.CAFile, CertFile: clientCert, KeyFile: clientKey}

	// Users as an operator would make them: root, and one for apiscopes
	// that may use only its prefix.
	rootTLS, err := tlsFiles.config(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	root, err := clientv3.New(clientv3.Config{Endpoints: endpoint, TLS: rootTLS, DialTimeout: 5 * time.Second,
		Logger: nopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "root-secret"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.RoleAdd(ctx, "apiscopes"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "apiscopes", "/apiscopes/", clientv3.GetPrefixRangeEnd("/apiscopes/"),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error {
			_, err := root.RoleGrantPermission(ctx, "apiscopes", "/apiscopes.leader/",
				clientv3.GetPrefixRangeEnd("/apiscopes.leader/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, "svc", "svc-secret"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "svc", "apiscopes"); return err },
		// One whose role forgot the election's keys.
		func() error { _, err := root.RoleAdd(ctx, "data-only"); return err },
		func() error {
			_, err := root.RoleGrantPermission(ctx, "data-only", "/apiscopes/", clientv3.GetPrefixRangeEnd("/apiscopes/"),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := root.UserAdd(ctx, "narrow", "narrow-secret"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "narrow", "data-only"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("set up auth: %v", err)
		}
	}

	good := Config{Endpoints: endpoint, TLS: tlsFiles, Username: "svc", Password: "svc-secret",
		DialTimeout: 10 * time.Second, RequestTimeout: 10 * time.Second} // generous: a loaded machine is slow to answer a TLS handshake
	t.Run("works", func(t *testing.T) {
		st, err := OpenStore(good, store.WithMaintenance(0))
		if err != nil {
			t.Fatalf("open with TLS and a user: %v", err)
		}
		defer st.Close()
		app, err := st.CreateApp(ctx, admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := st.CreateKey(ctx, admin, app.ID, "ci")
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := st.Verify(text, scopes.ModelDeploy); !d.Allowed {
			t.Errorf("a key made through TLS and auth: %v", d)
		}

		// A second replica sees the first's change through its own watch,
		// and the two elect one housekeeper.
		e2, err := Open(good)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := store.New(e2, store.WithMaintenance(0))
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		app, _ = st.App(ctx, app.ID)
		if _, err := st.SaveApp(ctx, admin, app, "Risk & Compliance", app.Scopes); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the second replica to see the rename", func() bool {
			d, _ := st2.Verify(text, scopes.ModelDeploy)
			return d.App().Name == "Risk & Compliance"
		})
		l := e2.Lead(func(err error) { t.Errorf("the election: %v", err) })
		eventually(t, 10*time.Second, "the replica to lead the housekeeping", l.Held)
	})

	// Comparing the members' data needs etcd's root user: for another the
	// check says what it left out, and finds nothing wrong in the rest.
	t.Run("check", func(t *testing.T) {
		st, err := OpenStore(good, store.WithMaintenance(0))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var unchecked *store.UncheckedError
		if err := st.Check(ctx); !errors.As(err, &unchecked) || !strings.Contains(err.Error(), "root user") {
			t.Errorf("check as a user: %v; want what it could not check", err)
		}
		asRoot, err := OpenStore(withCfg(good, func(c *Config) { c.Username, c.Password = "root", "root-secret" }),
			store.WithMaintenance(0))
		if err != nil {
			t.Fatal(err)
		}
		defer asRoot.Close()
		if err := asRoot.Check(ctx); err != nil {
			t.Errorf("check as root: %v", err)
		}
	})

	// A user who may use the database but not the election's keys: the
	// replica works, and says why it cannot campaign.
	t.Run("election refused", func(t *testing.T) {
		e, err := Open(withCfg(good, func(c *Config) { c.Username, c.Password = "narrow", "narrow-secret" }))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		reports := make(chan error, 10)
		l := e.Lead(func(err error) { reports <- err })
		select {
		case err := <-reports:
			if !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "/apiscopes.leader/") {
				t.Errorf("report %q; want it to name the election's prefix and the refusal", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no report of the refused campaign")
		}
		if l.Held() {
			t.Error("leads without permission")
		}
		time.Sleep(2500 * time.Millisecond) // two more tries, the same refusal: not reported again
		if len(reports) != 0 {
			t.Errorf("the same refusal was reported %d more times", len(reports))
		}
	})

	refused := map[string]struct {
		cfg  Config
		want string
	}{
		"wrong password": {withCfg(good, func(c *Config) { c.Password = "guess" }), "authentication failed"},
		"unknown user":   {withCfg(good, func(c *Config) { c.Username = "mallory" }), "authentication failed"},
		"plain text":     {withCfg(good, func(c *Config) { c.TLS = TLS{}; c.Endpoints = []string{cu.Host} }), "speaks TLS"},
		"nothing there": {withCfg(good, func(c *Config) { c.TLS = TLS{}; c.Endpoints = []string{closedPort(t)} }),
			"no endpoint accepts a connection"},
		"no user":        {withCfg(good, func(c *Config) { c.Username, c.Password = "", "" }), "refused this client"},
		"another prefix": {withCfg(good, func(c *Config) { c.Prefix = "/other/" }), "permission denied"},
		"no client certificate": {withCfg(good, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }),
			"asks for a client certificate"},
		"unknown CA": {withCfg(good, func(c *Config) { c.TLS.CAFile = "" }), "not signed by the CA given"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			st, err := OpenStore(c.cfg, store.WithMaintenance(0))
			if err == nil {
				st.Close()
				t.Fatal("opened")
			}
			t.Log(err)
			host := strings.TrimPrefix(c.cfg.Endpoints[0], "https://")
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), host) {
				t.Errorf("error %q; want it to name %s and say %q", err, host, c.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("refused after %v", d)
			}
		})
	}
}

func withCfg(c Config, f func(*Config)) Config {
	f(&c)
	return c
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
