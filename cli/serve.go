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
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"
	"github.com/spf13/cobra"

	"apiscopes/server"
	"apiscopes/server/api"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// serveFlags are serve's settings, each also read from APISCOPES_<FLAG>.
type serveFlags struct {
	db          database
	maxStale    time.Duration
	sshAddr     string
	admins      string
	viewers     string
	hostKey     string
	idle        time.Duration
	limits      *sshLimits
	httpAddr    string
	backupDir   string
	backupEvery time.Duration
	metricsAddr string
	gateways    gatewayFlags
	signingKey  string
}

// auditHeadEvery is how often serve logs the audit head, and signs it
// with --audit-signing-key.
const auditHeadEvery = time.Hour

// shutdownGrace is how long a stopping server waits for sessions and
// requests in flight.
const shutdownGrace = 10 * time.Second

// serveCommand is `apiscopes serve`: it runs until ctrl+c or SIGTERM;
// SIGHUP reloads the allow-lists, as it does sshd's configuration.
func (inv *invocation) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the console over SSH and the verify API over HTTP",
		Long: `One process owns the database and serves it: the console to admins over SSH, the
commands (app, key, apply, audit, usage, sessions) to scripts over SSH, and the verify
API to services over HTTP.

The allow-lists are OpenSSH authorized_keys files. A key line's comment names its
person ("Created by"); from=, expiry-time=, restrict, no-pty, pty and command= are
honoured, and a line with any other option is refused. Edits count from the next
login, and reach open sessions within seconds: a removed key's session ends, an admin
moved to the viewers goes read-only. SIGHUP reloads them at once. The SSH console
needs an allow-list: it never starts open to everyone. With --http and no allow-list,
only the verify API is served.

The verify API: POST /v1/verify {"key": "aps_…", "scope": "model:deploy"}, or
Authorization: Bearer aps_… with {"scope": "…"}; 200 allowed, 403 denied with the
reason; GET /livez, and /readyz and /healthz (the database is open and, on a cluster,
confirmed current).

Gateways (docs/gateways.md): /v1/auth answers nginx's auth_request, Caddy's
forward_auth, Traefik's ForwardAuth and Envoy's HTTP ext_authz; --grpc serves Envoy's
and Istio's ext_authz Check. The scope each request needs comes from --routes FILE, a
YAML list of {method, path, scope}; a request no route matches is refused. SIGHUP
reads the routes file and the TLS certificate again.

Stops on ctrl+c or SIGTERM: sessions get a goodbye, requests in flight finish, and the
database closes cleanly.

` + databaseNote + `

Exit status: 0 stopped cleanly, 1 failed while serving, 2 usage or environment error.`,
		Example: `  apiscopes serve --admins admins.keys --viewers viewers.keys
  apiscopes serve --http 127.0.0.1:8080 --metrics 127.0.0.1:9090
  apiscopes serve --http 127.0.0.1:8080 --routes /etc/apiscopes/routes.yaml --trusted-proxies 127.0.0.1
  ssh -p 23234 localhost sessions        # admins: the open sessions
  ssh -p 23234 localhost app list        # the commands, over SSH`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return inv.serve(cmd, hup, f)
		},
	}
	f.db.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&f.maxStale, "max-staleness", 5*time.Second, "with --etcd: how far behind the cluster a replica may be;\npast it, verify answers 503 unavailable")
	fl.StringVar(&f.sshAddr, "ssh", "127.0.0.1:23234", "SSH console address (\"\" turns it off)")
	fl.StringVar(&f.admins, "admins", "", "authorized_keys file of admins (full rights)")
	fl.StringVar(&f.viewers, "viewers", "", "authorized_keys file of viewers (read-only)")
	fl.StringVar(&f.hostKey, "host-key", "", "the ed25519 host key file, made on first start (default: beside the\ndatabase; with --etcd it must be given, the same on every replica)")
	fl.DurationVar(&f.idle, "idle-timeout", 30*time.Minute, "end SSH sessions without a keystroke this long (0 never)")
	f.limits = addSSHLimits(fl)
	fl.StringVar(&f.httpAddr, "http", "", "serve the verify API at this address, e.g. 127.0.0.1:8080 (default: off)")
	f.gateways.register(fl)
	fl.StringVar(&f.metricsAddr, "metrics", "", "Prometheus metrics at http://ADDR/metrics, with /livez and /readyz (default: off)")
	fl.StringVar(&f.backupDir, "backup-dir", "", "keep checked hot backups in this folder (default: none)")
	fl.DurationVar(&f.backupEvery, "backup-every", time.Hour, "how often to take one; the newest 7 are kept")
	fl.StringVar(&f.signingKey, "audit-signing-key", "", "sign the audit head every hour with this ed25519 key, kept outside\nthe database's folder and readable by its owner alone (default: unsigned)")
	return cmd
}

