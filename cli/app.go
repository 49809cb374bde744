package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"apiscopes/scopes"
	"apiscopes/store"
)

// appCommand is `apiscopes app`: the API apps, as the console's list and
// configuration window change them, for scripts.
func (inv *invocation) appCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "List, show, create, rename, re-scope and delete API apps",
		Long: `The API apps, for scripts: every change the console makes, with the same rules, roles
and audit trail. APP is an app's name (as names are unique: case-insensitively) or
id:N, for a name that is all digits or one you would rather not quote.

Exit status: 0 done, 1 refused (unknown, not allowed, a rule), 2 usage or environment
error, 3 worth retrying (someone else changed the app meanwhile).`,
		Args: subcommandsOnly,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(inv.appList(), inv.appShow(), markChange(inv.appCreate()), markChange(inv.appRename()),
		markChange(inv.appScopes()), markChange(inv.appDelete()))
	return cmd
}

func (inv *invocation) appList() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the apps: name, scopes, keys, created by and on",
		Long: `Lists the apps in the console's order (by name): id, name, scopes, number of keys, who
created each and when (UTC). --json writes an array of apps (docs/automation.md has its fields).

` + databaseNote + changeNote,
		Example: `  apiscopes app list
  apiscopes app list --json | jq -r '.[].name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inv.onDatabase(cmd, &db, reads, func(st *store.Store, _ store.Actor) error {
				apps, err := st.Apps(cmd.Context())
				if err != nil {
					return refused(err)
				}
				if asJSON {
					out := make([]appJSON, 0, len(apps))
					for _, a := range apps {
						out = append(out, newAppJSON(a))
					}
					return writeJSON(inv.stdout, out)
				}
				if len(apps) == 0 {
					fmt.Fprintln(inv.stderr, "No apps yet: create one with apiscopes app create NAME --scope ID.")
					return nil
				}
				t := newTable(inv.stdout, "ID", "NAME", "SCOPES", "KEYS", "CREATED BY", "CREATED")
				for _, a := range apps {
					t.row(fmt.Sprint(a.ID), a.Name, scopeIDs(a), fmt.Sprint(a.Keys), a.CreatedBy, inv.when(a.CreatedAt))
				}
				return t.flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	db.register(cmd)
	return cmd
}

func (inv *invocation) appShow() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show APP",
		Short: "Show an app: its scopes and their last use, its keys, who made it",
		Long: `Shows one app: its scopes, when each was last used and how many checks were refused for
lack of it, its keys (never their text), and who created and last changed it.

` + databaseNote + changeNote,
		Example: `  apiscopes app show Payments
  apiscopes app show id:12 --json`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inv.onDatabase(cmd, &db, reads, func(st *store.Store, _ store.Actor) error {
				app, err := findApp(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				keys, err := st.Keys(cmd.Context(), app.ID)
				if err != nil {
					return refused(err)
				}
				use, err := st.AppUsage(cmd.Context(), app.ID)
				if err != nil {
					return refused(err)
				}
				return inv.showApp(st, app, keys, use, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	db.register(cmd)
	return cmd
}

// showApp writes an app in full.
func (inv *invocation) showApp(st *store.Store, app store.App, keys []store.Key, use store.AppUsage, asJSON bool) error {
	now := st.Now()
	if asJSON {
		d := appDetailJSON{appJSON: newAppJSON(app), Keys: []keyJSON{}, ScopeUse: []scopeUseJSON{}}
		for _, k := range keys {
			d.Keys = append(d.Keys, newKeyJSON(k, app.Name, now))
		}
		for _, s := range use.Scopes {
			d.ScopeUse = append(d.ScopeUse, scopeUseJSON{Scope: string(s.Scope), Granted: s.Granted,
				LastUsed: utc(s.LastUsed), Denied: s.Denied})
		}
		return writeJSON(inv.stdout, d)
	}
	w := inv.stdout
	fmt.Fprintf(w, "%s (id:%d)\n", store.SafeText(app.Name), app.ID)
	fmt.Fprintf(w, "Created by %s on %s", store.SafeText(app.CreatedBy), inv.when(app.CreatedAt))
	if app.UpdatedBy != "" && !app.UpdatedAt.Equal(app.CreatedAt) {
		fmt.Fprintf(w, "; last changed by %s on %s", store.SafeText(app.UpdatedBy), inv.when(app.UpdatedAt))
	}
	fmt.Fprintln(w)
	if len(app.Retired) > 0 {
		fmt.Fprintf(w, "Retired scopes (never granted, kept): %s\n", store.SafeText(strings.Join(app.Retired, ", ")))
	}
	fmt.Fprintln(w)
	t := newTable(w, "SCOPE", "NAME", "GRANTED", "LAST USED", "DENIED")
	for _, s := range use.Scopes {
		granted := "no"
		if s.Granted {
			granted = "yes"
		}
		name := string(s.Scope)
		if sc, ok := scopes.Lookup(s.Scope); ok {
			name = sc.Name
		}
		t.row(string(s.Scope), name, granted, inv.when(s.LastUsed), fmt.Sprint(s.Denied))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(keys) == 0 {
		fmt.Fprintln(w, "No API keys: create one with apiscopes key create APP --name NAME.")
		return nil
	}
	return inv.writeKeyTable(w, keys, now)
}

func (inv *invocation) appCreate() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var ids []string
	var ifAbsent, asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME --scope ID…",
		Short: "Create an app with the scopes it may use",
		Long: `Creates an app with the scopes its keys may use (--scope, repeated or comma-separated).
