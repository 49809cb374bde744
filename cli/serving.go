package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"
	"github.com/spf13/cobra"

	"apiscopes/server"
	"apiscopes/server/api"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// serving is one run of serve: what it opened and started, so that it
// stops them again in the right order. Each step is a method: check the
// flags, open the database, start each listener (each adding its stop),
// start the background work, wait, stop.
type serving struct {
	f          serveFlags
	log        *log.Logger
	gw         *gateways
	allow      *server.AllowList
	signingKey ed25519.PrivateKey

	st      *store.Store
	closeDB func() error
	lead    func() bool // on a cluster: whether this replica does the housekeeping
	metrics *api.Metrics

	ssh        *server.SSH
	failed     chan error                    // a listener that stopped serving
	stops      []func(context.Context) error // the listeners', in the order they started
	background []func()                      // the background work's, in the order it started
}

// prepareServing checks serve's flags together and reads what they name
// (allow-lists, routes, certificates, the signing key): any problem stops
// serve before it opens the database, with exit status 2.
func (inv *invocation) prepareServing(cmd *cobra.Command, f serveFlags) (*serving, error) {
	switch {
	case f.sshAddr == "" && f.httpAddr == "" && f.gateways.grpcAddr == "":
		return nil, usagef(cmd, "nothing to serve: pass --http ADDR or --grpc ADDR, or keep --ssh on")
	case f.idle < 0:
		return nil, usagef(cmd, "--idle-timeout cannot be negative (0 means no limit)")
	case f.maxStale <= 0:
		return nil, usagef(cmd, "--max-staleness must be positive, e.g. 5s")
	case f.backupDir != "" && f.backupEvery <= 0:
		return nil, usagef(cmd, "--backup-every %v: give a positive interval, e.g. 1h", f.backupEvery)
	}
	if err := f.limits.check(); err != nil {
		return nil, usageError(cmd, err)
	}
	if err := f.db.check(); err != nil {
		return nil, usageError(cmd, err)
	}
	if f.db.cluster() && f.sshAddr != "" && f.hostKey == "" && (f.admins != "" || f.viewers != "" || f.httpAddr == "") {
		return nil, usagef(cmd, "--etcd needs --host-key FILE: every replica behind a load balancer "+
			"must show the same host key, or SSH clients see it change")
	}
	s := &serving{f: f, failed: make(chan error, 4),
		log: log.NewWithOptions(inv.stderr, log.Options{ReportTimestamp: true, Prefix: "apiscopes"})}
	var err error
	if s.gw, err = f.gateways.load(cmd.Flags(), f.httpAddr); err != nil {
		return nil, usageError(cmd, err)
	}
	if f.signingKey != "" {
		dir := "" // a cluster has no folder
		if !f.db.cluster() {
			path, err := dbPath(f.db.path)
			if err != nil {
				return nil, usageError(cmd, err)
			}
			dir = filepath.Dir(path)
		}
		if s.signingKey, err = store.LoadSigningKey(f.signingKey, dir); err != nil {
			return nil, usageError(cmd, err)
		}
	}
	// With only --http (or --grpc), the verify API runs alone; the SSH
	// console needs an allow-list, and without one it is off rather than open.
	if (f.httpAddr != "" || f.gateways.grpcAddr != "") && f.admins == "" && f.viewers == "" {
		s.f.sshAddr = ""
	}
	if s.f.sshAddr != "" {
		if s.allow, err = server.NewAllowList(f.admins, f.viewers); errors.Is(err, server.ErrNoAllowList) {
			s.log.Error("refusing to start an open server", "err", err,
				"hint", "list admins with --admins FILE, or serve only the verify API with --http ADDR")
			return nil, exit(ExitUsage)
		} else if err != nil {
			s.log.Error("refusing to start: an allow-list cannot be used as it is", "err", err)
			return nil, exit(ExitUsage)
		}
	}
	s.setMemoryLimit()
	if err := inv.openServed(s); err != nil {
		return nil, err
	}
	return s, nil
}

