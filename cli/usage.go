package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// usageLine is one app and scope, as --json prints it.
type usageLine struct {
	AppID    uint64    `json:"app_id"`
	App      string    `json:"app"`
	Scope    string    `json:"scope"`
	Granted  bool      `json:"granted"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Denied   int64     `json:"denied"`
	Since    time.Time `json:"tracking_since"`
}

// usageCommand is `apiscopes usage`.
func (inv *invocation) usageCommand() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var unusedFor string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "When each app's scopes were last used, and refused checks",
		Long: `Reports, per app and scope, when any of the app's keys last used the scope and how many
checks were refused for lack of it: the facts for narrowing an app to the scopes it
needs. Use is noted by every allowed check of the console's or the server's verify API
and written at most a minute late; tracking began when this database was created or
upgraded. While a console or serve holds the file, that process answers.

` + databaseNote + `

Exit status: 0 done, 2 on an error.`,
		Example: `  apiscopes usage
  apiscopes usage --unused-for 90d
  apiscopes usage --json | jq 'select(.granted and .last_used == null)'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var window time.Duration
			if unusedFor != "" {
				var err error
				if window, err = parseDays(unusedFor); err != nil {
					return usagef(cmd, "--unused-for %q: %v", unusedFor, err)
				}
			}
			return inv.onDatabase(cmd, &db, reads, func(st *store.Store, _ store.Actor) error {
				return inv.usageReport(cmd.Context(), st, window, unusedFor, asJSON)
			})
		},
	}
	cmd.Flags().StringVar(&unusedFor, "unused-for", "", "only granted scopes not used for this long (e.g. 30d, 90d, 12h)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON Lines: one object per app and scope")
	db.register(cmd)
	return cmd
}

// usageReport prints st's usage report.
func (inv *invocation) usageReport(ctx context.Context, st *store.Store, window time.Duration, unusedFor string, asJSON bool) error {
	stdout := inv.stdout
	since, err := st.UsageSince(ctx)
	if err == nil && since.IsZero() {
		since = st.Now()
	}
	var apps []store.AppUsage
	if err == nil {
		apps, err = st.Usage(ctx)
	}
	if err != nil {
		return fail(ExitUsage, err)
	}
	now := st.Now()
	cutoff := now.Add(-window)
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if !asJSON {
		if window > 0 && since.After(cutoff) {
			fmt.Fprintf(w, "Tracking began %s, less than %s ago: \"unused\" means not used since then.\n",
				inv.when(since), unusedFor)
		}
		fmt.Fprintf(w, "%-32s %-20s %-27s %s\n", "APP", "SCOPE", "LAST USED", "DENIED")
	}
	for _, a := range apps {
		for _, s := range a.Scopes {
			if window > 0 && (!s.Granted || !s.LastUsed.Before(cutoff)) {
				continue
			}
			if asJSON {
				line := usageLine{AppID: a.App.ID, App: a.App.Name, Scope: string(s.Scope), Granted: s.Granted,
					LastUsed: s.LastUsed, Denied: s.Denied, Since: since.UTC()}
				line.App = jsonSafe(line.App)
				if err := enc.Encode(line); err != nil {
					return fail(ExitUsage, err)
				}
				continue
			}
			fmt.Fprintf(w, "%-32s %-20s %-27s %d\n", fit(cleanText(a.App.Name), 32), scopeLabel(s), inv.lastUsed(s, since), s.Denied)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(ExitUsage, err)
	}
	return nil
}

// scopeLabel is a scope id, marked when the app does not have it (a row
// that is there for its denials).
func scopeLabel(s store.ScopeUse) string {
	if s.Granted {
		return string(s.Scope)
	}
	return string(s.Scope) + " (not granted)"
}

// lastUsed says when a scope was last used, or since when it was not.
func (inv *invocation) lastUsed(s store.ScopeUse, since time.Time) string {
	switch {
	case !s.LastUsed.IsZero():
		return inv.when(s.LastUsed)
	case s.Granted:
		return "never since " + store.FormatDay(since, inv.zone())
	}
	return "-"
}

// fit cuts s to n columns with an ellipsis.
func fit(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// jsonSafe escapes C1 and bidi controls, which encoding/json leaves as
// they are, so stored text cannot steer a terminal reading the output.
func jsonSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return '\uFFFD'
		}
		return r
	}, s)
}

// parseDays is a duration that also takes days: "90d", "12h", "1d12h".
func parseDays(s string) (time.Duration, error) {
	var total time.Duration
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("give a number of days, e.g. 90d")
		}
		total = time.Duration(n) * 24 * time.Hour
		s = rest
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("give a duration such as 90d or 12h")
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("give a positive duration such as 90d")
	}
	return total, nil
}
