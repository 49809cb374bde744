package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/scopes"
	"apiscopes/store"
)

// policyCommand is `apiscopes policy`: the key policy, shown and set.
func (inv *invocation) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show and set the key policy: lifetimes, four eyes",
		Long: `The key policy: rules a security team sets once, which every change is held to. A
maximum key lifetime, for every key (*) and for the keys of apps holding a scope (the
shortest that applies wins); and the scopes whose grant to an app waits for a second
admin's approval (four eyes). Tightening a rule applies at once; relaxing one (a longer
or no lifetime, a scope off the list, a longer approval window) is itself a request
another admin approves. Only admins change it; see docs/policies.md.

Exit status: 0 done, 1 refused, 2 usage or environment error, 3 worth retrying (the
policy changed meanwhile), 4 the change waits for another admin's approval.`,
		Args: subcommandsOnly,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(inv.policyShow(), markChange(inv.policySet()))
	return cmd
}

func (inv *invocation) policyShow() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the key policy and the keys made before it that outlive it",
		Long: `Shows the key policy's rules, who set them when, the keys that work and outlive the
maximum lifetime for their app (made before the policy: they are never cut, only
listed, until they are rolled or deleted), and how many requests to relax the policy
wait. --json writes it all as one object.

` + databaseNote + changeNote,
		Example: `  apiscopes policy show
  apiscopes policy show --json | jq '.keys_beyond_policy | length'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inv.onDatabase(cmd, &db, reads, func(st *store.Store, _ store.Actor) error {
				p, err := st.Policy(cmd.Context())
				if err != nil {
					return refused(err)
				}
				beyond, err := st.KeysBeyondPolicy(cmd.Context())
				if err != nil {
					return refused(err)
				}
				if asJSON {
					return writeJSON(inv.stdout, newPolicyJSON(p, beyond, st.Now()))
				}
				waiting, err := st.Approvals(cmd.Context())
				if err != nil {
					return refused(err)
				}
				return inv.writePolicy(p, beyond, waiting)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	db.register(cmd)
	return cmd
}

// writePolicy shows the policy for people.
func (inv *invocation) writePolicy(p store.Policy, beyond []store.BeyondPolicy, waiting []store.Approval) error {
	w := inv.stdout
	if p.IsZero() && p.Revision == 0 {
		fmt.Fprintln(w, "No key policy: keys live as long as their creator says, and no grant waits for a second admin.")
		fmt.Fprintln(w, "Set one with apiscopes policy set (see apiscopes policy set --help).")
		return nil
	}
	fmt.Fprintf(w, "Key policy (revision %d", p.Revision)
	if p.UpdatedBy != "" {
		fmt.Fprintf(w, ", set by %s on %s", store.SafeText(p.UpdatedBy), inv.when(p.UpdatedAt))
	}
	fmt.Fprintln(w, ")")
	for _, line := range policyLines(p) {
		fmt.Fprintln(w, "  "+line)
	}
	relax := 0
	for _, a := range waiting {
		if a.Kind == store.ApprovalPolicy {
			relax++
		}
	}
	if relax > 0 {
		fmt.Fprintf(w, "  %s to change it %s for another admin: apiscopes approvals list\n", plural(relax, "request"),
			map[bool]string{true: "waits", false: "wait"}[relax == 1])
	}
	if len(beyond) == 0 {
		return nil
	}
	verb := "outlive"
	if len(beyond) == 1 {
		verb = "outlives"
	}
	fmt.Fprintf(w, "\n%s made before the policy %s it (they keep working: roll or delete them):\n", plural(len(beyond), "key"), verb)
	t := newTable(w, "APP", "KEY", "HINT", "CREATED", "ENDS", "MAXIMUM")
	for _, b := range beyond {
		ends := "never"
		if e := b.Key.Ends(); !e.IsZero() {
			ends = inv.when(e)
		}
		max := store.FormatDuration(b.Max)
		if b.Scope != "" {
			max += " (" + string(b.Scope) + ")"
		}
		t.row(b.App, b.Key.Name, b.Key.Hint, inv.when(b.Key.CreatedAt), ends, max)
	}
	return t.flush()
}

// policyLines are the policy's rules, a sentence each.
func policyLines(p store.Policy) []string {
	var out []string
	if p.DefaultMaxLifetime > 0 {
		out = append(out, fmt.Sprintf("Every key lives at most %s.", store.FormatDuration(p.DefaultMaxLifetime)))
	}
	for _, id := range slices.Sorted(maps.Keys(p.MaxLifetime)) {
		out = append(out, fmt.Sprintf("Keys of apps holding %s live at most %s.", id, store.FormatDuration(p.MaxLifetime[id])))
	}
	if !p.Approval.IsEmpty() {
		out = append(out, fmt.Sprintf("A second admin approves grants of %s; a request waits %s.",
			strings.Join(p.Approval.Strings(), ", "), store.FormatDuration(p.Window())))
	}
	if len(out) == 0 {
		out = append(out, "No rules.")
	}
	return out
}

func (inv *invocation) policySet() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var lifetimes, noLifetimes, approval, noApproval []string
	var window string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "set [--max-lifetime SCOPE=DURATION…] [--approval SCOPE…] …",
		Short: "Change the key policy: tightening at once, relaxing by request",
		Long: `Changes the key policy from what it is now:

  --max-lifetime SCOPE=DURATION   keys of apps holding SCOPE live at most DURATION
                                  (30d, 12h); SCOPE * is every key
  --no-max-lifetime SCOPE         no maximum for SCOPE (or *)
  --approval SCOPE                a grant of SCOPE waits for a second admin
  --no-approval SCOPE             a grant of SCOPE no longer waits
  --approval-window DURATION      how long a request waits (default 24h)