// setMemoryLimit sets Go's memory limit before the database loads, so the
// collector keeps to it: --memory-limit, GOMEMLIMIT, or the cgroup's.
func (s *serving) setMemoryLimit() {
	limits := s.f.limits
	if limit, from, err := server.SetMemoryLimit(limits.memoryLimit); err != nil {
		s.log.Warn("cannot read the cgroup's memory limit: no memory budget; give one with --memory-limit", "err", err)
	} else if limit > 0 {
		limits.memoryLimit = limit
		s.log.Info("memory limit", "limit", fmt.Sprintf("%d MiB", limit>>20), "from", from)
	}
}

// openServed opens the database serve owns: a replica on a cluster, or the
// file, held (and answering the commands of this machine beside it).
func (inv *invocation) openServed(s *serving) error {
	db := s.f.db
	if db.cluster() {
		electionFailed := func(err error) {
			s.log.Warn("this replica cannot take part in the housekeeping election, so it will not delete rolled keys "+
				"or take backups; another replica may", "err", err,
				"hint", "give apiscopes' etcd user readwrite on that prefix as well as on the database's")
		}
		st, lead, err := db.openReplica(s.f.maxStale, electionFailed, store.WithLogger(slog.New(s.log)))
		if err != nil {
			s.log.Error("cannot open the database", "err", err)
			return exit(ExitRefused)
		}
		s.st, s.closeDB, s.lead = st, st.Close, lead
		s.log.Info("replica", "db", st.Name(), "max-staleness", s.f.maxStale)
		return nil
	}
	h, err := inv.openHolder(db.path, store.WithLogger(slog.New(s.log)))
	if err != nil {
		return fail(ExitRefused, err)
	}
	s.st, s.closeDB = h.Store(), h.Close
	if sock, err := h.Listening(); err != nil {
		s.log.Warn("verify, audit, backup and check on this machine cannot reach the server", "err", err)
	} else {
		s.log.Info("local commands", "socket", sock)
	}
	return nil
}

// start starts every listener and the background work; an error has been
// logged, and what had started is stopped by stop.
func (s *serving) start() error {
	for _, step := range []func() error{s.startMetrics, s.startSSH, s.startHTTP, s.startGRPC} {
		if err := step(); err != nil {
			return err
		}
	}
	s.startBackups()
	s.keepHeads()
	s.reportCheck()
	s.log.Info("serving", "db", s.st.Name())
	return nil
}

// reportCheck logs how the database's check, which runs behind the loaded
// index, ends: until it has passed nothing is written (changes wait), and
// damage makes every check answer 503 damaged (the store logs it).
func (s *serving) reportCheck() {
	if !s.st.Checking() {
		return
	}
	start := time.Now()
	s.log.Info("checking the database in the background; changes wait for it", "db", s.st.Name())
	s.runInBackground(func(ctx context.Context) {
		select {
		case <-s.st.Checked():
			if s.st.Damaged() == nil && s.st.IsOpen() {
				s.log.Info("database checked", "db", s.st.Name(), "took", time.Since(start).Round(time.Millisecond))
			}
		case <-ctx.Done():
		}
	})
}

// serveOn runs serve on ln in the background, reporting a stop that was
// not asked for on s.failed, and adds stop to what stop calls.
func (s *serving) serveOn(what string, serve func() error, closed error, stop func(context.Context) error) {
	go func() {
		if err := serve(); !errors.Is(err, closed) {
			s.failed <- fmt.Errorf("%s: %w", what, err)
		}
	}()
	s.stops = append(s.stops, stop)
}

// listen listens on addr, or logs why not naming the flag to change.
func (s *serving) listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.log.Error("cannot listen on "+addr+"; choose another address with --"+flag, "err", err)
	}
	return ln, err
}