Names are trimmed, 1–64 printable characters, unique among apps case-insensitively.

--if-absent makes it safe to run again: an app of that name with the same scopes is
success and is printed; one with other scopes is an error (exit 1), and nothing changes.

A scope the key policy has wait for a second admin is not granted at once: the app is
made with its other scopes and the grant waits as a request (exit 4, its id printed;
{"pending": ID} with --json). An app naming no other scope is refused.

` + databaseNote + changeNote,
		Example: `  apiscopes app create Payments --scope model:deploy --scope workflow:export
  apiscopes app create "Risk & Compliance" --scope workflow:deploy,model:deploy --if-absent --json`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := parseScopes(cmd, "scope", ids)
			if err != nil {
				return err
			}
			if set.IsEmpty() {
				return usagef(cmd, "which scopes? pass --scope ID (one or more of %s)", strings.Join(scopes.IDs(), ", "))
			}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				app, err := st.CreateApp(cmd.Context(), actor, args[0], set)
				var pe *store.PendingError
				if errors.As(err, &pe) {
					if !asJSON {
						fmt.Fprintf(inv.stdout, "Created app %q (id:%d) with %s\n", store.SafeText(app.Name), app.ID, scopeIDs(app))
					}
					return inv.waiting(pe, asJSON, &app)
				}
				existed := false
				if errors.Is(err, store.ErrNameTaken) && ifAbsent {
					if app, err = st.AppNamed(cmd.Context(), args[0]); err != nil {
						return refused(err)
					}
					waiting, grant, err := pendingGrants(cmd.Context(), st, app.ID)
					if err != nil {
						return refused(err)
					}
					switch {
					case app.Scopes == set:
					case app.Scopes|grant == set && len(waiting) > 0:
						// Made before, its sensitive grant still waiting: the
						// same request, not a second.
						if !asJSON {
							fmt.Fprintf(inv.stdout, "Already there: app %q (id:%d) with %s\n", store.SafeText(app.Name), app.ID, scopeIDs(app))
						}
						return inv.waiting(&store.PendingError{App: &app, Requests: waiting}, asJSON, &app)
					default:
						return failf(ExitRefused, "app %q exists with other scopes (%s): --if-absent leaves it as it is; "+
							"change them with apiscopes app scopes", store.SafeText(app.Name), scopeIDs(app))
					}
					existed = true
				}
				if err != nil {
					return refused(err)
				}
				if asJSON {
					return writeJSON(inv.stdout, newAppJSON(app))
				}
				what := "Created"
				if existed {
					what = "Already there:"
				}
				fmt.Fprintf(inv.stdout, "%s app %q (id:%d) with %s\n", what, store.SafeText(app.Name), app.ID, scopeIDs(app))
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&ids, "scope", nil, "a scope ID the app may use (repeat, or comma-separate)")
	cmd.Flags().BoolVar(&ifAbsent, "if-absent", false, "an app of that name with the same scopes is success")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the app as JSON")
	db.register(cmd)
	return cmd
}

func (inv *invocation) appRename() *cobra.Command {
	var db database
	db.session = inv.served != nil
	cmd := &cobra.Command{
		Use:   "rename APP NEW",
		Short: "Rename an app",
		Long: `Renames an app. Its keys, scopes and id stay as they are.

` + databaseNote + changeNote,
		Example: `  apiscopes app rename "Risk" "Risk & Compliance"
  apiscopes app rename id:7 Marketing`,
		Args: argsBetween(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				app, err := findApp(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				saved, err := st.SaveApp(cmd.Context(), actor, app, args[1], app.Scopes)
				var pe *store.PendingError
				if errors.As(err, &pe) {
					fmt.Fprintf(inv.stdout, "Renamed app id:%d from %q to %q\n", app.ID, store.SafeText(app.Name), store.SafeText(saved.Name))
					return inv.waiting(pe, false, nil)
				}
				if err != nil {
					return refused(err)
				}
				if saved.Name == app.Name {
					fmt.Fprintf(inv.stdout, "App %q (id:%d) already has that name: nothing changed\n", store.SafeText(app.Name), app.ID)
					return nil
				}
				fmt.Fprintf(inv.stdout, "Renamed app id:%d from %q to %q\n", app.ID, store.SafeText(app.Name), store.SafeText(saved.Name))
				return nil
			})
		},
	}
	db.register(cmd)
	return cmd
}

func (inv *invocation) appScopes() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var add, remove, set []string
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "scopes APP [--add ID…] [--remove ID…] [--set ID…]",
		Short: "Change the scopes an app's keys may use",
		Long: `Changes an app's scopes: --add and --remove some, or --set all of them. Every key of the
