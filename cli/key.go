package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// keyCommand is `apiscopes key`: an app's API keys, for scripts. A new
// key's text goes to stdout alone (or to --out), once.
func (inv *invocation) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "List, create, roll and delete API keys",
		Long: `An app's API keys, for scripts. A key is shown once: key create and key roll print its
text alone on stdout followed by a newline, and everything else on stderr, so
"apiscopes key create Payments --name ci > key.txt" captures exactly the key. Keys are
never edited: roll one to replace it, or delete it.

KEY is APP NAME (two arguments), id:N, or --text - with the key itself on stdin (a
leaked key scan found); at a terminal, a hint (aps_…W1Jm) when exactly one key has it.

Exit status: 0 done, 1 refused (unknown, ambiguous, not allowed, a rule), 2 usage or
environment error (a key that could not be delivered is deleted at once), 3 worth
retrying.`,
		Args: subcommandsOnly,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(inv.keyList(), markChange(inv.keyCreate()), markChange(inv.keyRoll()), markChange(inv.keyDelete()))
	return cmd
}

func (inv *invocation) keyList() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list APP",
		Short: "List an app's keys: id, name, hint, state, created, expires, last used",
		Long: `Lists an app's keys, oldest first: id, name, hint, state (active, expiring, scheduled for
deletion, expired), who created each and when, when it expires, when it was last used
(UTC), and the addresses it may be used from. Never a key's text. --json writes an
array of keys.

` + databaseNote + changeNote,
		Example: `  apiscopes key list Payments
  apiscopes key list id:12 --json | jq -r '.[] | select(.state == "expired") | .id'`,
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
				now := st.Now()
				if asJSON {
					out := make([]keyJSON, 0, len(keys))
					for _, k := range keys {
						out = append(out, newKeyJSON(k, app.Name, now))
					}
					return writeJSON(inv.stdout, out)
				}
				if len(keys) == 0 {
					fmt.Fprintf(inv.stderr, "App %q has no API keys: create one with apiscopes key create APP --name NAME.\n", store.SafeText(app.Name))
					return nil
				}
				return inv.writeKeyTable(inv.stdout, keys, now)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	db.register(cmd)
	return cmd
}

// writeKeyTable lists keys for people.
func (inv *invocation) writeKeyTable(w io.Writer, keys []store.Key, now time.Time) error {
	t := newTable(w, "ID", "NAME", "HINT", "STATE", "CREATED BY", "CREATED", "EXPIRES", "LAST USED", "FROM")
	for _, k := range keys {
		expires := inv.when(k.ExpiresAt)
		if !k.DeleteAt.IsZero() {
			expires = inv.when(k.Ends()) + " (rolled)"
		}
		used := "never"
		if !k.LastUsedAt.IsZero() {
			used = inv.when(k.LastUsedAt)
		}
		from := "anywhere"
		if len(k.AllowFrom) > 0 {
			from = strings.Join(store.FormatAllowFrom(k.AllowFrom), ",")
		}
		t.row(fmt.Sprint(k.ID), k.Name, k.Hint, k.State(now).String(), k.CreatedBy, inv.when(k.CreatedAt), expires, used, from)
	}
	return t.flush()
}

// keyOut is where a new key goes: --out, --json.
type keyOut struct {
	out    string
	asJSON bool
}

func (o *keyOut) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.out, "out", "", "write the key to this new file (mode 0600; never overwritten) instead of stdout")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "write the key and its record as JSON (the key's text appears once)")
	markClientOnly(cmd, "out")
}

// prepare makes the --out file before the store is asked for a key, so a
// key is never made that has nowhere to go: a new file, private, never one
// that exists. It is removed if no key reaches it.
func (o *keyOut) prepare(inv *invocation, cmd *cobra.Command) (cleanup func(), err error) {
	if o.out == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, failf(ExitUsage, "%s exists: --out writes only a new file, and never over a key (or anything else)", o.out)
	}
	if err != nil {
		return nil, fail(ExitUsage, err)
	}
	inv.keyFile = f
	return func() {
		if inv.keyFile != nil { // no key was written
			inv.keyFile.Close()
			inv.keyFile = nil
			os.Remove(o.out)
		}
	}, nil
}

