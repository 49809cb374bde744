package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

const migrateUsage = `Usage:
  apiscopes migrate --from-db FILE --to-etcd ENDPOINTS [--etcd-prefix P] [TLS and auth flags]
  apiscopes migrate --from-etcd ENDPOINTS --to-db FILE [--etcd-prefix P] [TLS and auth flags]

Copies a whole database between the embedded file and an etcd cluster:
apps, key digests, usage and the whole audit trail, in small batches at one
moment of the source. Stop every process that writes the source first (the
console, serve): a file held by one is refused. The target must be empty; a
copy cut short (a network failure, ctrl+c) resumes where it stopped when run
again, as long as the source has not changed. The target becomes a database
only when the last batch is written, and is then checked against the
source. The etcd flags (--etcd-prefix, --etcd-cacert, --etcd-cert,
--etcd-key, --etcd-user, APISCOPES_ETCD_PASSWORD) are those of apiscopes -h.
`

// migrateCmd is `apiscopes migrate`.
func migrateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("migrate")
	var cluster database
	cluster.register(fs)
	fromDB := fs.String("from-db", "", "")
	toDB := fs.String("to-db", "", "")
	fromEtcd := fs.String("from-etcd", "", "")
	toEtcd := fs.String("to-etcd", "", "")
	if code, ok := parseSub(fs, args, 0, 0, migrateUsage, stdout, stderr); !ok {
		return code
	}
	misused := func(msg string) int {
		fmt.Fprintf(stderr, "apiscopes migrate: %s\n\n%s", msg, migrateUsage)
		return 2
	}
	if givenFlag(args, "db") || givenFlag(args, "etcd") {
		return misused("use --from-db/--to-db and --from-etcd/--to-etcd, not --db or --etcd")
	}
	// APISCOPES_DB or APISCOPES_ETCD in the environment (a replica's shell
	// has one) names neither side of a copy: the flags above do.
	cluster.path, cluster.endpoints = "", ""
	var file string
	toCluster := false
	switch {
	case *fromDB != "" && *toEtcd != "" && *toDB == "" && *fromEtcd == "":
		file, cluster.endpoints, toCluster = *fromDB, *toEtcd, true
	case *fromEtcd != "" && *toDB != "" && *fromDB == "" && *toEtcd == "":
		file, cluster.endpoints = *toDB, *fromEtcd
	default:
		return misused("give a file and a cluster: --from-db FILE --to-etcd ENDPOINTS, or --from-etcd ENDPOINTS --to-db FILE")
	}
	if err := cluster.check(); err != nil {
		return misused(err.Error())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fileEng, err := bolt.Open(file, bolt.Options{ReadOnly: toCluster})
	if err != nil {
		fmt.Fprintf(stderr, "apiscopes migrate: %v\n", err)
		return 1
	}
	defer fileEng.Close()
	clusterEng, err := etcd.Open(cluster.config(-1))
	if err != nil {
		fmt.Fprintf(stderr, "apiscopes migrate: %v\n", err)
		return 1
	}
	defer clusterEng.Close()
	var from, to store.Engine = fileEng, clusterEng
	fromName, toName := file, clusterEng.Name()
	if !toCluster {
		from, to = clusterEng, fileEng
		fromName, toName = toName, fromName
	}
	told := 0
	rep, err := store.Copy(ctx, from, to, func(n int) {
		if n/10000 > told {
			told = n / 10000
			fmt.Fprintf(stderr, "apiscopes migrate: %d entries copied…\n", n)
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "apiscopes migrate: %v\n", err)
		if ctx.Err() == nil && rep.Entries > 0 {
			fmt.Fprintln(stderr, "apiscopes migrate: run the same command again to go on where it stopped")
		}
		return 1
	}
	how := ""
	if rep.Resumed {
		how = ", resuming a copy cut short"
	}
	fmt.Fprintf(stdout, "Migrated %s to %s: %d entries%s; the audit trail ends at event %d in both; checked.\n",
		fromName, toName, rep.Entries, how, rep.Head)
	return 0
}
