// Package etcd is the clustered engine of apiscopes: the store's tables as
// keys of an etcd cluster under one prefix, so that any number of replicas
// share one database.
//
// A record lives at Prefix + table + "/" + its key's raw bytes. A snapshot
// is every key under the prefix at one etcd revision: the first read of a
// Read is linearizable and fixes the revision, every later read asks for
// that revision. A commit is one etcd transaction that compares every
// condition and applies every operation, or none; a failed comparison is
// store.ErrStale. The change stream is a watch on the prefix, delivered one
// revision at a time; a replica that cannot confirm its watch is current
// says so (Current), so that a server can fail closed.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"apiscopes/store"
)

// Config says which cluster to use and how.
type Config struct {
	// Endpoints are the cluster's client URLs (host:port, http://… or
	// https://…). Requests are spread over them, and move to the others
	// when one fails.
	Endpoints []string
	// Prefix is where the database lives in the cluster's keyspace
	// ("/apiscopes/" if empty). One cluster holds as many databases as
	// there are prefixes; a prefix is given a trailing "/" if it has none.
	Prefix string
	// TLS names the files of a TLS client: the cluster's CA and, for
	// client certificate authentication, a certificate and its key.
	TLS TLS
	// Username and Password authenticate to a cluster with auth enabled.
	Username, Password string

	// DialTimeout bounds how long Open waits for the cluster (5 s if zero).
	DialTimeout time.Duration
	// KeepAliveTime is how long a connection may be quiet before the client
	// pings the server (10 s if zero, gRPC's least), and KeepAliveTimeout
	// how long it waits for the answer before it moves to another endpoint
	// (5 s if zero).
	KeepAliveTime, KeepAliveTimeout time.Duration
	// RequestTimeout bounds each read and each commit (5 s if zero). A read
	// that runs out fails; a commit that runs out has an unknown outcome
	// (see ErrOutcomeUnknown).
	RequestTimeout time.Duration
	// MaxStaleness is the bound the engine keeps its change stream
	// confirmed within: it confirms every sixth of it (see Current), and
	// moves the stream off a member that does not answer (see stream.go).
	// Zero means 5 s; a negative value turns confirmation off.
	MaxStaleness time.Duration
	// prefetch lists small tables that nearly every Read reads: the first
	// read of a snapshot reads them whole in the same request, and later
	// reads of them cost nothing. Nil means the meta table (the schema, id
	// counters and audit head, read by every change); empty, none.
	prefetch []store.Table
	// readAnyMember lets a Read start from whichever member answers,
	// provided it has a leader and is no older than anything this engine
	// has written, applied or confirmed, instead of with a linearizable
	// read (a round of the leader's heartbeats to a quorum). A replica then
	// sees its own changes and never goes back in time, but may miss for a
	// moment a change another replica just made (see Read).
	readAnyMember bool
}

// TLS names the files of a TLS client. All empty: plain connections,
// unless an endpoint is an https:// URL, which is then verified against the
// system's roots.
type TLS struct {
	CAFile   string // the cluster's certificate authority
	CertFile string // the client's certificate, for client authentication
	KeyFile  string // the certificate's key
}

func (t TLS) config(endpoints []string) (*tls.Config, error) {
	if t == (TLS{}) {
		for _, ep := range endpoints {
			if strings.HasPrefix(ep, "https://") {
				return &tls.Config{MinVersion: tls.VersionTLS12}, nil
			}
		}
		return nil, nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("a TLS client certificate needs both its certificate and its key file")
	}
	info := transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile}
	return info.ClientConfig()
}

// DefaultPrefix is where a database lives when Config.Prefix is empty.
const DefaultPrefix = "/apiscopes/"

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.KeepAliveTime <= 0 {
		c.KeepAliveTime = 10 * time.Second
	}
	if c.KeepAliveTimeout <= 0 {
		c.KeepAliveTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = 5 * time.Second
	}
	if c.prefetch == nil {
		c.prefetch = []store.Table{store.TableMeta}
	}
	return c
}

var (
	_ store.Engine  = (*Engine)(nil)
	_ store.Checker = (*Engine)(nil)
)

// Engine is a database in an etcd cluster. It implements store.Engine.
type Engine struct {
	cfg       Config
	cli       *clientv3.Client
	clientCfg clientv3.Config // cli's configuration, for the stream's member's client
	prefix    string
	name      string

	ctx    context.Context // ended by Close: ends every follower and the confirmation loop
	cancel context.CancelFunc
	loops  sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	follows   map[*follower]struct{}
	advanced  chan struct{} // closed (and replaced) whenever a follower gets further
	confirmed confirmation
	stream    *streamMember // the member the change stream and confirmations use
	moves     int           // how often the stream moved off a silent member

	floor atomic.Int64 // no snapshot is older: a revision this engine wrote, applied or confirmed

	large map[store.Table]time.Time // tables found too large to read whole, and when (guarded by mu)
}

