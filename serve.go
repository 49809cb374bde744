package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"apiscopes/server"
)

const serveUsage = `Usage: apiscopes serve --http ADDR [--db PATH]

Serves the database to services and admins from one process:
  --http ADDR   the verify API, e.g. 127.0.0.1:8080 (env APISCOPES_HTTP):
                POST /v1/verify {"key": "aps_…", "scope": "model:deploy"}
                or Authorization: Bearer aps_… with {"scope": "…"};
                200 allowed, 403 denied with the reason; GET /healthz
  --db PATH     database file (env APISCOPES_DB)

Stops on ctrl+c or SIGTERM, finishing requests in flight.
`

// shutdownGrace is how long a stopping server waits for requests in flight.
const shutdownGrace = 10 * time.Second

// serveCommand runs serve until the process is interrupted or terminated.
func serveCommand(args []string, db string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, args, db, stdout, stderr)
}

// serve opens the database and serves it until ctx ends, then stops the
// listeners and closes the store, which writes the last-used times it holds.
func serve(ctx context.Context, args []string, db string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apiscopes serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&db, "db", db, "database file")
	httpAddr := fs.String("http", os.Getenv("APISCOPES_HTTP"), "verify API address")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			return 0
		}
		fmt.Fprintf(stderr, "apiscopes serve: %v\n\n%s", err, serveUsage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apiscopes serve: unexpected argument %q\n\n%s", fs.Arg(0), serveUsage)
		return 2
	}
	if *httpAddr == "" {
		fmt.Fprintf(stderr, "apiscopes serve: nothing to serve: pass --http ADDR (e.g. --http 127.0.0.1:8080)\n\n%s", serveUsage)
		return 2
	}

	st, code, msg := openStore(db)
	if st == nil {
		fmt.Fprintln(stderr, msg)
		return code
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "apiscopes serve: cannot listen on %s: %v; choose another address with --http\n", *httpAddr, err)
		return 1
	}
	srv := server.New(*httpAddr, st, log)
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	log.Info("verify API ready", "url", "http://"+ln.Addr().String()+"/v1/verify", "db", st.Path())

	select {
	case <-ctx.Done():
	case err := <-failed:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("verify API stopped", "err", err)
			return 1
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		log.Warn("requests still in flight were cut off", "err", err)
	}
	if err := st.Close(); err != nil {
		log.Error("closing the database", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