// startMetrics serves Prometheus metrics and the probes with --metrics;
// without it every recording is a no-op (a nil *api.Metrics).
func (s *serving) startMetrics() error {
	if s.f.metricsAddr == "" {
		return nil
	}
	s.metrics = api.NewMetrics(s.st)
	ln, err := s.listen(s.f.metricsAddr, "metrics")
	if err != nil {
		return err
	}
	srv := api.NewMetricsServer(s.f.metricsAddr, s.metrics, s.st, slog.New(s.log))
	s.serveOn("metrics", func() error { return srv.Serve(ln) }, http.ErrServerClosed, srv.Shutdown)
	s.log.Info("metrics ready", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// startSSH serves the console and the commands to the allow-lists' people.
func (s *serving) startSSH() error {
	if s.f.sshAddr == "" {
		return nil
	}
	hostKey := s.f.hostKey
	if hostKey == "" {
		hostKey = filepath.Join(filepath.Dir(s.st.Name()), "ssh_host_ed25519_key")
	}
	cfg := server.Config{Addr: s.f.sshAddr, HostKeyPath: hostKey, Allow: s.allow, IdleTimeout: s.f.idle, Log: s.log,
		Commands: sshCommands(s.st)}
	s.f.limits.apply(&cfg)
	srv, err := server.NewSSH(s.st, cfg)
	if err != nil {
		s.log.Error("cannot start the SSH console", "err", err)
		return err
	}
	ln, err := s.listen(s.f.sshAddr, "ssh")
	if err != nil {
		return err
	}
	s.serveOn("ssh", func() error { return srv.Serve(ln) }, ssh.ErrServerClosed, srv.Shutdown)
	s.ssh = srv
	s.metrics.CountSessions(srv.OpenSessions)
	s.metrics.CountRefusedLogins(func() uint64 { return srv.Refusals().Total })
	s.metrics.CountSSHLinesLeftOut(func() uint64 { return srv.Refusals().Suppressed })
	nAdmins, nViewers := s.allow.Size()
	s.log.Info("SSH console ready", "addr", ln.Addr().String(), "admins", nAdmins, "viewers", nViewers)
	if cfg.MemoryLimit > 0 {
		_, keys := s.st.Size()
		s.log.Info("SSH sessions within the memory limit", "sessions", server.SessionsWithin(cfg.MemoryLimit, keys, cfg.MaxPTY),
			"keys", keys, "max-pty", cfg.MaxPTY.String(), "session", fmt.Sprintf("%d MiB", server.SessionBytes(cfg.MaxPTY)>>20))
	}
	s.log.Info("host key", "fingerprint", srv.Fingerprint(), "file", hostKey)
	for _, p := range s.allow.Problems() {
		s.log.Warn("allow-list", "problem", p)
	}
	return nil
}

// startHTTP serves the verify API, and forward-auth with --routes.
func (s *serving) startHTTP() error {
	if s.f.httpAddr == "" {
		return nil
	}
	ln, err := s.listen(s.f.httpAddr, "http")
	if err != nil {
		return err
	}
	limits := s.f.limits
	srv := api.New(s.f.httpAddr, s.st, slog.New(s.log), append(s.gw.httpOptions(), api.WithMetrics(s.metrics),
		api.WithLogLimits(limits.logPerSource, limits.logRefusals))...)
	s.serveOn("http", func() error { return srv.Serve(ln) }, http.ErrServerClosed, srv.Shutdown)
	s.log.Info("verify API ready", "url", s.gw.scheme()+"://"+ln.Addr().String()+"/v1/verify")
	bounds := srv.Limits()
	s.log.Info("HTTP bounds", "max-conns", bounds.Max, "per-source", bounds.MaxPerSource,
		"idle-timeout", bounds.Idle, "trusted-proxies", s.gw.proxies.Len())
	if s.gw.routes != nil {
		s.log.Info("forward-auth ready", "url", s.gw.scheme()+"://"+ln.Addr().String()+api.AuthPath,
			"routes", s.gw.routes.Path(), "count", s.gw.routes.Len(), "scope-header", s.f.gateways.scopeHeader)
	}
	return nil
}

// startGRPC serves Envoy's ext_authz Check with --grpc.
func (s *serving) startGRPC() error {
	limits := s.f.limits
	srv, err := s.gw.serveGRPC(s.st, s.log, s.metrics, limits.logPerSource, limits.logRefusals, s.failed)
	if err != nil {
		s.log.Error("cannot start ext_authz", "err", err)
		return err
	}
	if srv != nil {
		s.stops = append(s.stops, srv.Shutdown)
	}
	return nil
}

// runInBackground runs work until its context ends; the stop it adds waits for
// it to return.
func (s *serving) runInBackground(work func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		work(ctx)
	}()
	s.background = append(s.background, func() { cancel(); <-finished })
}

// startBackups keeps checked hot backups with --backup-dir.
func (s *serving) startBackups() {
	dir, every := s.f.backupDir, s.f.backupEvery
	if dir == "" {
		return
	}
	s.runInBackground(func(ctx context.Context) {
		bolt.KeepBackupsWhile(ctx, s.st, dir, every, 0, s.lead, func(path string, err error) {
			if err != nil {
				s.log.Error("backup failed", "dir", dir, "err", err)
				return
			}
			s.metrics.BackupTaken(time.Now())
			s.log.Info("backup", "file", path)
		})
	})
	s.log.Info("hot backups", "dir", dir, "every", every)
}

// keepHeads puts the audit head in the log and the metrics every hour (and
// signs it with --audit-signing-key), for monitoring to keep a copy
// elsewhere.
func (s *serving) keepHeads() {
	s.runInBackground(func(ctx context.Context) {
		s.st.KeepHeads(ctx, auditHeadEvery, s.signingKey, s.lead, func(h store.SignedHead, err error) {
			if err != nil {
				s.log.Error("cannot keep the audit head", "err", err)
				return
			}
			s.log.Info("audit head", "event", h.Seq, "sha256", h.Hash, "signed", h.Sig != nil)
			s.metrics.AuditHead(h.Seq)
		})
	})
	if s.signingKey != nil {
		s.log.Info("audit heads signed", "key", store.KeyFingerprint(s.signingKey.Public().(ed25519.PublicKey)),
			"every", auditHeadEvery)
	}
}

// wait serves until ctx ends (exit 0) or a listener fails (1); SIGHUP on
// reload puts edited allow-lists, routes and certificates in force. A
// replica says when it stops being able to answer truthfully, and when it
// can again: the operator sees the 503s' cause and their end.
func (s *serving) wait(ctx context.Context, reload <-chan os.Signal) int {
	var readiness <-chan time.Time
	ready, behind, outdated := false, s.st.Behind() != nil, false
	if s.f.db.cluster() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		readiness = t.C
	}
	for {
		select {
		case <-readiness:
			now := s.st.Ready()
			if err := s.st.Outdated(); err != nil && !outdated {
				outdated = true
				s.log.Error("replica outdated: the database was upgraded to a schema this apiscopes does not know, "+
					"so verify answers 503 upgrade_required and nothing changes here until this replica is upgraded", "err", err)
			}
			if behind && s.st.Behind() == nil {
				behind = false
				s.log.Info("the database was upgraded to this version's schema: changes are made here again")
			}
			switch {
			case outdated:
			case now && !ready:
				s.log.Info("replica current: it answers verify")
			case !now && ready:
				s.log.Warn("replica unavailable: it cannot confirm its keys are current within --max-staleness, "+
					"so verify answers 503 until it can", "max-staleness", s.f.maxStale)
			}
			ready = now
		case <-ctx.Done():
			s.log.Info("shutting down")
			return ExitOK
		case err := <-s.failed:
			s.log.Error("stopped", "err", err)
			return ExitRefused
		case <-reload:
			s.gw.reload(s.log)
			if s.ssh == nil {
				s.log.Info("SIGHUP: no allow-lists to reload: the SSH console is off")
				continue
			}
			s.log.Info("SIGHUP: reloading the allow-lists")
			s.ssh.Reload() // logs what changed, or why the list in force stays
		}
	}
}

// stop says goodbye to sessions, finishes requests within shutdownGrace,
// stops the background work and closes the database.
func (s *serving) stop() error {
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, stop := range s.stops {
		if err := stop(stopCtx); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			s.log.Warn("shutdown cut sessions or requests short", "err", err)
		}
	}
	for _, stop := range s.background { // before the database closes
		stop()
	}
	if err := s.closeDB(); err != nil {
		s.log.Error("closing the database", "err", err)
		return err
	}
	s.log.Info("stopped; database closed cleanly", "db", s.st.Name())
	return nil
}
