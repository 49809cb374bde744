package cli

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
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
// on reload re-reads the allow-lists, the routes and the certificate.
func (inv *invocation) serve(cmd *cobra.Command, reload <-chan os.Signal, f serveFlags) error {
	s, err := inv.prepareServing(cmd, f)
	if err != nil {
		return err
	}
	if err := s.start(); err != nil {
		s.stop()
		return exit(ExitRefused)
	}
	code := s.wait(cmd.Context(), reload)
	if err := s.stop(); err != nil {
		code = ExitRefused
	}
	if code != ExitOK {
		return exit(code)
	}
	return nil
}
