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
	"apiscopes/store/bolt"
)

const serveUsage = `Usage: apiscopes serve [flags]

One process owns the database and serves it: the console to admins over SSH,
and the verify API to services over HTTP.

Flags (each also read from APISCOPES_<FLAG>, e.g. APISCOPES_ADMINS):
  --db PATH              database file (default: as for the console)
  --ssh ADDR             SSH console address (default 127.0.0.1:23234; "" turns it off)
  --admins FILE          authorized_keys file of admins (full rights)
  --viewers FILE         authorized_keys file of viewers (read-only)
  --host-key FILE        ed25519 host key, made on first start (default: beside the database)
  --idle-timeout DUR     end SSH sessions without a keystroke this long (default 30m; 0 never)
  --max-sessions N       SSH sessions open at once (default 32; 0 no limit)
  --http ADDR            the verify API, e.g. 127.0.0.1:8080 (default: off):
                         POST /v1/verify {"key": "aps_…", "scope": "model:deploy"}
                         or Authorization: Bearer aps_… with {"scope": "…"};
                         200 allowed, 403 denied with the reason; GET /healthz
  --backup-dir DIR       keep checked hot backups here (default: none)
  --backup-every DUR     how often to take one (default 1h); the newest 7 are kept

A key line's comment names its person ("Created by"); without one, the SSH
user name does. Edits to the allow-list files count from the next login.
The SSH console needs an allow-list: it never starts open to everyone. With
--http and no allow-list, only the verify API is served.
Stops on ctrl+c or SIGTERM: sessions get a goodbye, requests in flight
finish, and the database closes cleanly.
`

// shutdownGrace is how long a stopping server waits for sessions and
// requests in flight.
const shutdownGrace = 10 * time.Second

// serveCommand runs serve until the process is interrupted or terminated.
func serveCommand(args []string, db string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, db, stdout, stderr)
}

// serve opens the database and serves it until ctx ends, then says goodbye
// to sessions, finishes requests, stops backups and closes the store, which
// writes the last-used times it holds.
func serve(ctx context.Context, args []string, db string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve")
	fs.StringVar(&db, "db", db, "")
	sshAddr := fs.String("ssh", "127.0.0.1:23234", "")
	admins := fs.String("admins", "", "")
	viewers := fs.String("viewers", "", "")
	hostKey := fs.String("host-key", "", "")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "")
	maxSessions := fs.Int("max-sessions", 32, "")
	httpAddr := fs.String("http", "", "")
	backupDir := fs.String("backup-dir", "", "")
	backupEvery := fs.Duration("backup-every", time.Hour, "")
	if code, ok := parseSub(fs, args, 0, 0, serveUsage, stdout, stderr); !ok {
		return code
	}
	if *sshAddr == "" && *httpAddr == "" {
		fmt.Fprintf(stderr, "apiscopes serve: nothing to serve: pass --http ADDR, or keep --ssh on\n\n%s", serveUsage)
		return 2
	}
	if *maxSessions < 0 || *idle < 0 {
		fmt.Fprintf(stderr, "apiscopes serve: --max-sessions and --idle-timeout cannot be negative (0 means no limit)\n")
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
		if allow, err = server.NewAllowList(*admins, *viewers); err != nil {
			logger.Error("refusing to start an open server", "err", err,
				"hint", "list admins with --admins FILE, or serve only the verify API with --http ADDR")
			return 2
		}
	}
	h, code, msg := openStore(db)
	if h == nil {
		fmt.Fprintln(stderr, msg)
		return code
	}
	defer h.Close()
	st := h.Store()
	if sock, err := h.Listening(); err != nil {
		logger.Warn("verify, audit, backup and check on this machine cannot reach the server", "err", err)
	} else {
		logger.Info("local commands", "socket", sock)
	}

	failed := make(chan error, 2)
	var stops []func(context.Context) error

	if *sshAddr != "" {
		if *hostKey == "" {
			*hostKey = filepath.Join(filepath.Dir(st.Name()), "ssh_host_ed25519_key")
		}
		srv, err := server.NewSSH(st, server.Config{Addr: *sshAddr, HostKeyPath: *hostKey, Allow: allow,
			IdleTimeout: *idle, MaxSessions: *maxSessions, Log: logger})
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
		srv := server.New(*httpAddr, st, slog.New(logger))
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
			bolt.KeepBackups(bctx, st, *backupDir, *backupEvery, 0, func(path string, err error) {
				if err != nil {
					logger.Error("backup failed", "dir", *backupDir, "err", err)
					return
				}
				logger.Info("backup", "file", path)
			})
		}()
		stopBackups = func() { cancel(); <-finished }
		logger.Info("hot backups", "dir", *backupDir, "every", *backupEvery)
	}
	logger.Info("serving", "db", st.Name())

	exit := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-failed:
		logger.Error("stopped", "err", err)
		exit = 1
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, stop := range stops {
		if err := stop(stopCtx); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			logger.Warn("shutdown cut sessions or requests short", "err", err)
		}
	}
	stopBackups() // before the database closes
	if err := h.Close(); err != nil {
		logger.Error("closing the database", "err", err)
		return 1
	}
	logger.Info("stopped; database closed cleanly", "db", st.Name())
	return exit
}