// handOut hands a new key to the caller: its text alone and a newline, or
// the JSON that holds it once, on the caller's stdout or in the --out file.
// If it does not arrive, the key is deleted at once (audited as such): a
// key nobody received never stays valid.
func (inv *invocation) handOut(ctx context.Context, st *store.Store, actor store.Actor, text string, k store.Key, app string, rolled *store.Key, asJSON bool) error {
	out, err := newKeyOutput(text, k, app, rolled, st.Now(), asJSON)
	if err == nil {
		err = inv.deliver(out)
	}
	if err == nil {
		return nil
	}
	if derr := st.DiscardKey(ctx, actor, k.ID); derr != nil {
		return failf(ExitUsage, "the key %s could not be delivered (%v), and deleting it failed: %v; delete it now: apiscopes key delete id:%d",
			k.Hint, err, derr, k.ID)
	}
	return failf(ExitUsage, "the key %s could not be delivered (%v), so it was deleted at once: a key nobody received never stays valid; run the command again",
		k.Hint, err)
}

// deliver writes output holding a new key where the caller asked for it,
// and reports whether it arrived.
func (inv *invocation) deliver(out []byte) error {
	var err error
	switch {
	case inv.served != nil && inv.served.Deliver != nil:
		err = inv.served.Deliver(out)
	case inv.served != nil:
		_, err = inv.served.Stdout.Write(out)
	default:
		err = inv.deliverHere(out)
	}
	return err
}

// newKeyOutput is what key create and key roll deliver: the key's text
// alone and a newline, or the JSON that holds it once.
func newKeyOutput(text string, k store.Key, app string, rolled *store.Key, now time.Time, asJSON bool) ([]byte, error) {
	if !asJSON {
		return []byte(text + "\n"), nil
	}
	v := newKeyOutJSON{Key: text, APIKey: newKeyJSON(k, app, now)}
	if rolled != nil {
		r := newKeyJSON(*rolled, app, now)
		v.Rolled = &r
	}
	var b strings.Builder
	if err := writeJSON(&b, v); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func (inv *invocation) keyCreate() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var name, expires, expiresIn, allowFrom string
	var out keyOut
	cmd := &cobra.Command{
		Use:   "create APP --name NAME",
		Short: "Create an API key for an app; its text goes to stdout, once",
		Long: `Creates an API key for an app, named after the service or person that will use it. The
key's text is printed alone on stdout followed by a newline, once, and is never shown
again: only its hint (aps_…W1Jm). Everything else goes to stderr. --out writes it to a
new private file instead (made before the key, never over an existing one); --json
puts it in the JSON, once. If it cannot be delivered (stdout closed, a write error),
the key is deleted at once and the command fails.

--expires DATE makes the key work through that day (YYYY-MM-DD, in UTC; or an RFC 3339
time); --expires-in DURATION from now (e.g. 30d, 12h). Without either it never expires,
unless the key policy gives the app's keys a maximum lifetime: then the key must expire
within it (apiscopes policy show).

--allow-from CIDR,… limits the key to those addresses and networks (IPv4 or IPv6, at
most 32): every check from elsewhere is refused (address_not_allowed), and so is one
that names no address (address_unknown). A roll keeps the list; a new list means a new
key.

` + databaseNote + changeNote,
		Example: `  apiscopes key create Payments --name ci > key.txt
  apiscopes key create Payments --name nightly --expires-in 90d --out nightly.key
  ssh -p 23234 apiscopes.internal key create Payments --name deploy-bot > key.txt`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return usagef(cmd, "name the key with --name, after the service or person that will use it")
			}
			opts, err := expiryOptions(cmd, expires, expiresIn)
			if err != nil {
				return err
			}
			if allowFrom != "" {
				if opts.AllowFrom, err = store.ParseAllowFrom(allowFrom); err != nil {
					return usagef(cmd, "--allow-from: %v", err)
				}
				if len(opts.AllowFrom) == 0 {
					return usagef(cmd, "--allow-from: give the addresses or networks, e.g. 10.0.0.0/8,192.0.2.7")
				}
			}
			cleanup, err := out.prepare(inv, cmd)
			if err != nil {
				return err
			}
			defer cleanup()
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				app, err := findApp(cmd.Context(), st, args[0])
				if err != nil {
					return err
				}
				text, k, err := st.CreateKeyWith(cmd.Context(), actor, app.ID, name, opts)
				if err != nil {
					return refused(err)
				}
				if err := inv.handOut(cmd.Context(), st, actor, text, k, app.Name, nil, out.asJSON); err != nil {
					return err
				}
				fmt.Fprintf(inv.stderr, "Created API key %q (id:%d, %s) for app %q%s%s. It is shown once: keep it safe.\n",
					store.SafeText(k.Name), k.ID, k.Hint, store.SafeText(app.Name), inv.expiryNote(k), fromNote(k))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the key's name: the service or person that will use it")
	cmd.Flags().StringVar(&expires, "expires", "", "the key works through this date (YYYY-MM-DD, UTC) or until an RFC 3339 time")
	cmd.Flags().StringVar(&expiresIn, "expires-in", "", "the key works this long from now, e.g. 30d, 12h")
	cmd.Flags().StringVar(&allowFrom, "allow-from", "", "the addresses and networks the key may be used from, e.g. 10.0.0.0/8,192.0.2.7")
	out.register(cmd)
	db.register(cmd)
	return cmd
}