Each flag repeats or takes a comma-separated list. What tightens the policy applies at
once; what relaxes it becomes one request for another admin to approve (the command
exits 4 and prints the request's id, {"pending": ID} with --json). Keys made before a
shorter lifetime keep working and are listed by policy show.

` + databaseNote + changeNote,
		Example: `  apiscopes policy set --max-lifetime '*=365d' --max-lifetime model:deploy=30d
  apiscopes policy set --approval guardrail:deploy
  apiscopes policy set --no-approval guardrail:deploy --json   # a request: exit 4`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			change, err := parsePolicyFlags(cmd, lifetimes, noLifetimes, approval, noApproval, window)
			if err != nil {
				return err
			}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				cur, err := st.Policy(cmd.Context())
				if err != nil {
					return refused(err)
				}
				next := change(cur)
				if next.Same(cur) {
					fmt.Fprintln(inv.stdout, "The key policy says so already: nothing changed.")
					return nil
				}
				now, err := st.SetPolicy(cmd.Context(), actor, cur, next)
				var pe *store.PendingError
				if err != nil && !errors.As(err, &pe) {
					return refused(err)
				}
				if !now.Same(cur) && !asJSON {
					fmt.Fprintln(inv.stdout, "The key policy is now:")
					for _, line := range policyLines(now) {
						fmt.Fprintln(inv.stdout, "  "+line)
					}
				}
				if pe != nil {
					return inv.waiting(pe, asJSON, nil)
				}
				if asJSON {
					beyond, err := st.KeysBeyondPolicy(cmd.Context())
					if err != nil {
						return refused(err)
					}
					return writeJSON(inv.stdout, newPolicyJSON(now, beyond, st.Now()))
				}
				if beyond, err := st.KeysBeyondPolicy(cmd.Context()); err == nil && len(beyond) > 0 {
					verbs := "outlive it and keep"
					if len(beyond) == 1 {
						verbs = "outlives it and keeps"
					}
					fmt.Fprintf(inv.stderr, "%s made before it %s working: see apiscopes policy show.\n",
						plural(len(beyond), "key"), verbs)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&lifetimes, "max-lifetime", nil, "SCOPE=DURATION: keys of apps holding SCOPE (* for every key) live at most DURATION")
	f.StringSliceVar(&noLifetimes, "no-max-lifetime", nil, "SCOPE (or *): no maximum lifetime of its own")
	f.StringSliceVar(&approval, "approval", nil, "SCOPE: its grant waits for a second admin's approval")
	f.StringSliceVar(&noApproval, "no-approval", nil, "SCOPE: its grant no longer waits")
	f.StringVar(&window, "approval-window", "", "how long a request waits for a second admin, e.g. 24h, 3d")
	f.BoolVar(&asJSON, "json", false, "write the policy (or the request) as JSON")
	db.register(cmd)
	return cmd
}

