package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Why a connection fails, in words a person can act on. The etcd client
// reports a TLS failure only as a dial that ran out of time, and an auth
// failure as a bare gRPC status: Open explains both.

// refused reports an answer of a cluster that works but will not let this
// user in: wrong credentials, none where auth is on, or no permission.
func refused(err error) bool {
	for _, r := range []error{rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty,
		rpctypes.ErrInvalidAuthToken, rpctypes.ErrAuthOldRevision, rpctypes.ErrUserNotFound} {
		if errors.Is(err, r) || strings.Contains(err.Error(), r.Error()) {
			return true
		}
	}
	return false
}

// refusal is Open's error for a refused user.
func (e *Engine) refusal(err error) error {
	return fmt.Errorf("%s refused this client: %w (with auth on, give a user and its password; "+
		"the user needs readwrite on the prefixes %s and %s)", e.name, err, e.prefix, e.ElectionPrefix())
}

// dialProblem says why the client could not connect, as well as a look at
// the endpoints can tell: that none accepts a connection, the first that
// fails a TLS handshake with cfg and why, or the first that speaks TLS when
// cfg is nil. Nil: none of these.
func dialProblem(endpoints []string, cfg *tls.Config, timeout time.Duration) error {
	var unreachable []string
	var dialErr error
	for _, ep := range endpoints {
		host := ep
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			host = u.Host
		}
		conn, err := net.DialTimeout("tcp", host, timeout)
		if err != nil {
			unreachable, dialErr = append(unreachable, host), err
			continue
		}
		conn.Close()
		if cfg == nil {
			// Only to tell a TLS server: nothing is sent, nothing trusted.
			probe := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}} //nolint:gosec
			if err := handshake(host, probe, timeout); err == nil || remoteAlert(err) {
				return fmt.Errorf("%s speaks TLS: use an https:// endpoint and name the CA of the cluster's certificates", host)
			}
			continue
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(host)
		}
		c.NextProtos = []string{"h2"}
		if err := handshake(host, c, timeout); err != nil {
			return fmt.Errorf("TLS with %s: %w%s", host, err, tlsHint(err))
		}
	}
	if len(unreachable) == len(endpoints) && dialErr != nil {
		return fmt.Errorf("no endpoint accepts a connection (%s): %w; is the cluster running, and are these its client URLs?",
			strings.Join(unreachable, ", "), unwrapOp(dialErr))
	}
	return nil
}

// unwrapOp is a dial error without the address it repeats.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// handshake connects and reads the server's first bytes: with TLS 1.3 a
// server that refuses the client's certificate says so only then.
func handshake(host string, cfg *tls.Config, timeout time.Duration) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", host, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // the server waits for us: the handshake was accepted
		}
		return err
	}
	return nil
}

func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return " (the cluster's certificate is not signed by the CA given: name the CA that signed it)"
	case errors.As(err, &hostname):
		return " (the cluster's certificate is not for this address: use an endpoint its certificate names)"
	case remoteAlert(err) && (strings.Contains(err.Error(), "certificate required") ||
		strings.Contains(err.Error(), "bad certificate")):
		return " (the cluster asks for a client certificate: give a certificate and its key, signed by a CA it trusts)"
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return " (the endpoint does not speak TLS: use http:// or no scheme)"
	}
	return ""
}

// remoteAlert reports an error the TLS server sent: it spoke TLS.
func remoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}
