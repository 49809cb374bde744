package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

// upgradeCommand is `apiscopes upgrade`: the database moved to this
// version's schema, after a checked copy.
func (inv *invocation) upgradeCommand() *cobra.Command {
	var db database
	var backup string
	cmd := &cobra.Command{
		Use:   "upgrade [--backup FILE]",
		Short: "Move the database to this version's schema, after a checked copy",
		Long: `Moves the database to the schema this apiscopes writes, after keeping a checked copy of
it as it was. A file is upgraded anyway the first time a console or serve opens it (the
copy beside it, FILE.schemaN-TIME.bak); upgrade does it on its own, and says so.

On a cluster (--etcd) nothing upgrades by itself, since replicas of the older version
may still serve it: replicas of this version answer verify from it meanwhile and make
no change. When no replica of the older version writes any more, upgrade writes a
checked copy to --backup FILE (required), an ordinary database file of the older
version, and then moves the cluster on; the replicas of this version take changes
again, and any replica of the older version left fails closed (verify answers 503
upgrade_required, /readyz fails). The order is in docs/replicas.md.

` + databaseNote + `

Exit status: 0 upgraded (or already), 1 refused or failed (nothing changed), 2 usage.`,
		Example: `  apiscopes upgrade --db /var/lib/apiscopes/apiscopes.db
  apiscopes upgrade --etcd https://etcd1:2379 --backup /var/backups/before-upgrade.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := db.check(); err != nil {
				return usageError(cmd, err)
			}
			if db.cluster() {
				if backup == "" {
					return usagef(cmd, "a cluster is upgraded after a checked copy: name it with --backup FILE")
				}
				return inv.upgradeCluster(cmd.Context(), db, backup)
			}
			if backup != "" {
				return usagef(cmd, "--backup is for a cluster: a file keeps its copy beside it")
			}
			return inv.upgradeFile(db)
		},
	}
	cmd.Flags().StringVar(&backup, "backup", "", "on a cluster: the new file to keep the checked copy in first")
	db.register(cmd)
	return cmd
}

// upgradeFile upgrades a file no process holds (one that is held was
// upgraded when its holder opened it).
func (inv *invocation) upgradeFile(db database) error {
	path, err := dbPath(db.path)
	if err != nil {
		return fail(ExitUsage, err)
	}
	if err := db.missing(); err != nil {
		return fail(ExitUsage, err)
	}
	e, err := bolt.Open(path, bolt.Options{Timeout: readerWait})
	if errors.Is(err, store.ErrLocked) {
		return failf(ExitRefused, "%s is held by a console or serve, which upgraded it when it opened it", path)
	}
	if err != nil {
		return fail(ExitRefused, err)
	}
	from, err := schemaOf(e)
	if err != nil {
		e.Close()
		return fail(ExitRefused, err)
	}
	var kept string
	st, err := store.New(e, store.WithName(path), store.WithMaintenance(0), store.WithMigrationBackup(func() (string, error) {
		p, err := e.KeepCopy()
		kept = p
		return p, err
	}))
	if err != nil {
		return fail(ExitRefused, err)
	}
	defer st.Close()
	return inv.saidUpgraded(path, from, kept)
}

// upgradeCluster upgrades a cluster after writing a checked copy of it as
// it is to backup.
func (inv *invocation) upgradeCluster(ctx context.Context, db database, backup string) error {
	eng, err := etcd.Open(db.config(-1))
	if err != nil {
		return fail(ExitRefused, err)
	}
	name := eng.Name()
	from, err := schemaOf(eng)
	eng.Close()
	if err != nil {
		return fail(ExitRefused, err)
	}
	if from == store.Schema {
		return inv.saidUpgraded(name, from, "")
	}
	ro, err := db.openCluster(0, store.ReadOnly(), store.WithMaintenance(0))
	if err != nil {
		return fail(ExitRefused, err)
	}
	err = bolt.BackupFileContext(ctx, ro, backup)
	ro.Close()
	if err != nil {
		return failf(ExitRefused, "keep a copy before the upgrade: %v (nothing was changed)", err)
	}
	st, err := etcd.OpenStore(db.config(-1), store.WithMaintenance(0)) // no WaitForUpgrade: this one upgrades
	if err != nil {
		return fail(ExitRefused, err)
	}
	defer st.Close()
	return inv.saidUpgraded(name, from, backup)
}

// saidUpgraded says what the upgrade did.
func (inv *invocation) saidUpgraded(name, from, kept string) error {
	version := func(s string) string { return strings.TrimPrefix(s, "apiscopes/") }
	if from == store.Schema {
		fmt.Fprintf(inv.stdout, "%s is at schema %s already: nothing to do.\n", name, version(from))
		return nil
	}
	fmt.Fprintf(inv.stdout, "Upgraded %s from schema %s to %s; its copy as it was is %s (checked).\n",
		name, version(from), version(store.Schema), kept)
	return nil
}

// schemaOf reads an engine's schema version.
func schemaOf(e store.Engine) (string, error) {
	var v []byte
	err := e.Read(context.Background(), func(snap store.Snapshot) (err error) {
		v, err = snap.Get(store.TableMeta, []byte("schema"))
		return err
	})
	if err == nil && v == nil {
		err = fmt.Errorf("%w: it holds no data yet", store.ErrNotDatabase)
	}
	return string(v), err
}