// Open connects to the cluster and checks that it answers a linearizable
// read within the dial timeout. It does not look at what is under the
// prefix: store.New does (an empty prefix becomes a new database).
func Open(cfg Config) (*Engine, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints given")
	}
	tlsCfg, err := cfg.TLS.config(cfg.Endpoints)
	if err != nil {
		return nil, fmt.Errorf("etcd TLS: %w", err)
	}
	e := &Engine{cfg: cfg, prefix: cfg.Prefix, follows: map[*follower]struct{}{}, advanced: make(chan struct{})}
	e.name = fmt.Sprintf("the etcd cluster at %s (prefix %s)", strings.Join(cfg.Endpoints, ","), cfg.Prefix)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.clientCfg = clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    cfg.KeepAliveTime,
		DialKeepAliveTimeout: cfg.KeepAliveTimeout,
		TLS:                  tlsCfg,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(), // the engine says what matters in its own errors
		Context:              e.ctx,
	}
	cli, err := clientv3.New(e.clientCfg)
	if err != nil {
		e.cancel()
		if why := dialProblem(cfg.Endpoints, tlsCfg, cfg.DialTimeout/2); why != nil {
			return nil, fmt.Errorf("connect to %s: %w", e.name, why)
		}
		if refused(err) {
			return nil, e.refusal(err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("connect to %s: no answer within %v: is the cluster running, and reachable at these endpoints?",
				e.name, cfg.DialTimeout)
		}
		return nil, fmt.Errorf("connect to %s: %w", e.name, err)
	}
	e.cli = cli
	ctx, cancel := context.WithTimeout(e.ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := e.currentRevision(ctx); err != nil {
		cli.Close()
		e.cancel()
		if refused(err) {
			return nil, e.refusal(err)
		}
		if why := dialProblem(cfg.Endpoints, tlsCfg, cfg.DialTimeout/2); why != nil {
			return nil, fmt.Errorf("connect to %s: %w", e.name, why)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s does not answer: no answer within %v (a cluster without a leader, or members too busy)",
				e.name, cfg.DialTimeout)
		}
		return nil, fmt.Errorf("%s does not answer: %w", e.name, err)
	}
	// The stream goes through one member only where confirmations can move
	// it off one that falls silent; otherwise through every endpoint, as
	// the client balances them.
	e.stream = &streamMember{cli: cli, endpoint: cfg.Endpoints[0], moved: make(chan struct{})}
	if cfg.MaxStaleness > 0 && len(cfg.Endpoints) > 1 {
		m, err := e.answering(cfg.Endpoints, cfg.DialTimeout)
		if err != nil {
			cli.Close()
			e.cancel()
			return nil, fmt.Errorf("%s: no member answers on its own: %w", e.name, err)
		}
		e.stream = m
	}
	if cfg.MaxStaleness > 0 {
		e.loops.Add(1)
		go e.confirmLoop(cfg.MaxStaleness / 3)
	}
	return e, nil
}

// OpenStore opens the database at cfg as a store: the engine, then the
// domain on it with opts, named after the cluster in messages.
func OpenStore(cfg Config, opts ...store.Option) (*store.Store, error) {
	e, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	return store.New(e, append([]store.Option{store.WithName(e.Name())}, opts...)...)
}

// Name is how messages name the database: the cluster and the prefix.
func (e *Engine) Name() string { return e.name }

// Close ends every follower and the confirmation loop, and closes the
// client. Calling it again does nothing.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	follows := make([]*follower, 0, len(e.follows))
	for f := range e.follows {
		follows = append(follows, f)
	}
	e.mu.Unlock()
	e.cancel()
	for _, f := range follows {
		<-f.done
	}
	e.loops.Wait()
	if m := e.member(); m.own {
		m.cli.Close()
	}
	return e.cli.Close()
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// request bounds one request to the cluster by the request timeout, or by
// ctx's deadline if that comes first.
func (e *Engine) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.cfg.RequestTimeout)
}

// currentRevision is the cluster's revision now, by a linearizable read.
func (e *Engine) currentRevision(ctx context.Context) (int64, error) {
	return e.revisionThrough(ctx, e.cli)
}

// revisionThrough is currentRevision read through cli.
func (e *Engine) revisionThrough(ctx context.Context, cli *clientv3.Client) (int64, error) {
	resp, err := cli.Get(ctx, e.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	e.raise(resp.Header.Revision)
	return resp.Header.Revision, nil
}

// Keys: Prefix + table + "/" + raw key.

func (e *Engine) base(t store.Table) string { return e.prefix + string(t) + "/" }

func (e *Engine) key(t store.Table, k []byte) string { return e.base(t) + string(k) }

// split is the table and raw key of a key under the prefix; ok is false
// for a key that is not a record of any table.
func (e *Engine) split(k []byte) (t store.Table, key []byte, ok bool) {
	if len(k) < len(e.prefix) || string(k[:len(e.prefix)]) != e.prefix {
		return "", nil, false
	}
	rest := k[len(e.prefix):]
	i := strings.IndexByte(string(rest), '/')
	if i <= 0 {
		return "", nil, false
	}
	return store.Table(rest[:i]), rest[i+1:], true
}

// prefixEnd is the first key after every key starting with p, which holds
// a "/" and so always has one.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00" // every key: etcd's "from key" range end
}
