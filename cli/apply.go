package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"apiscopes/scopes"
	"apiscopes/store"
)

// applyCommand is `apiscopes apply -f FILE`: apps and their scopes kept in
// a file (in git, say) made true of the database.
func (inv *invocation) applyCommand() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var file string
	var dryRun, prune, yes bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Make the database's apps and scopes those of a YAML file",
		Long: `Reconciles the database with a YAML file of apps and their scopes:

  apps:
    - name: Payments
      scopes: [model:deploy, workflow:export]
    - name: Risk & Compliance
      id: 3            # optional: pins the app across a rename
      scopes: [workflow:deploy, model:deploy]

It first prints the plan in the console's words (+ a new app, ~ a change with the
scopes gained and lost and the keys that change on their next check, − an app
deleted with its keys), then makes the changes app by app, each one change with its
audit event, so a large file never needs one huge transaction. Run again, the same
file changes nothing and writes no audit event; after an interruption it goes on
where it stopped. Apps not in the file are left alone unless --prune deletes them
(with every key they have). Keys are never in the file; retired scope ids are left
as they are. A file naming an unknown scope, the same app twice, or a bad name is
refused as a whole, naming the line. Removing scopes from apps with keys in use, and
--prune, ask first (or need --yes). -f - reads the file from stdin.

` + databaseNote + changeNote,
		Example: `  apiscopes apply -f apps.yaml --dry-run
  apiscopes apply -f apps.yaml --yes
  ssh -p 23234 apiscopes.internal apply -f - --yes < apps.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef(cmd, "which file? pass -f FILE (or -f - for stdin)")
			}
			data, err := inv.readApplyFile(cmd, file)
			if err != nil {
				return err
			}
			want, err := parseAppsFile(data)
			if err != nil {
				name := file
				if file == "-" {
					name = "(stdin)"
				}
				return failf(ExitRefused, "%s: %v; nothing was changed", name, err)
			}
			inv.sent.stdin = data
			inv.sent.flags = map[string]string{"file": "-"}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				return inv.apply(cmd, st, actor, want, applyOptions{dryRun: dryRun, prune: prune, yes: yes})
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the YAML file of apps (- reads stdin)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete apps (and their keys) that the file does not list")
	yesFlag(cmd, &yes)
	db.register(cmd)
	return cmd
}

// readApplyFile reads -f: a file of this machine, or stdin. Over SSH only
// stdin: a path would name a file of the server.
func (inv *invocation) readApplyFile(cmd *cobra.Command, file string) ([]byte, error) {
	var r io.Reader
	switch {
	case file == "-":
		r = inv.stdin
	case inv.served != nil:
		return nil, usagef(cmd, "-f %s names a file of the server: send the file on stdin with -f -", file)
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, fail(ExitUsage, err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxApplyFile+1))
	if err != nil {
		return nil, fail(ExitUsage, err)
	}
	if len(data) > maxApplyFile {
		return nil, failf(ExitUsage, "the file is over %d MiB", maxApplyFile>>20)
	}
	return data, nil
}

// maxApplyFile bounds an apply file: a line of a hundred bytes an app
// leaves room for some forty thousand apps.
const maxApplyFile = 4 << 20

// wantedApp is one app of an apply file.
type wantedApp struct {
	id     uint64 // 0: found by name
	name   string
	scopes scopes.Set
	line   int
}

// parseAppsFile reads an apply file as YAML nodes, so that a name such as
// yes, null or 012 stays the string it is written as. The file is refused
// as a whole, naming the line, for anything it cannot mean.
func parseAppsFile(data []byte) ([]wantedApp, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not YAML: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New(`empty: it needs "apps:" and a list of apps`)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf(`line %d: the file is a mapping with "apps:"`, root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "apps" {
			return nil, fmt.Errorf(`line %d: unknown field %q: the file has only "apps:"`, k.Line, store.SafeText(k.Value))
		}
		list = v
	}
	if list == nil {
		return nil, fmt.Errorf(`line %d: no "apps:" list`, root.Line)
	}
	if list.Kind != yaml.SequenceNode {
		if list.Tag == "!!null" {
			return nil, nil // "apps:" with nothing: no apps
		}
		return nil, fmt.Errorf("line %d: apps is a list (- name: …)", list.Line)
	}
	var out []wantedApp
	byName, byID := map[string]int{}, map[uint64]int{}
	for _, n := range list.Content {
		a, err := parseWantedApp(n)
		if err != nil {
			return nil, err
		}
		folded := store.FoldName(a.name)
		if first, ok := byName[folded]; ok {
			return nil, fmt.Errorf("line %d: app %q is on line %d already", a.line, store.SafeText(a.name), first)
		}
		byName[folded] = a.line
		if a.id != 0 {
			if first, ok := byID[a.id]; ok {
				return nil, fmt.Errorf("line %d: id %d is on line %d already", a.line, a.id, first)
			}
			byID[a.id] = a.line
		}
		out = append(out, a)
	}
	return out, nil
}

func parseWantedApp(n *yaml.Node) (wantedApp, error) {
	a := wantedApp{line: n.Line}
	if n.Kind != yaml.MappingNode {
		return a, fmt.Errorf("line %d: an app is a mapping of its name and scopes", n.Line)
	}
	var hasName, hasScopes bool
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name":
			if v.Kind != yaml.ScalarNode {
				return a, fmt.Errorf("line %d: name is text", v.Line)
			}
			name, err := store.CleanName(v.Value)
			if err != nil {
				return a, fmt.Errorf("line %d: name %q: %v", v.Line, store.SafeText(v.Value), err)
			}
			a.name, hasName = name, true
		case "id":
			id, err := strconv.ParseUint(v.Value, 10, 64)
			if v.Kind != yaml.ScalarNode || err != nil || id == 0 {
				return a, fmt.Errorf("line %d: id is an app's id, a number such as 12", v.Line)
			}
			a.id = id
		case "scopes":
			if v.Kind != yaml.SequenceNode {
				return a, fmt.Errorf("line %d: scopes is a list, e.g. [model:deploy, workflow:export]", v.Line)
			}
			for _, s := range v.Content {
				id, err := scopes.Parse(s.Value)
				if s.Kind != yaml.ScalarNode || err != nil {
					return a, fmt.Errorf("line %d: %s", s.Line, unknownScope(s.Value))
				}
				a.scopes = a.scopes.With(id)
			}
			hasScopes = true
		default:
			return a, fmt.Errorf("line %d: unknown field %q: an app has name, scopes and id", k.Line, store.SafeText(k.Value))
		}
	}
	switch {
	case !hasName:
		return a, fmt.Errorf("line %d: the app has no name", n.Line)
	case !hasScopes || a.scopes.IsEmpty():
		return a, fmt.Errorf("line %d: app %q has no scopes: an app needs at least one", n.Line, store.SafeText(a.name))
	}
	return a, nil
}

type applyOptions struct{ dryRun, prune, yes bool }

// applied is told how many changes apply has made: tests interrupt it there.
var applied = func(done int) {}

// step is one change of a plan: an app created, changed or deleted.
type step struct {
	want   *wantedApp // nil: a deletion (--prune)
	have   *store.App // nil: a creation
	impact store.ScopeImpact
	keys   []store.Key // a deletion: the keys that go with it
}

func (s step) rename() bool { return s.want != nil && s.have != nil && s.want.name != s.have.Name }

// apply plans the changes that make st's apps those of want, prints the
// plan, asks where something goes, and makes them one app at a time.
func (inv *invocation) apply(cmd *cobra.Command, st *store.Store, actor store.Actor, want []wantedApp, o applyOptions) error {
	plan, unchanged, err := planApply(cmd.Context(), st, want, o.prune)
	if err != nil {
		return err
	}
	w := inv.stdout
	if len(plan) == 0 {
		fmt.Fprintf(w, "Nothing to change: the database has the file's %s.\n", plural(unchanged, "app"))
		return nil
	}
	removes := false
	for _, s := range plan {
		writeStep(w, s)
		removes = removes || s.want == nil || s.impact.Matters() && !s.impact.Removed.IsEmpty()
	}
	if o.dryRun {
		fmt.Fprintf(w, "Dry run: %s planned, nothing changed.\n", plural(len(plan), "change"))
		return nil
	}
	if removes {
		if err := inv.confirm(cmd, o.yes, "apply these changes, which take scopes or keys away"); err != nil {
			return err
		}
	}
	done := 0
	var waits []store.Approval
	for _, s := range plan {
		if err := cmd.Context().Err(); err != nil {
			return failf(ExitRetry, "interrupted after %d of %d changes: run apply again to go on", done, len(plan))
		}
		var err error
		switch {
		case s.have == nil:
			_, err = st.CreateApp(cmd.Context(), actor, s.want.name, s.want.scopes)
		case s.want == nil:
			err = st.DeleteApp(cmd.Context(), actor, s.have.ID)
		default:
			_, err = st.SaveApp(cmd.Context(), actor, *s.have, s.want.name, s.want.scopes)
		}
		// A grant the key policy has wait for a second admin: the rest of
		// the app's change is made, and apply goes on; run again, it asks
		// nothing twice.
		var pe *store.PendingError
		if errors.As(err, &pe) {
			waits = append(waits, pe.Requests...)
			err = nil
		}
		if err != nil {
			return failf(ExitCode(err), "%s: %v; %d of %d changes made: run apply again to go on",
				stepTarget(s), err, done, len(plan))
		}
		done++
		applied(done)
	}
	fmt.Fprintf(w, "Applied %s.\n", plural(done, "change"))
	if len(waits) > 0 {
		return inv.waiting(&store.PendingError{Requests: waits}, false, nil)
	}
	return nil
}

// planApply compares the file with the database: the changes to make, and
// how many apps already match.
func planApply(ctx context.Context, st *store.Store, want []wantedApp, prune bool) (plan []step, unchanged int, err error) {
	apps, err := st.Apps(ctx)
	if err != nil {
		return nil, 0, refused(err)
	}
	byID := map[uint64]*store.App{}
	byName := map[string]*store.App{}
	for i := range apps {
		byID[apps[i].ID] = &apps[i]
		byName[store.FoldName(apps[i].Name)] = &apps[i]
	}
	listed := map[uint64]bool{}
	now := st.Now()
	for i := range want {
		wa := &want[i]
		have := byName[store.FoldName(wa.name)]
		if wa.id != 0 {
			have = byID[wa.id]
			if have == nil {
				return nil, 0, failf(ExitRefused, "line %d: there is no app id:%d to pin %q to; nothing was changed", wa.line, wa.id, store.SafeText(wa.name))
			}
			if other := byName[store.FoldName(wa.name)]; other != nil && other.ID != wa.id {
				return nil, 0, failf(ExitRefused, "line %d: %q is the name of app id:%d, not id:%d; nothing was changed",
					wa.line, store.SafeText(wa.name), other.ID, wa.id)
			}
		}
		if have == nil {
			plan = append(plan, step{want: wa})
			continue
		}
		listed[have.ID] = true
		if have.Name == wa.name && have.Scopes == wa.scopes {
			unchanged++
			continue
		}
		s := step{want: wa, have: have}
		if have.Scopes != wa.scopes {
			keys, err := st.Keys(ctx, have.ID)
			if err != nil {
				return nil, 0, refused(err)
			}
			s.impact = store.NewScopeImpact(have.Scopes, wa.scopes, keys, now)
		}
		plan = append(plan, s)
	}
	if prune {
		for i := range apps {
			if listed[apps[i].ID] {
				continue
			}
			keys, err := st.Keys(ctx, apps[i].ID)
			if err != nil {
				return nil, 0, refused(err)
			}
			plan = append(plan, step{have: &apps[i], keys: keys})
		}
	}
	return plan, unchanged, nil
}

// writeStep prints one change of the plan in the console's words.
func writeStep(w io.Writer, s step) {
	switch {
	case s.have == nil:
		fmt.Fprintf(w, "+ app %q: %s\n", store.SafeText(s.want.name), strings.Join(s.want.scopes.Strings(), ", "))
	case s.want == nil:
		fmt.Fprintf(w, "− app %q (id:%d) and %s", store.SafeText(s.have.Name), s.have.ID, plural(len(s.keys), "key"))
		if len(s.keys) > 0 {
			fmt.Fprintf(w, ": %s", keyNames(s.keys))
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "~ app %q (id:%d):", store.SafeText(s.have.Name), s.have.ID)
		if s.rename() {
			fmt.Fprintf(w, " renamed to %q;", store.SafeText(s.want.name))
		}
		for _, id := range s.impact.Added.Strings() {
			fmt.Fprintf(w, " +%s", id)
		}
		for _, id := range s.impact.Removed.Strings() {
			fmt.Fprintf(w, " −%s", id)
		}
		fmt.Fprintln(w)
		if s.impact.Matters() {
			fmt.Fprintf(w, "    %s change on their next check: %s\n", plural(len(s.impact.Keys), "key"), keyNames(s.impact.Keys))
		}
	}
}

// stepTarget names a step's app in a message.
func stepTarget(s step) string {
	if s.have != nil {
		return fmt.Sprintf("app %q (id:%d)", store.SafeText(s.have.Name), s.have.ID)
	}
	return fmt.Sprintf("app %q", store.SafeText(s.want.name))
}

// keyNames names keys with their hints.
func keyNames(keys []store.Key) string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, fmt.Sprintf("%s (%s)", store.SafeText(k.Name), k.Hint))
	}
	return strings.Join(names, ", ")
}