app gains and loses them on its next check. The impact (which keys gain and lose what)
is shown first; removing scopes from an app with keys in use asks (or needs --yes).
Scope ids this apiscopes does not know (retired) are kept as they are.

A scope the key policy has wait for a second admin is not added: the rest of the
change is made, and the grant waits as a request (exit 4, its id printed; {"pending":
ID} with --json) until another admin approves it. A scope whose maximum key lifetime
keys of the app outlive is refused, naming them.

` + databaseNote + changeNote,
		Example: `  apiscopes app scopes Payments --add model:export
  apiscopes app scopes Payments --remove model:deploy --yes
  apiscopes app scopes id:3 --set workflow:deploy,workflow:undeploy`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plus, err := parseScopes(cmd, "add", add)
			if err != nil {
				return err
			}
			minus, err := parseScopes(cmd, "remove", remove)
			if err != nil {
				return err
			}
			all, err := parseScopes(cmd, "set", set)
			if err != nil {
				return err
			}
			switch {
			case given(cmd, "set") && (given(cmd, "add") || given(cmd, "remove")):
				return usagef(cmd, "--set gives all the scopes: use it alone, or --add and --remove")
			case !given(cmd, "set") && !given(cmd, "add") && !given(cmd, "remove"):
				return usagef(cmd, "what to change? pass --add ID, --remove ID or --set ID…")
			case plus&minus != 0:
				return usagef(cmd, "%s is both added and removed", strings.Join((plus&minus).Strings(), ", "))
			}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				app, err := findApp(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				next := (app.Scopes | plus) &^ minus
				if given(cmd, "set") {
					next = all
				}
				if next == app.Scopes {
					fmt.Fprintf(inv.stdout, "App %q (id:%d) already has %s: nothing changed\n", store.SafeText(app.Name), app.ID, scopeIDs(app))
					return nil
				}
				keys, err := st.Keys(cmd.Context(), app.ID)
				if err != nil {
					return refused(err)
				}
				pol, err := st.Policy(cmd.Context())
				if err != nil {
					return refused(err)
				}
				// What waits for a second admin changes no key now: it is
				// said apart.
				wait := (next &^ app.Scopes) & pol.Approval
				im := store.NewScopeImpact(app.Scopes, next&^wait, keys, st.Now())
				if !im.Added.IsEmpty() || !im.Removed.IsEmpty() {
					writeImpact(inv.stderr, app, im)
				}
				if !wait.IsEmpty() {
					fmt.Fprintf(inv.stderr, "%s: %s waits for another admin's approval (the key policy)\n",
						store.SafeText(app.Name), strings.Join(wait.Strings(), ", "))
				}
				if im.Matters() && !im.Removed.IsEmpty() {
					if err := inv.confirm(cmd, yes, fmt.Sprintf("remove %s from %q", strings.Join(im.Removed.Strings(), ", "), store.SafeText(app.Name))); err != nil {
						return err
					}
				}
				saved, err := st.SaveApp(cmd.Context(), actor, app, app.Name, next)
				var pe *store.PendingError
				if err != nil && !errors.As(err, &pe) {
					return refused(err)
				}
				if !asJSON {
					fmt.Fprintf(inv.stdout, "App %q (id:%d) now has %s\n", store.SafeText(saved.Name), saved.ID, scopeIDs(saved))
				}
				if pe != nil {
					return inv.waiting(pe, asJSON, &saved)
				}
				if asJSON {
					return writeJSON(inv.stdout, newAppJSON(saved))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&add, "add", nil, "scope IDs to add (repeat, or comma-separate)")
	cmd.Flags().StringSliceVar(&remove, "remove", nil, "scope IDs to remove")
	cmd.Flags().StringSliceVar(&set, "set", nil, "all of the app's scope IDs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "write the app (or the request waiting) as JSON")
	yesFlag(cmd, &yes)
	db.register(cmd)
	return cmd
}

func (inv *invocation) appDelete() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete APP",
		Short: "Delete an app and all of its keys",
		Long: `Deletes an app and, in the same change, all of its keys: they stop working at once.
It asks first (or needs --yes), naming how many keys go with it.

