package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// approvalsCommand is `apiscopes approvals`: the requests waiting for a
// second admin, listed, approved and rejected.
func (inv *invocation) approvalsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, approve and reject the requests waiting for a second admin",
		Long: `The requests waiting for a second admin (four eyes): grants of the scopes the key policy
names, and changes that relax the policy. Another admin approves or rejects each one.
"Another" is one the store tells apart: by the name on their SSH allow-list line and by
the key they logged in with. The admin who asked cannot approve, under any name or key,
and a local user (this machine's console or commands) may ask and reject but never
approve: whoever can write the database file could approve alone. Approve over SSH.

A request expires after the policy's window (24 hours unless it says otherwise), and
one whose app or policy changed since it was made is stale: it can only be rejected.

Exit status: 0 done, 1 refused (unknown, your own, stale, expired, not allowed), 2
usage or environment error, 3 worth retrying.`,
		Args: subcommandsOnly,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(inv.approvalsList(), markChange(inv.approvalsDecide(true)), markChange(inv.approvalsDecide(false)))
	return cmd
}

func (inv *invocation) approvalsList() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the requests waiting: what each asks, who asked, until when",
		Long: `Lists the requests waiting for a second admin, oldest first: the id, what it asks,
who asked and when, until when it waits, and whether it can still be approved
(waiting), its app or policy changed since (stale) or its window passed (expired).
--json writes an array of requests.

` + databaseNote + changeNote,
		Example: `  apiscopes approvals list
  apiscopes approvals list --json | jq -r '.[] | select(.state == "waiting") | .id'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inv.onDatabase(cmd, &db, reads, func(st *store.Store, _ store.Actor) error {
				list, err := st.Approvals(cmd.Context())
				if err != nil {
					return refused(err)
				}
				now := st.Now()
				if asJSON {
					out := make([]approvalJSON, 0, len(list))
					for _, a := range list {
						out = append(out, newApprovalJSON(a, now))
					}
					return writeJSON(inv.stdout, out)
				}
				if len(list) == 0 {
					fmt.Fprintln(inv.stderr, "No request is waiting for a second admin.")
					return nil
				}
				t := newTable(inv.stdout, "ID", "ASKS", "ASKED BY", "ASKED", "UNTIL", "STATE")
				for _, a := range list {
					state := approvalState(a, now)
					if state == "stale" {
						state += ": " + a.Stale
					}
					t.row(fmt.Sprint(a.ID), a.Describe(), a.RequestedBy, inv.when(a.RequestedAt), inv.when(a.ExpiresAt), state)
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	db.register(cmd)
	return cmd
}

// approvalsDecide is `approvals approve ID` (approve) or `approvals reject ID`.
func (inv *invocation) approvalsDecide(approve bool) *cobra.Command {
	var db database
	db.session = inv.served != nil
	var yes, asJSON bool
	verb, short, long := "reject", "Reject a request: what it asks is not done",
		`Rejects a request: what it asks is not done, and it is gone from the list. Any admin may,
the one who asked included (withdrawing it), locally or over SSH.`
	if approve {
		verb, short, long = "approve", "Approve another admin's request: what it asks is done now",
			`Approves another admin's request: a grant's scopes are added to its app at once (the
command first shows which keys gain them, as Save does, and asks, or needs --yes); a
policy comes into force. Refused for the admin who asked, for local users (approve
over SSH), for a request past its window, and for one whose app or policy changed
since it was made; a grant whose scope caps key lifetimes is refused while keys of
the app outlive it.`
	}
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Long:  long + "\n\n" + databaseNote + changeNote,
		Example: fmt.Sprintf(`  apiscopes approvals %s 4
  ssh -p 23234 apiscopes.internal approvals %s 4 --yes`, verb, verb),
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(strings.TrimPrefix(args[0], "#"), 10, 64)
			if err != nil || id == 0 {
				return usagef(cmd, "give the request's number, as approvals list shows it")
			}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				a, err := st.Approval(cmd.Context(), id)
				if err != nil {
					return refused(err)
				}
				if !approve {
					done, err := st.Reject(cmd.Context(), actor, id)
					if err != nil {
						return refused(err)
					}
					if asJSON {
						return writeJSON(inv.stdout, newApprovalJSON(done, st.Now()))
					}
					fmt.Fprintf(inv.stdout, "Rejected request %d of %s: %s.\n", done.ID, store.SafeText(done.RequestedBy), done.Describe())
					return nil
				}
				// The store decides who may approve; a request the actor may
				// not approve (their own, or any for a local user) is refused
				// before its impact is shown or a question asked.
				mine := store.FoldName(a.RequestedBy) == store.FoldName(actor.Name) || actor.Key != "" && actor.Key == a.RequestedKey
				if a.Stale == "" && !a.Expired(st.Now()) && actor.Key != "" && !mine {
					if a.Kind == store.ApprovalGrant {
						app, err := st.App(cmd.Context(), a.AppID)
						if err != nil {
							return refused(err)
						}
						keys, err := st.Keys(cmd.Context(), app.ID)
						if err != nil {
							return refused(err)
						}
						writeImpact(inv.stderr, app, store.NewScopeImpact(app.Scopes, app.Scopes|a.Grant, keys, st.Now()))
					}
					if err := inv.confirm(cmd, yes, fmt.Sprintf("approve request %d of %s: %s", a.ID,
						store.SafeText(a.RequestedBy), a.Describe())); err != nil {
						return err
					}
				}
				done, err := st.Approve(cmd.Context(), actor, id)
				if err != nil {
					return refused(err)
				}
				if asJSON {
					return writeJSON(inv.stdout, newApprovalJSON(done, st.Now()))
				}
				fmt.Fprintf(inv.stdout, "Approved request %d of %s: %s.\n", done.ID, store.SafeText(done.RequestedBy), done.Describe())
				return nil
			})
		},
	}
	if approve {
		yesFlag(cmd, &yes)
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the request as JSON")
	db.register(cmd)
	return cmd
}
