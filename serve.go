package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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

	"apiscopes/server"
	"apiscopes/server/api"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

const serveUsage = `Usage: apiscopes serve [flags]

One process owns the database and serves it: the console to admins over SSH,
and the verify API to services over HTTP.

Flags (each also read from APISCOPES_<FLAG>, e.g. APISCOPES_ADMINS):
  --db PATH              database file (default: as for the console)
  --etcd ENDPOINTS       serve a database in an etcd cluster instead: any number of
                         replicas on one cluster (see --etcd-prefix, TLS and auth
                         flags in apiscopes -h); needs --host-key
  --max-staleness DUR    with --etcd: how far behind the cluster a replica may be;
                         past it, verify answers 503 unavailable (default 5s)
  --ssh ADDR             SSH console address (default 127.0.0.1:23234; "" turns it off)
  --admins FILE          authorized_keys file of admins (full rights)
  --viewers FILE         authorized_keys file of viewers (read-only)
  --host-key FILE        ed25519 host key, made on first start (default: beside the database)
  --idle-timeout DUR     end SSH sessions without a keystroke this long (default 30m; 0 never)
  --max-session-time DUR end any SSH session this long after it began (default 12h)
  --max-sessions N       SSH sessions open at once (default 32; 0 no limit)
  --admin-slots N        of those, how many only admins may take (default 4)
  --max-sessions-per-user N
                         sessions one person may have open at once (default 4)
  --max-pty COLSxROWS    largest terminal a session is drawn for (default 500x200)
  --handshake-timeout DUR
                         close a connection not logged in this long after it opened (default 10s)
  --max-unauthenticated N
                         connections not logged in yet at once; more are closed as they
                         arrive (default 64)
  --log-refusals N       refusals logged a second by the SSH console and by the verify
                         API, each (default 20; 0 no limit), and
  --log-refusals-per-source N
                         from one address (default 2); the rest are counted
  --http ADDR            the verify API, e.g. 127.0.0.1:8080 (default: off):
                         POST /v1/verify {"key": "aps_…", "scope": "model:deploy"}
                         or Authorization: Bearer aps_… with {"scope": "…"};
                         200 allowed, 403 denied with the reason;
                         GET /livez, and /readyz and /healthz (the database is open
                         and, on a cluster, confirmed current)
  --metrics ADDR         Prometheus metrics at http://ADDR/metrics, with /livez and /readyz (default: off)
  --backup-dir DIR       keep checked hot backups here (default: none)
  --backup-every DUR     how often to take one (default 1h); the newest 7 are kept

The allow-lists are OpenSSH authorized_keys files. A key line's comment names
its person ("Created by"); from=, expiry-time=, restrict, no-pty and pty are
honoured, and a line with any other option is refused. Edits count from the
next login, and reach open sessions within seconds: a removed key's session
ends, an admin moved to the viewers goes read-only. SIGHUP reloads them at
once. The SSH console needs an allow-list: it never starts open to everyone.
With --http and no allow-list, only the verify API is served.
Admins list the open sessions with: ssh -p PORT HOST sessions
Stops on ctrl+c or SIGTERM: sessions get a goodbye, requests in flight
finish, and the database closes cleanly.
`

// shutdownGrace is how long a stopping server waits for sessions and
// requests in flight.
const shutdownGrace = 10 * time.Second

// serveCommand runs serve until the process is interrupted or terminated;
// SIGHUP reloads the allow-lists, as it does sshd's configuration.
func serveCommand(args []string, db database, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, hup, args, db, stdout, stderr)
}

