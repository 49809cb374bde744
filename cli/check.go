package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
)

// checkCommand is `apiscopes check [FILE]`: bbolt's page check and the
// store's invariants on a database or a backup, without writing to it.
// While a console or serve holds the file, that process runs the check.
func (inv *invocation) checkCommand() *cobra.Command {
	var db database
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a database, or a backup, from end to end",
		Long: `Checks a database file, or a backup, from end to end without changing it: bbolt's page
check, the store's invariants (every key's app exists, the indexes match the records,
key counts are right) and the audit trail's hash chain, whose head it prints. While a
console or apiscopes serve holds the file, that process runs the check. FILE, when
given, is checked instead of the database --db or --etcd names.

` + databaseNote + `

Exit status: 0 sound, 1 damaged or unreadable (the message says what), 2 usage error.`,
		Example: `  apiscopes check
  apiscopes check /var/backups/apiscopes-2026-12-01.db`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if given(cmd, "etcd") || given(cmd, "db") {
					return usagef(cmd, "a file, or --db or --etcd, not both")
				}
				db = database{path: args[0]} // the file named wins over the environment's database
			}
			return inv.check(cmd, db)
		},
	}
	db.register(cmd)
	return cmd
}

func (inv *invocation) check(cmd *cobra.Command, db database) error {
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	path, err := db.name()
	if err != nil {
		return fail(ExitRefused, err)
	}
	var apps int
	var head store.AuditHead
	var unchecked *store.UncheckedError
	err = db.reading(func(c *local.Conn) (err error) {
		_, apps, head, err = c.Check()
		return err
	}, func(st *store.Store) error {
		check := st.Check
		if !db.cluster() {
			check = st.CheckRecords // opening the file checked its pages already
		}
		if err := check(); err != nil && !errors.As(err, &unchecked) {
			return err
		}
		all, err := st.Apps()
		apps = len(all)
		if err == nil {
			head, err = st.VerifyAudit()
		}
		return err
	})
	if err != nil {
		return fail(ExitRefused, readError(path, err))
	}
	fmt.Fprintf(inv.stdout, "%s is sound: %s.\nAudit trail: %s\n", path, plural(apps, "app"), head)
	if unchecked != nil {
		fmt.Fprintf(inv.stdout, "Not checked: %s: %s.\n", unchecked.What, unchecked.Why)
	}
	return nil
}