// serve opens the database and serves it until the command's context ends,
// then says goodbye to sessions, finishes requests, stops backups and
// closes the store, which writes the last-used times it holds. Each value
// on reload re-reads the allow-lists.
func (inv *invocation) serve(cmd *cobra.Command, reload <-chan os.Signal, f serveFlags) error {
	ctx := cmd.Context()
	stderr := inv.stderr
	db, maxStale, sshAddr, admins, viewers, hostKey := f.db, &f.maxStale, &f.sshAddr, &f.admins, &f.viewers, &f.hostKey
	idle, limits, httpAddr, backupDir, backupEvery, metricsAddr := &f.idle, f.limits, &f.httpAddr, &f.backupDir, &f.backupEvery, &f.metricsAddr
	grpcAddr := f.gateways.grpcAddr
	if *sshAddr == "" && *httpAddr == "" && grpcAddr == "" {
		return usagef(cmd, "nothing to serve: pass --http ADDR or --grpc ADDR, or keep --ssh on")
	}
	if *idle < 0 {
		return usagef(cmd, "--idle-timeout cannot be negative (0 means no limit)")
	}
	if err := limits.check(); err != nil {
		return usageError(cmd, err)
	}
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	if db.cluster() && *sshAddr != "" && *hostKey == "" && (*admins != "" || *viewers != "" || *httpAddr == "") {
		return usagef(cmd, "--etcd needs --host-key FILE: every replica behind a load balancer "+
			"must show the same host key, or SSH clients see it change")
	}
	if *maxStale <= 0 {
		return usagef(cmd, "--max-staleness must be positive, e.g. 5s")
	}
	if *backupDir != "" && *backupEvery <= 0 {
		return usagef(cmd, "--backup-every %v: give a positive interval, e.g. 1h", *backupEvery)
	}
	gw, err := f.gateways.load(cmd.Flags(), *httpAddr)
	if err != nil {
		return usageError(cmd, err)
	}
	var signingKey ed25519.PrivateKey
	if f.signingKey != "" {
		dir := "" // a cluster has no folder
		if !db.cluster() {
			path, err := dbPath(db.path)
			if err != nil {
				return usageError(cmd, err)
			}
			dir = filepath.Dir(path)
		}
		if signingKey, err = store.LoadSigningKey(f.signingKey, dir); err != nil {
			return usageError(cmd, err)
		}
	}
	logger := log.NewWithOptions(stderr, log.Options{ReportTimestamp: true, Prefix: "apiscopes"})

	// Go's memory limit first, so the collector keeps to it while the
	// database loads: --memory-limit, GOMEMLIMIT, or the cgroup's.
	if limit, from, err := server.SetMemoryLimit(limits.memoryLimit); err != nil {
		logger.Warn("cannot read the cgroup's memory limit: no memory budget; give one with --memory-limit", "err", err)
	} else if limit > 0 {
		limits.memoryLimit = limit
		logger.Info("memory limit", "limit", fmt.Sprintf("%d MiB", limit>>20), "from", from)
	}

	// With only --http (or --grpc), the verify API runs alone; the SSH
	// console needs an allow-list, and without one it is off rather than open.
	if (*httpAddr != "" || grpcAddr != "") && *admins == "" && *viewers == "" {
		*sshAddr = ""
	}
	var allow *server.AllowList
	if *sshAddr != "" {
		var err error
		if allow, err = server.NewAllowList(*admins, *viewers); errors.Is(err, server.ErrNoAllowList) {
			logger.Error("refusing to start an open server", "err", err,
				"hint", "list admins with --admins FILE, or serve only the verify API with --http ADDR")
			return exit(2)
		} else if err != nil {
			logger.Error("refusing to start: an allow-list cannot be used as it is", "err", err)
			return exit(2)
		}
	}
	var st *store.Store
	var closeDB func() error
	var lead func() bool // on a cluster: whether this replica does the housekeeping
	if db.cluster() {
		var err error
		electionFailed := func(err error) {
			logger.Warn("this replica cannot take part in the housekeeping election, so it will not delete rolled keys "+
				"or take backups; another replica may", "err", err,
				"hint", "give apiscopes' etcd user readwrite on that prefix as well as on the database's")
		}
		if st, lead, err = db.openReplica(*maxStale, electionFailed); err != nil {
			logger.Error("cannot open the database", "err", err)
			return exit(1)
		}
		defer st.Close()
		closeDB = st.Close
		logger.Info("replica", "db", st.Name(), "max-staleness", *maxStale)
	} else {
		h, err := inv.openHolder(db.path)
		if err != nil {
			return fail(ExitRefused, err)
		}
		defer h.Close()
		st, closeDB = h.Store(), h.Close
		if sock, err := h.Listening(); err != nil {
			logger.Warn("verify, audit, backup and check on this machine cannot reach the server", "err", err)
		} else {
			logger.Info("local commands", "socket", sock)
		}
	}

	failed := make(chan error, 4)
	var stops []func(context.Context) error
	var metrics *api.Metrics // nil without --metrics: every recording is then a no-op
	if *metricsAddr != "" {
		metrics = api.NewMetrics(st)
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			logger.Error("cannot listen on "+*metricsAddr+"; choose another address with --metrics", "err", err)
			return exit(1)
		}
		srv := api.NewMetricsServer(*metricsAddr, metrics, st, slog.New(logger))
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("metrics: %w", err)
			}
		}()
		stops = append(stops, srv.Shutdown)
		logger.Info("metrics ready", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	var sshSrv *server.SSH

	if *sshAddr != "" {
		if *hostKey == "" {
			*hostKey = filepath.Join(filepath.Dir(st.Name()), "ssh_host_ed25519_key")
		}
		cfg := server.Config{Addr: *sshAddr, HostKeyPath: *hostKey, Allow: allow, IdleTimeout: *idle, Log: logger,
			Commands: sshCommands(st)}
		limits.apply(&cfg)
		srv, err := server.NewSSH(st, cfg)
		if err != nil {
			logger.Error("cannot start the SSH console", "err", err)
			return exit(1)
		}
		ln, err := net.Listen("tcp", *sshAddr)
		if err != nil {
			logger.Error("cannot listen; choose another address with --ssh", "addr", *sshAddr, "err", err)
			return exit(1)
		}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, ssh.ErrServerClosed) {
				failed <- fmt.Errorf("ssh: %w", err)
			}
		}()
		stops = append(stops, srv.Shutdown)
		sshSrv = srv
		metrics.CountSessions(srv.OpenSessions)
		metrics.CountRefusedLogins(func() uint64 { return srv.Refusals().Total })
		metrics.CountSSHLinesLeftOut(func() uint64 { return srv.Refusals().Suppressed })
		nAdmins, nViewers := allow.Size()
		logger.Info("SSH console ready", "addr", ln.Addr().String(), "admins", nAdmins, "viewers", nViewers)
		if cfg.MemoryLimit > 0 {
			_, keys := st.Size()
			logger.Info("SSH sessions within the memory limit", "sessions", server.SessionsWithin(cfg.MemoryLimit, keys, cfg.MaxPTY),
				"keys", keys, "max-pty", cfg.MaxPTY.String(), "session", fmt.Sprintf("%d MiB", server.SessionBytes(cfg.MaxPTY)>>20))
		}
		logger.Info("host key", "fingerprint", srv.Fingerprint(), "file", *hostKey)
		for _, p := range allow.Problems() {
			logger.Warn("allow-list", "problem", p)
		}
	}

	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			logger.Error("cannot listen on "+*httpAddr+"; choose another address with --http", "err", err)
			return exit(1)
		}
		srv := api.New(*httpAddr, st, slog.New(logger), append(gw.httpOptions(), api.WithMetrics(metrics),
			api.WithLogLimits(limits.logPerSource, limits.logRefusals))...)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("http: %w", err)
			}
		}()
		stops = append(stops, srv.Shutdown)
		logger.Info("verify API ready", "url", gw.scheme()+"://"+ln.Addr().String()+"/v1/verify")
		bounds := srv.Limits()
		logger.Info("HTTP bounds", "max-conns", bounds.Max, "per-source", bounds.MaxPerSource,
			"idle-timeout", bounds.Idle, "trusted-proxies", gw.proxies.Len())
		if gw.routes != nil {
			logger.Info("forward-auth ready", "url", gw.scheme()+"://"+ln.Addr().String()+api.AuthPath,
				"routes", gw.routes.Path(), "count", gw.routes.Len(), "scope-header", f.gateways.scopeHeader)
		}
	}
	grpcSrv, err := gw.serveGRPC(st, logger, metrics, limits.logPerSource, limits.logRefusals, failed)
	if err != nil {
		logger.Error("cannot start ext_authz", "err", err)
		return exit(1)
	}
	if grpcSrv != nil {
		stops = append(stops, grpcSrv.Shutdown)
	}

	stopBackups := func() {}
	if *backupDir != "" {
		bctx, cancel := context.WithCancel(context.Background())
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			bolt.KeepBackupsWhile(bctx, st, *backupDir, *backupEvery, 0, lead, func(path string, err error) {
				if err != nil {
					logger.Error("backup failed", "dir", *backupDir, "err", err)
					return
				}
				metrics.BackupTaken(time.Now())
				logger.Info("backup", "file", path)
			})
		}()
		stopBackups = func() { cancel(); <-finished }
		logger.Info("hot backups", "dir", *backupDir, "every", *backupEvery)
	}
	// Every hour the audit head goes to the log (and is signed, with
	// --audit-signing-key), for monitoring to keep a copy elsewhere.
	hctx, stopHeadsNow := context.WithCancel(context.Background())
	headsStopped := make(chan struct{})
	go func() {
		defer close(headsStopped)
		st.KeepHeads(hctx, auditHeadEvery, signingKey, lead, func(h store.SignedHead, err error) {
			if err != nil {
				logger.Error("cannot keep the audit head", "err", err)
				return
			}
			logger.Info("audit head", "event", h.Seq, "sha256", h.Hash, "signed", h.Sig != nil)
			metrics.AuditHead(h.Seq)
		})
	}()
	stopHeads := func() { stopHeadsNow(); <-headsStopped }
	if signingKey != nil {
		logger.Info("audit heads signed", "key", store.KeyFingerprint(signingKey.Public().(ed25519.PublicKey)),
			"every", auditHeadEvery)
	}
	logger.Info("serving", "db", st.Name())

	// A replica says when it stops being able to answer truthfully, and
	// when it can again: the operator sees the 503s' cause and their end.
	var readiness <-chan time.Time
	ready := false
	if db.cluster() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		readiness = t.C
	}

	code := 0
