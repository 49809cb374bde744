package cli

import (
	"context"
	"crypto/ed25519"
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
	var publicKey string
	cmd := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Check a database, or a backup, from end to end",
		Long: `Checks a database file, or a backup, from end to end without changing it: bbolt's page
check, the store's invariants (every key's app exists, the indexes match the records,
key counts are right), the audit trail's hash chain, whose head it prints, and the state
its newest event commits to: an app or key changed, inserted or deleted without an
audit event is named. While a console or apiscopes serve holds the file, that process
runs the check. FILE, when given, is checked instead of the database --db or --etcd
names.

Every head apiscopes serve --audit-signing-key signed must still be in the trail. With
--audit-public-key FILE (the signing key's .pub file, or several keys, one a line) each
signature is verified too, and a database with no signed head fails. While a process
holds the file, that check runs on a copy it sends.

` + databaseNote + `

Exit status: 0 sound, 1 damaged or unreadable (the message says what), 2 usage error.`,
		Example: `  apiscopes check
  apiscopes check /var/backups/apiscopes-2026-12-01.db
  apiscopes check --audit-public-key /etc/apiscopes/audit.pub`,
		Args: argsBetween(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if given(cmd, "etcd") || given(cmd, "db") {
					return usagef(cmd, "a file, or --db or --etcd, not both")
				}
				db = database{path: args[0]} // the file named wins over the environment's database
			}
			var keys []ed25519.PublicKey
			if publicKey != "" {
				var err error
				if keys, err = store.LoadAuditPublicKeys(publicKey); err != nil {
					return usageError(cmd, err)
				}
			}
			return inv.check(cmd, db, keys)
		},
	}
	db.register(cmd)
	cmd.Flags().StringVar(&publicKey, "audit-public-key", "", "verify the signed audit heads with the public key(s) in this file")
	return cmd
}

func (inv *invocation) check(cmd *cobra.Command, db database, keys []ed25519.PublicKey) error {
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	path, err := db.name()
	if err != nil {
		return fail(ExitRefused, err)
	}
	var apps int
	var head store.AuditHead
	var signed store.SignedHead
	var anySigned bool
	var unchecked *store.UncheckedError
	run := func(st *store.Store, check func(context.Context, ...store.CheckOption) error) error {
		if err := check(cmd.Context(), store.WithAuditKeys(keys...)); err != nil && !errors.As(err, &unchecked) {
			return err
		}
		all, err := st.Apps(cmd.Context())
		apps = len(all)
		if err == nil {
			head, err = st.VerifyAudit(cmd.Context())
		}
		if err == nil {
			signed, anySigned, err = st.NewestSignedHead(cmd.Context())
		}
		return err
	}
	err = db.reading(func(c *local.Conn) (err error) {
		if len(keys) > 0 { // the holder checks without the keys: check a copy it sends
			return onHeldCopy(cmd.Context(), c, func(st *store.Store) error { return run(st, st.CheckRecords) })
		}
		_, apps, head, err = c.Check()
		return err
	}, func(st *store.Store) error {
		check := st.Check
		if !db.cluster() {
			check = st.CheckRecords // opening the file checked its pages already
		}
		return run(st, check)
	})
	if err != nil {
		return fail(ExitRefused, readError(path, err))
	}
	fmt.Fprintf(inv.stdout, "%s is sound: %s.\nAudit trail: %s\n", path, plural(apps, "app"), head)
	switch {
	case anySigned && len(keys) > 0:
		fmt.Fprintf(inv.stdout, "Signed heads: verified; the newest, event %d, signed at %s by %s.\n", signed.Seq,
			inv.when(signed.At), signed.Key)
	case anySigned:
		fmt.Fprintf(inv.stdout, "Signed heads: in the trail; the newest, event %d, signed at %s by %s "+
			"(give --audit-public-key to verify the signatures).\n", signed.Seq, inv.when(signed.At), signed.Key)
	}
	if unchecked != nil {
		fmt.Fprintf(inv.stdout, "Not checked: %s: %s.\n", unchecked.What, unchecked.Why)
	}
	return nil
}
