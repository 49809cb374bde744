// Package certfile serves TLS from a certificate and key kept in files
// (--http-tls-cert and --http-tls-key, the gRPC listener's too): read at
// start, read again on Reload (SIGHUP), so a renewed certificate is served
// without a restart.
package certfile

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// Pair is a certificate chain and its private key, from two PEM files.
type Pair struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the pair; a missing file, or a key that is not the
// certificate's, is an error naming both files.
func Load(certFile, keyFile string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile}
	if err := p.Reload(); err != nil {
		return nil, err
	}
	return p, nil
}

// Reload reads the files again. On an error the pair in force stays.
func (p *Pair) Reload() error {
	c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", p.certFile, p.keyFile, err)
	}
	p.cur.Store(&c)
	return nil
}

// Config is a server TLS configuration that serves the pair in force:
// TLS 1.2 at least, with Go's default cipher suites.
func (p *Pair) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.cur.Load(), nil
		},
	}
}
