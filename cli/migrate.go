package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

// migrateCommand is `apiscopes migrate`.
func (inv *invocation) migrateCommand() *cobra.Command {
	var cluster database
	var fromDB, toDB, fromEtcd, toEtcd string
	cmd := &cobra.Command{
		Use:   "migrate --from-db FILE --to-etcd ENDPOINTS",
		Short: "Copy a whole database between the file and an etcd cluster",
		Long: `Copies a whole database between the embedded file and an etcd cluster: apps, key
digests, usage and the whole audit trail, in small batches at one moment of the source.
Stop every process that writes the source first (the console, serve): a file held by one
is refused. The target must be empty; a copy cut short (a network failure, ctrl+c)
resumes where it stopped when run again, as long as the source has not changed. The
target becomes a database only when the last batch is written, and is then checked
against the source. The etcd flags (--etcd-prefix, TLS, --etcd-user and
APISCOPES_ETCD_PASSWORD) say how to reach the cluster.

Exit status: 0 copied and checked, 1 failed (run it again to go on), 2 usage error.`,
		Example: `  apiscopes migrate --from-db apiscopes.db --to-etcd https://etcd1:2379
  apiscopes migrate --from-etcd https://etcd1:2379 --to-db copy.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if given(cmd, "db") || given(cmd, "etcd") {
				return usagef(cmd, "use --from-db/--to-db and --from-etcd/--to-etcd, not --db or --etcd")
			}
			return inv.migrate(cmd, cluster, fromDB, toDB, fromEtcd, toEtcd)
		},
	}
	cluster.register(cmd)
	cmd.Flags().StringVar(&fromDB, "from-db", "", "copy from this database file")
	cmd.Flags().StringVar(&toDB, "to-db", "", "copy into this new database file")
	cmd.Flags().StringVar(&fromEtcd, "from-etcd", "", "copy from the cluster at these endpoints")
	cmd.Flags().StringVar(&toEtcd, "to-etcd", "", "copy into the cluster at these endpoints")
	return cmd
}

func (inv *invocation) migrate(cmd *cobra.Command, cluster database, fromDB, toDB, fromEtcd, toEtcd string) error {
	stdout, stderr := inv.stdout, inv.stderr
	// APISCOPES_DB or APISCOPES_ETCD in the environment (a replica's shell
	// has one) names neither side of a copy: the flags above do.
	cluster.path, cluster.endpoints = "", ""
	var file string
	toCluster := false
	switch {
	case fromDB != "" && toEtcd != "" && toDB == "" && fromEtcd == "":
		file, cluster.endpoints, toCluster = fromDB, toEtcd, true
	case fromEtcd != "" && toDB != "" && fromDB == "" && toEtcd == "":
		file, cluster.endpoints = toDB, fromEtcd
	default:
		return usagef(cmd, "give a file and a cluster: --from-db FILE --to-etcd ENDPOINTS, or --from-etcd ENDPOINTS --to-db FILE")
	}
	if err := cluster.check(); err != nil {
		return usageError(cmd, err)
	}
	ctx := cmd.Context()

	fileEng, err := bolt.Open(file, bolt.Options{ReadOnly: toCluster})
	if err != nil {
		return fail(ExitRefused, err)
	}
	defer fileEng.Close()
	clusterEng, err := etcd.Open(cluster.config(-1))
	if err != nil {
		return fail(ExitRefused, err)
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
		if ctx.Err() == nil && rep.Entries > 0 {
			return failf(ExitRefused, "%v; run the same command again to go on where it stopped", err)
		}
		return fail(ExitRefused, err)
	}
	how := ""
	if rep.Resumed {
		how = ", resuming a copy cut short"
	}
	fmt.Fprintf(stdout, "Migrated %s to %s: %d entries%s; the audit trail ends at event %d in both; checked.\n",
		fromName, toName, rep.Entries, how, rep.Head)
	return nil
}
