package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
)

// auditCommand is `apiscopes audit`: the audit log, newest first, as a
// table for people or JSON Lines for log pipelines; --verify walks its
// hash chain; --follow prints events as they commit. It never prints a
// key: the trail holds only key names and hints.
func (inv *invocation) auditCommand() *cobra.Command {
	var db database
	db.session = inv.served != nil
	var asJSON, verify bool
	var expect string
	var follow followFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the audit log, check its hash chain, or follow it",
		Long: `Prints the audit log, newest first: who changed what, when (UTC), and the scopes
before and after. --json writes one JSON object per line, for log pipelines.

--verify walks the audit trail's hash chain from the first event and prints its head,
for a copy kept elsewhere to compare with; a broken chain names the first event altered,
removed or inserted, and exits 1. With --expect HEAD, a head --verify printed earlier
("event 4211, sha256 …", alone or in its line), it also exits 1 unless the trail still
holds that event with that hash: a trail rewritten at or before it, its head with it,
or cut off before it. While a console or apiscopes serve holds the file, --expect
checks a copy it sends.

--follow prints events oldest first from --since (default: from now), each with its
sequence number, then each new event as it commits, until interrupted: a log shipper
tailing it resumes with --since at the last sequence it kept plus one.

` + databaseNote + `

Exit status: 0 done, 1 a broken chain or a refusal, 2 usage or environment error.`,
		Example: `  apiscopes audit
  apiscopes audit --json | jq .
  apiscopes audit --verify
  apiscopes audit --verify --expect "$(cat saved-head.txt)"
  apiscopes audit --follow --json --since 1200 >> trail.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case follow.on && verify:
				return usagef(cmd, "--follow and --verify do different things: give one")
			case given(cmd, "since") && !follow.on:
				return usagef(cmd, "--since goes with --follow")
			case given(cmd, "expect") && !verify:
				return usagef(cmd, "--expect goes with --verify")
			case follow.on:
				return inv.followAudit(cmd, &db, follow, asJSON)
			}
			var want *store.AuditHead
			if verify && expect != "" {
				head, err := store.ParseAuditHead(expect)
				if err != nil {
					return usagef(cmd, "--expect: %v", err)
				}
				want = &head
			}
			if inv.served != nil {
				return inv.auditOf(cmd, inv.served.Store, asJSON, verify, want)
			}
			return inv.audit(cmd, db, asJSON, verify, want)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON Lines: one event a line")
	cmd.Flags().BoolVar(&verify, "verify", false, "check the trail's hash chain and print its head")
	cmd.Flags().StringVar(&expect, "expect", "", "with --verify: fail unless the trail extends this head, as --verify printed it")
	follow.register(cmd)
	db.register(cmd)
	return cmd
}

// audit prints the log of the database db names.
func (inv *invocation) audit(cmd *cobra.Command, db database, asJSON, verify bool, want *store.AuditHead) error {
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	name, err := db.name()
	if err == nil {
		err = db.missing()
	}
	if err != nil {
		return fail(ExitRefused, err)
	}
	if verify {
		return inv.verifyAudit(cmd.Context(), db, name, want)
	}
	w := bufio.NewWriter(inv.stdout)
	write := inv.eventWriter(w, asJSON)
	var n int64
	print := func() error {
		return db.reading(func(c *local.Conn) (err error) {
			// The process holding the file streams its trail.
			if n, err = c.Audit(write); err != nil {
				return err
			}
			return w.Flush()
		}, func(st *store.Store) error {
			err := st.EachEvent(cmd.Context(), func(ev store.Event) error { n++; return write(ev) })
			if err != nil {
				return err
			}
			return w.Flush()
		})
	}
	if f, ok := inv.stdout.(*os.File); ok && isTerminal(f) {
		err = print() // the output itself shows progress
	} else {
		err = progress(inv.stderr, "Exporting the audit log…", print)
	}
	if err != nil {
		return fail(ExitRefused, readError(name, err))
	}
	if n == 0 && !asJSON {
		fmt.Fprintf(inv.stderr, "apiscopes audit: the audit log of %s is empty: nothing has been changed yet\n", name)
	}
	return nil
}

// auditOf prints the log of a session's store.
func (inv *invocation) auditOf(cmd *cobra.Command, st *store.Store, asJSON, verify bool, want *store.AuditHead) error {
	if verify {
		head, err := verifyTrail(cmd.Context(), st, want)
		if err != nil {
			return fail(ExitRefused, err)
		}
		inv.intact(st.Name(), head, want)
		return nil
	}
	w := bufio.NewWriter(inv.stdout)
	write := inv.eventWriter(w, asJSON)
	if err := st.EachEvent(cmd.Context(), write); err != nil {
		return fail(ExitRefused, err)
	}
	return w.Flush()
}

// eventWriter writes events as a table, or as JSON Lines.
func (inv *invocation) eventWriter(w io.Writer, asJSON bool) func(store.Event) error {
	if asJSON {
		return func(ev store.Event) error { return writeJSONLine(w, ev) }
	}
	return inv.auditTable(w)
}

// auditTable returns a writer of the audit log as aligned text columns:
// when (with its zone), who, what, target and the change.
func (inv *invocation) auditTable(w io.Writer) func(store.Event) error {
	return inv.eventTable(w, false)
}

// whatWidth fits the longest of the audit's words for what happened
// ("ended SSH session").
const whatWidth = 17

// eventTable is auditTable, with each event's sequence number first when
// seq is set (audit --follow).
func (inv *invocation) eventTable(w io.Writer, seq bool) func(store.Event) error {
	first := true
	row := func(n, when, who, what, target, change string) error {
		lead := ""
		if seq {
			lead = cell(n, 7)
		}
		_, err := fmt.Fprintln(w, lead+cell(when, 24)+cell(who, 24)+cell(what, whatWidth)+cell(target, 44)+change)
		return err
	}
	return func(ev store.Event) error {
		if first {
			first = false
			if err := row("Seq", "When", "Who", "What", "Target", "Change"); err != nil {
				return err
			}
		}
		t := ev.DescribeIn(inv.zone())
		return row(fmt.Sprint(ev.Seq), inv.when(ev.At), t.Who, t.What, t.Target, t.Change)
	}
}

// cell pads text to width terminal cells (wide characters count twice),
// with a space after; longer text is left whole, so nothing is lost from
// the log.
func cell(text string, width int) string {
	return text + strings.Repeat(" ", max(1, width-ansi.StringWidth(text)+1))
}

// verifyAudit is `apiscopes audit --verify`: it walks the audit trail's
// hash chain from the first event and prints its head, for a copy kept
// elsewhere to be compared with; a broken chain names the first event
// altered, removed or inserted, and exits 1, as does a trail that does not
// extend want, a head saved earlier (--expect).
func (inv *invocation) verifyAudit(ctx context.Context, db database, name string, want *store.AuditHead) error {
	var head store.AuditHead
	err := db.reading(func(c *local.Conn) (err error) {
		if want != nil { // the holder walks the chain, but knows no saved head: check a copy
			return onHeldCopy(ctx, c, func(st *store.Store) (err error) {
				head, err = verifyTrail(ctx, st, want)
				return err
			})
		}
		_, _, head, err = c.Check() // the holder's whole check walks the chain too
		return err
	}, func(st *store.Store) (err error) {
		head, err = verifyTrail(ctx, st, want)
		return err
	})
	if err != nil {
		return fail(ExitRefused, readError(name, err))
	}
	inv.intact(name, head, want)
	return nil
}

// verifyTrail walks st's chain, against want when there is one.
func verifyTrail(ctx context.Context, st *store.Store, want *store.AuditHead) (store.AuditHead, error) {
	if want != nil {
		return st.VerifyAuditExtends(ctx, *want)
	}
	return st.VerifyAudit(ctx)
}

// intact says that the trail of name holds, up to head, and extends want;
// the line names one head with its hash, the one to save next.
func (inv *invocation) intact(name string, head store.AuditHead, want *store.AuditHead) {
	fmt.Fprintf(inv.stdout, "The audit trail of %s is intact: %s", name, head)
	if want != nil && want.Seq > 0 {
		fmt.Fprintf(inv.stdout, "; it holds event %d as expected", want.Seq)
	}
	fmt.Fprintln(inv.stdout)
}
