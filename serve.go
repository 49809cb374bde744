package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"charm.land/log/v2"
	"charm.land/ssh"

	"apiscopes/server"
)

const serveUsage = `Usage: apiscopes serve [flags]

Serves the console to admins over SSH. One process owns the database.

Flags (each also read from APISCOPES_<FLAG>, e.g. APISCOPES_ADMINS):
  --db PATH              database file (default: as for the console)
  --ssh ADDR             SSH listen address (default 127.0.0.1:23234)
  --admins FILE          authorized_keys file of admins (full rights)
  --viewers FILE         authorized_keys file of viewers (read-only)
  --host-key FILE        ed25519 host key, made on first start (default: beside the database)
  --idle-timeout DUR     drop connections idle this long (default 30m; 0 never)
  --max-sessions N       sessions open at once (default 32)
  --backup-dir DIR       keep checked hot backups here (default: none)
  --backup-every DUR     how often to take one (default 1h); the newest 7 are kept

A key line's comment names its person ("Created by"); without one, the SSH
user name does. Edits to the allow-list files count from the next login.
`

// serve runs the SSH console server until SIGINT or SIGTERM.
func serve(args []string, dbPath string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", dbPath, "")
	addr := fs.String("ssh", "127.0.0.1:23234", "")
	admins := fs.String("admins", "", "")
	viewers := fs.String("viewers", "", "")
	hostKey := fs.String("host-key", "", "")
	idle := fs.Duration("idle-timeout", 30*time.Minute, "")
	maxSessions := fs.Int("max-sessions", 32, "")
	backupDir := fs.String("backup-dir", "", "")
	backupEvery := fs.Duration("backup-every", time.Hour, "")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			return 0
		}
		fmt.Fprintf(stderr, "apiscopes serve: %v\n\n%s", err, serveUsage)
		return 2
	}
	logger := log.NewWithOptions(stderr, log.Options{ReportTimestamp: true, Prefix: "apiscopes"})

	allow, err := server.NewAllowList(*admins, *viewers)
	if err != nil {
		logger.Error("refusing to start an open server", "err", err)
		return 2
	}
	st, code, msg := openStore(*db)
	if st == nil {
		fmt.Fprintln(stderr, msg)
		return code
	}
	defer st.Close()
	if *hostKey == "" {
		*hostKey = filepath.Join(filepath.Dir(st.Path()), "ssh_host_ed25519_key")
	}

	srv, err := server.NewSSH(st, server.Config{Addr: *addr, HostKeyPath: *hostKey, Allow: allow,
		IdleTimeout: *idle, MaxSessions: *maxSessions, Log: logger})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Error("cannot listen", "addr", *addr, "err", err)
		return 1
	}
	nAdmins, nViewers := allow.Size()
	logger.Info("listening", "ssh", ln.Addr().String(), "db", st.Path(), "admins", nAdmins, "viewers", nViewers)
	logger.Info("host key", "fingerprint", srv.Fingerprint(), "file", *hostKey)
	for _, p := range allow.Problems() {
		logger.Warn("allow-list", "problem", p)
	}

	if *backupDir != "" {
		if *backupEvery <= 0 {
			logger.Error("--backup-every must be positive", "got", *backupEvery)
			return 2
		}
		ctx, cancel := context.WithCancel(context.Background())
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			st.KeepBackups(ctx, *backupDir, *backupEvery, 0, func(path string, err error) {
				if err != nil {
					logger.Error("backup failed", "dir", *backupDir, "err", err)
					return
				}
				logger.Info("backup", "file", path)
			})
		}()
		defer func() { cancel(); <-finished }() // before the database closes
		logger.Info("hot backups", "dir", *backupDir, "every", *backupEvery)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, ssh.ErrServerClosed) {
			logger.Error("server stopped", "err", err)
			return 1
		}
	case sig := <-stop:
		logger.Info("shutting down", "signal", sig.String())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			logger.Warn("shutdown", "err", err)
		}
	}
	logger.Info("stopped; database closed cleanly", "db", st.Path())
	return 0
}

// parseFlags sets each flag from APISCOPES_<FLAG> first, then from args,
// so the command line wins; a bad value in either is an error naming it.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "APISCOPES_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := os.Getenv(name); v != "" && err == nil { // set and not empty
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}