// parsePolicyFlags reads policy set's flags into a change of a policy.
func parsePolicyFlags(cmd *cobra.Command, lifetimes, noLifetimes, approval, noApproval []string, window string) (func(store.Policy) store.Policy, error) {
	scopeOf := func(flag, s string) (scopes.ID, error) {
		s = strings.TrimSpace(s)
		if s == store.DefaultLifetimeScopeKey {
			return store.DefaultLifetimeScopeKey, nil
		}
		id, err := scopes.Parse(s)
		if err != nil {
			return "", usagef(cmd, "--%s: %s", flag, unknownScope(s))
		}
		return id, nil
	}
	set := map[scopes.ID]time.Duration{}
	for _, lt := range lifetimes {
		name, dur, ok := strings.Cut(lt, "=")
		if !ok {
			return nil, usagef(cmd, "--max-lifetime takes SCOPE=DURATION, e.g. model:deploy=30d or '*=365d'")
		}
		id, err := scopeOf("max-lifetime", name)
		if err != nil {
			return nil, err
		}
		d, err := parseDays(strings.TrimSpace(dur))
		if err != nil {
			return nil, usagef(cmd, "--max-lifetime %s: %v", id, err)
		}
		set[id] = d
	}
	var unset []scopes.ID
	for _, s := range noLifetimes {
		id, err := scopeOf("no-max-lifetime", s)
		if err != nil {
			return nil, err
		}
		if _, both := set[id]; both {
			return nil, usagef(cmd, "%s is given both --max-lifetime and --no-max-lifetime", id)
		}
		unset = append(unset, id)
	}
	add, err := parseScopes(cmd, "approval", approval)
	if err != nil {
		return nil, err
	}
	remove, err := parseScopes(cmd, "no-approval", noApproval)
	if err != nil {
		return nil, err
	}
	if both := add & remove; !both.IsEmpty() {
		return nil, usagef(cmd, "%s is given both --approval and --no-approval", strings.Join(both.Strings(), ", "))
	}
	var w time.Duration
	if window != "" {
		if w, err = parseDays(window); err != nil {
			return nil, usagef(cmd, "--approval-window %q: %v", window, err)
		}
	}
	if len(set) == 0 && len(unset) == 0 && add.IsEmpty() && remove.IsEmpty() && w == 0 {
		return nil, usagef(cmd, "what to change? pass --max-lifetime, --no-max-lifetime, --approval, --no-approval or --approval-window")
	}
	return func(cur store.Policy) store.Policy {
		next := cur
		next.MaxLifetime = maps.Clone(cur.MaxLifetime)
		if next.MaxLifetime == nil {
			next.MaxLifetime = map[scopes.ID]time.Duration{}
		}
		for id, d := range set {
			if id == store.DefaultLifetimeScopeKey {
				next.DefaultMaxLifetime = d
			} else {
				next.MaxLifetime[id] = d
			}
		}
		for _, id := range unset {
			if id == store.DefaultLifetimeScopeKey {
				next.DefaultMaxLifetime = 0
			} else {
				delete(next.MaxLifetime, id)
			}
		}
		next.Approval = (cur.Approval | add) &^ remove
		if w > 0 {
			next.ApprovalWindow = w
		}
		return next
	}, nil
}

// waiting reports a change of which some part waits for another admin's
// approval, and ends with exit status 4: each request on stdout, how to
// approve it on stderr; with --json, {"pending": ID} (and the app, for a
// change of one).
func (inv *invocation) waiting(pe *store.PendingError, asJSON bool, app *store.App) error {
	if asJSON {
		out := pendingJSON{Pending: pe.Requests[0].ID}
		if len(pe.Requests) > 1 {
			out.Requests = pe.IDs()
		}
		if app != nil {
			a := newAppJSON(*app)
			out.App = &a
		}
		if err := writeJSON(inv.stdout, out); err != nil {
			return fail(ExitUsage, err)
		}
		return exit(ExitPending)
	}
	for _, a := range pe.Requests {
		fmt.Fprintf(inv.stdout, "Waiting for another admin's approval: request %d, %s (until %s).\n", a.ID,
			a.Describe(), inv.when(a.ExpiresAt))
	}
	fmt.Fprintf(inv.stderr, "Another admin approves it over SSH: apiscopes approvals approve %d (or rejects it: approvals reject %d).\n",
		pe.Requests[0].ID, pe.Requests[0].ID)
	return exit(ExitPending)
}