// serve opens the database and serves it until ctx ends, then says goodbye
// to sessions, finishes requests, stops backups and closes the store, which
// writes the last-used times it holds. Each value on reload re-reads the
// allow-lists.
func serve(ctx context.Context, reload <-chan os.Signal, args []string, db database, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve")
	db.register(fs)
	maxStale := fs.Duration("max-staleness", 5*time.Second, "")
	sshAddr := fs.String("ssh", "127.0.0.1:23234", "")
	admins := fs.String("admins", "", "")
	viewers := fs.String("viewers", "", "")
	hostKey := fs.String("host-key", "", "")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "")
	limits := addSSHLimits(fs)
	httpAddr := fs.String("http", "", "")
	backupDir := fs.String("backup-dir", "", "")
	backupEvery := fs.Duration("backup-every", time.Hour, "")
	metricsAddr := fs.String("metrics", "", "")
	if code, ok := parseSub(fs, args, 0, 0, serveUsage, stdout, stderr); !ok {
		return code
	}
	if *sshAddr == "" && *httpAddr == "" {
		fmt.Fprintf(stderr, "apiscopes serve: nothing to serve: pass --http ADDR, or keep --ssh on\n\n%s", serveUsage)
		return 2
	}
	if *idle < 0 {
		fmt.Fprintf(stderr, "apiscopes serve: --idle-timeout cannot be negative (0 means no limit)\n")
		return 2
	}
	if err := limits.check(); err != nil {
		fmt.Fprintf(stderr, "apiscopes serve: %v\n", err)
		return 2
	}
	if err := db.check(); err != nil {
		fmt.Fprintf(stderr, "apiscopes serve: %v\n", err)
		return 2
	}
	if db.cluster() && *sshAddr != "" && *hostKey == "" && (*admins != "" || *viewers != "" || *httpAddr == "") {
		fmt.Fprintln(stderr, "apiscopes serve: --etcd needs --host-key FILE: every replica behind a load balancer "+
			"must show the same host key, or SSH clients see it change")
		return 2
	}
	if *maxStale <= 0 {
		fmt.Fprintln(stderr, "apiscopes serve: --max-staleness must be positive, e.g. 5s")
		return 2
	}
	if *backupDir != "" && *backupEvery <= 0 {
		fmt.Fprintf(stderr, "apiscopes serve: --backup-every %v: give a positive interval, e.g. 1h\n", *backupEvery)
		return 2
	}
	logger := log.NewWithOptions(stderr, log.Options{ReportTimestamp: true, Prefix: "apiscopes"})

	// With only --http, the verify API runs alone; the SSH console needs an
	// allow-list, and without one it is off rather than open.
	if *httpAddr != "" && *admins == "" && *viewers == "" {
		*sshAddr = ""
	}
	var allow *server.AllowList
	if *sshAddr != "" {
		var err error
		if allow, err = server.NewAllowList(*admins, *viewers); errors.Is(err, server.ErrNoAllowList) {
			logger.Error("refusing to start an open server", "err", err,
				"hint", "list admins with --admins FILE, or serve only the verify API with --http ADDR")
			return 2
		} else if err != nil {
			logger.Error("refusing to start: an allow-list cannot be used as it is", "err", err)
			return 2
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
			return 1
		}
		defer st.Close()
		closeDB = st.Close
		logger.Info("replica", "db", st.Name(), "max-staleness", *maxStale)
	} else {
		h, code, msg := openStore(db.path, stderr)
		if h == nil {
			fmt.Fprintln(stderr, msg)
			return code
		}
		defer h.Close()
		st, closeDB = h.Store(), h.Close
		if sock, err := h.Listening(); err != nil {
			logger.Warn("verify, audit, backup and check on this machine cannot reach the server", "err", err)
		} else {
			logger.Info("local commands", "socket", sock)
		}
	}

	failed := make(chan error, 3)
	var stops []func(context.Context) error
	var metrics *api.Metrics // nil without --metrics: every recording is then a no-op
	if *metricsAddr != "" {
		metrics = api.NewMetrics(st)
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			logger.Error("cannot listen on "+*metricsAddr+"; choose another address with --metrics", "err", err)
			return 1
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
		cfg := server.Config{Addr: *sshAddr, HostKeyPath: *hostKey, Allow: allow, IdleTimeout: *idle, Log: logger}
		limits.apply(&cfg)
		srv, err := server.NewSSH(st, cfg)
		if err != nil {
			logger.Error("cannot start the SSH console", "err", err)
			return 1
		}
		ln, err := net.Listen("tcp", *sshAddr)
		if err != nil {
			logger.Error("cannot listen; choose another address with --ssh", "addr", *sshAddr, "err", err)
			return 1
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
		logger.Info("host key", "fingerprint", srv.Fingerprint(), "file", *hostKey)
		for _, p := range allow.Problems() {
			logger.Warn("allow-list", "problem", p)
		}
	}

	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			logger.Error("cannot listen on "+*httpAddr+"; choose another address with --http", "err", err)
			return 1
		}
		srv := api.New(*httpAddr, st, slog.New(logger), api.WithMetrics(metrics),
			api.WithLogLimits(limits.logPerSource, limits.logRefusals))
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("http: %w", err)
			}
		}()
		stops = append(stops, srv.Shutdown)
		logger.Info("verify API ready", "url", "http://"+ln.Addr().String()+"/v1/verify")
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

	exit := 0
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
			exit = 1
			break wait
		case <-reload:
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
	if err := closeDB(); err != nil {
		logger.Error("closing the database", "err", err)
		return 1
	}
	logger.Info("stopped; database closed cleanly", "db", st.Name())
	return exit
}