// expiryOptions reads --expires and --expires-in.
func expiryOptions(cmd *cobra.Command, expires, expiresIn string) (store.KeyOptions, error) {
	switch {
	case expires != "" && expiresIn != "":
		return store.KeyOptions{}, usagef(cmd, "--expires and --expires-in both set an expiry: give one")
	case expiresIn != "":
		d, err := parseDays(expiresIn)
		if err != nil {
			return store.KeyOptions{}, usagef(cmd, "--expires-in %q: %v", expiresIn, err)
		}
		return store.KeyOptions{ExpiresIn: d}, nil
	case expires != "":
		if t, err := time.Parse(time.RFC3339, expires); err == nil {
			return store.KeyOptions{ExpiresAt: t}, nil
		}
		day, err := time.Parse("2006-01-02", expires)
		if err != nil {
			if dateShape.MatchString(expires) {
				return store.KeyOptions{}, usagef(cmd, "--expires %s: there is no such day", expires)
			}
			return store.KeyOptions{}, usagef(cmd, "--expires %q: give a date as YYYY-MM-DD (UTC) or an RFC 3339 time", expires)
		}
		return store.KeyOptions{ExpiresAt: day.AddDate(0, 0, 1)}, nil // it works through that day
	}
	return store.KeyOptions{}, nil
}

var dateShape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// fromNote says where a key may be used from, for a message: nothing for
// anywhere.
func fromNote(k store.Key) string {
	if len(k.AllowFrom) == 0 {
		return ""
	}
	return ", from " + strings.Join(store.FormatAllowFrom(k.AllowFrom), ", ") + " only"
}

// expiryNote says when a key expires, for a message.
func (inv *invocation) expiryNote(k store.Key) string {
	if k.ExpiresAt.IsZero() {
		return ", never expiring"
	}
	return ", expiring " + inv.when(k.ExpiresAt)
}