wait:
	for {
		select {
		case <-readiness:
			now := st.Ready()
			switch {
			case now && !ready:
				logger.Info("replica current: it answers verify")
			case !now && ready:
				logger.Warn("replica unavailable: it cannot confirm its keys are current within --max-staleness, "+
					"so verify answers 503 until it can", "max-staleness", *maxStale)
			}
			ready = now
		case <-ctx.Done():
			logger.Info("shutting down")
			break wait
		case err := <-failed:
			logger.Error("stopped", "err", err)
			code = 1
			break wait
		case <-reload:
			gw.reload(logger)
			if sshSrv == nil {
				logger.Info("SIGHUP: no allow-lists to reload: the SSH console is off")
				continue
			}
			logger.Info("SIGHUP: reloading the allow-lists")
			sshSrv.Reload() // logs what changed, or why the list in force stays
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, stop := range stops {
		if err := stop(stopCtx); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			logger.Warn("shutdown cut sessions or requests short", "err", err)
		}
	}
	stopBackups() // before the database closes
	stopHeads()
	if err := closeDB(); err != nil {
		logger.Error("closing the database", "err", err)
		return exit(1)
	}
	logger.Info("stopped; database closed cleanly", "db", st.Name())
	if code != 0 {
		return exit(code)
	}
	return nil
}