` + databaseNote + changeNote,
		Example: `  apiscopes app delete "Fraud Sandbox"
  apiscopes app delete id:9 --yes`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				app, err := findApp(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				if err := inv.confirm(cmd, yes, fmt.Sprintf("delete app %q (id:%d) and %s: they stop working at once",
					store.SafeText(app.Name), app.ID, plural(app.Keys, "key"))); err != nil {
					return err
				}
				if err := st.DeleteApp(cmd.Context(), actor, app.ID); err != nil {
					return refused(err)
				}
				fmt.Fprintf(inv.stdout, "Deleted app %q (id:%d) and %s\n", store.SafeText(app.Name), app.ID, plural(app.Keys, "key"))
				return nil
			})
		},
	}
	yesFlag(cmd, &yes)
	db.register(cmd)
	return cmd
}

// findApp is the app an argument names: id:N, or its name. An unknown
// name is refused with the apps whose names hold it, by id and name.
func findApp(ctx context.Context, st *store.Store, arg string) (store.App, error) {
	if n, ok := strings.CutPrefix(arg, "id:"); ok {
		var id uint64
		if _, err := fmt.Sscan(n, &id); err != nil || fmt.Sprint(id) != n {
			return store.App{}, failf(ExitUsage, "%q: an app's id is id: and a number, e.g. id:12", arg)
		}
		app, err := st.App(ctx, id)
		if err != nil {
			return store.App{}, refused(err)
		}
		return app, nil
	}
	app, err := st.AppNamed(ctx, arg)
	if err == nil {
		return app, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return app, refused(err)
	}
	msg := fmt.Sprintf("no app is named %q", store.SafeText(arg))
	if near := similarApps(ctx, st, arg, 5); len(near) > 0 {
		msg += "; did you mean " + strings.Join(near, ", ")
	}
	return app, failf(ExitRefused, "%s", msg)
}

// similarApps names (by id and name) up to n apps whose names hold s.
func similarApps(ctx context.Context, st *store.Store, s string, n int) []string {
	apps, err := st.Apps(ctx)
	if err != nil {
		return nil
	}
	want := store.FoldName(strings.TrimSpace(s))
	var out []string
	for _, a := range apps {
		if want != "" && strings.Contains(store.FoldName(a.Name), want) {
			out = append(out, fmt.Sprintf("id:%d %q", a.ID, store.SafeText(a.Name)))
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// parseScopes reads scope ids given to flag, refusing an unknown one by
// name (or by its hint, if it is shaped like a key).
func parseScopes(cmd *cobra.Command, flag string, ids []string) (scopes.Set, error) {
	var set scopes.Set
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		s, err := scopes.Parse(id)
		if err != nil {
			return 0, usagef(cmd, "--%s: %s", flag, unknownScope(id))
		}
		set = set.With(s)
	}
	return set, nil
}

// scopeIDs is an app's scopes as ids, comma-separated.
func scopeIDs(a store.App) string {
	if a.Scopes.IsEmpty() {
		return "no scopes"
	}
	return strings.Join(a.Scopes.Strings(), ",")
}

// writeImpact says what a change of scopes does to an app's keys, in the
// console's words: + and − the scopes, and which keys change.
func writeImpact(w interface{ Write([]byte) (int, error) }, app store.App, im store.ScopeImpact) {
	var parts []string
	for _, n := range im.Added.Strings() {
		parts = append(parts, "+"+n)
	}
	for _, n := range im.Removed.Strings() {
		parts = append(parts, "−"+n)
	}
	fmt.Fprintf(w, "%s: %s\n", store.SafeText(app.Name), strings.Join(parts, " "))
	switch {
	case len(im.Keys) == 0:
		fmt.Fprintln(w, "  no key in use changes")
	default:
		names := make([]string, 0, len(im.Keys))
		for _, k := range im.Keys {
			names = append(names, fmt.Sprintf("%s (%s)", store.SafeText(k.Name), k.Hint))
		}
		fmt.Fprintf(w, "  %s change on their next check: %s\n", plural(len(im.Keys), "key"), strings.Join(names, ", "))
	}
	if im.Expired > 0 {
		fmt.Fprintf(w, "  (and %s that expired: refused anyway)\n", plural(im.Expired, "key"))
	}
}

// pendingGrants is an app's open requests for grants, and what they
// would grant it.
func pendingGrants(ctx context.Context, st *store.Store, appID uint64) ([]store.Approval, scopes.Set, error) {
	var out []store.Approval
	var grant scopes.Set
	reqs, err := st.Approvals(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range reqs {
		if r.AppID == appID && r.Kind == store.ApprovalGrant && r.Stale == "" {
			out = append(out, r)
			grant |= r.Grant
		}
	}
	return out, grant, nil
}