func (inv *invocation) keyRoll() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var ref keyRef
	var grace string
	var out keyOut
	cmd := &cobra.Command{
		Use:   "roll " + refUse + " [--grace now|1h|24h|7d]",
		Short: "Replace a key with a new one; the old one works for a grace period",
		Long: `Replaces a key: a new key for the same app, printed once as key create prints it, while
the old one keeps working for --grace (now, 1h, 24h, 7d or any duration up to 30d;
default 24h) so services can move over, and is deleted then. A key with an expiry
passes its lifetime on. A leaked key: roll it with --grace now, naming it by its text
(--text - reads it from stdin, e.g. the file scan found it in).

` + databaseNote + changeNote,
		Example: `  apiscopes key roll Payments ci > new-key.txt
  apiscopes key roll id:42 --grace 7d --out ci.key
  apiscopes key roll --text - --grace now < leaked.env > new-key.txt`,
		Args: func(cmd *cobra.Command, args []string) error { return ref.checkArgs(cmd, args) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			g, err := parseGrace(cmd, grace)
			if err != nil {
				return err
			}
			if err := ref.readText(inv); err != nil {
				return err
			}
			cleanup, err := out.prepare(inv, cmd)
			if err != nil {
				return err
			}
			defer cleanup()
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				old, err := ref.find(cmd.Context(), inv, st)
				if err != nil {
					return err
				}
				app, err := st.App(cmd.Context(), old.AppID)
				if err != nil {
					return refused(err)
				}
				text, k, rolled, err := st.RollKey(cmd.Context(), actor, old.ID, g)
				if err != nil {
					return refused(err)
				}
				if err := inv.handOut(cmd.Context(), st, actor, text, k, app.Name, &rolled, out.asJSON); err != nil {
					return err
				}
				gone := "was deleted at once"
				if g > 0 {
					gone = "works until " + inv.when(rolled.DeleteAt) + ", then is deleted"
				}
				fmt.Fprintf(inv.stderr, "Rolled API key %q (%s) of app %q: the new key %q (id:%d, %s) is shown once; the old one %s.\n",
					store.SafeText(old.Name), old.Hint, store.SafeText(app.Name), store.SafeText(k.Name), k.ID, k.Hint, gone)
				return nil
			})
		},
	}
	ref.register(cmd)
	cmd.Flags().StringVar(&grace, "grace", "24h", "how long the old key keeps working: now, 1h, 24h, 7d, … up to 30d")
	out.register(cmd)
	db.register(cmd)
	return cmd
}

// parseGrace reads --grace.
func parseGrace(cmd *cobra.Command, grace string) (time.Duration, error) {
	if grace == "now" || grace == "0" {
		return 0, nil
	}
	d, err := parseDays(grace)
	if err != nil || d > store.MaxGrace {
		return 0, usagef(cmd, "--grace %q: give now, 1h, 24h or 7d (at most 30d)", grace)
	}
	return d, nil
}

func (inv *invocation) keyDelete() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var ref keyRef
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete " + refUse,
		Short: "Delete a key: it stops working at once",
		Long: `Deletes a key: it stops working at once, and services using it are refused. It asks
first (or needs --yes). Keys are never edited: to replace one, roll it.

` + databaseNote + changeNote,
		Example: `  apiscopes key delete Payments ci
  apiscopes key delete id:42 --yes
  apiscopes key delete --text - --yes < leaked.env`,
		Args: func(cmd *cobra.Command, args []string) error { return ref.checkArgs(cmd, args) },
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ref.readText(inv); err != nil {
				return err
			}
			return inv.onDatabase(cmd, &db, changes, func(st *store.Store, actor store.Actor) error {
				k, err := ref.find(cmd.Context(), inv, st)
				if err != nil {
					return err
				}
				app, err := st.App(cmd.Context(), k.AppID)
				if err != nil {
					return refused(err)
				}
				if err := inv.confirm(cmd, yes, fmt.Sprintf("delete API key %q (id:%d, %s) of app %q: "+
					"it stops working at once, and services using it are refused",
					store.SafeText(k.Name), k.ID, k.Hint, store.SafeText(app.Name))); err != nil {
					return err
				}
				if err := st.DeleteKey(cmd.Context(), actor, k.ID); err != nil {
					return refused(err)
				}
				fmt.Fprintf(inv.stdout, "Deleted API key %q (id:%d, %s) of app %q\n", store.SafeText(k.Name), k.ID, k.Hint, store.SafeText(app.Name))
				return nil
			})
		},
	}
	ref.register(cmd)
	yesFlag(cmd, &yes)
	db.register(cmd)
	return cmd
}
