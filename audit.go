package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"apiscopes/server/local"
	"apiscopes/store"
)

// audit prints the audit log, newest first: a table for people, or with
// --json one JSON object per line for log pipelines. It never prints a key:
// the trail holds only key names and hints.
func audit(db database, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit")
	asJSON := fs.Bool("json", false, "")
	verify := fs.Bool("verify", false, "")
	db.register(fs)
	if code, ok := parseSub(fs, args, 0, 0, usage, stdout, stderr); !ok {
		return code
	}
	if err := db.check(); err != nil {
		fmt.Fprintf(stderr, "apiscopes audit: %v\n", err)
		return 2
	}
	name, err := db.name()
	if err == nil {
		err = db.missing()
	}
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes audit:", err)
		return 1
	}
	empty := func() int {
		if !*asJSON {
			fmt.Fprintf(stderr, "apiscopes audit: the audit log of %s is empty: nothing has been changed yet\n", name)
		}
		return 0
	}
	if *verify {
		return verifyAudit(db, name, stdout, stderr)
	}

	w := bufio.NewWriter(stdout)
	var write func(store.Event) error
	if *asJSON {
		write = func(ev store.Event) error { return writeJSONLine(w, ev) }
	} else {
		write = auditTable(w)
	}
	var n int64
	print := func() error {
		return db.reading(func(c *local.Conn) (err error) {
			// The process holding the file streams its trail.
			if n, err = c.Audit(write); err != nil {
				return err
			}
			return w.Flush()
		}, func(st *store.Store) error {
			err := st.EachEvent(func(ev store.Event) error { n++; return write(ev) })
			if err != nil {
				return err
			}
			return w.Flush()
		})
	}
	if f, ok := stdout.(*os.File); ok && isTerminal(f) {
		err = print() // the output itself shows progress
	} else {
		err = progress(stderr, "Exporting the audit log…", print)
	}
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes audit:", readError(name, err))
		return 1
	}
	if n == 0 {
		return empty()
	}
	return 0
}

// auditTable returns a writer of the audit log as aligned text columns:
// when (UTC), who, what, target and the change.
func auditTable(w io.Writer) func(store.Event) error {
	first := true
	row := func(when, who, what, target, change string) error {
		_, err := fmt.Fprintln(w, cell(when, 16), cell(who, 24), cell(what, 15), cell(target, 44), change)
		return err
	}
	return func(ev store.Event) error {
		if first {
			first = false
			if err := row("When (UTC)", "Who", "What", "Target", "Change"); err != nil {
				return err
			}
		}
		t := ev.Describe()
		return row(ev.At.UTC().Format("2006-01-02 15:04"), t.Who, t.What, t.Target, t.Change)
	}
}

// cell pads text to width terminal cells (wide characters count twice);
// longer text is left whole, so nothing is lost from the log.
func cell(text string, width int) string {
	return text + strings.Repeat(" ", max(1, width-ansi.StringWidth(text)+1))
}

// verifyAudit is `apiscopes audit --verify`: it walks the audit trail's
// hash chain from the first event and prints its head, for a copy kept
// elsewhere to be compared with; a broken chain names the first event
// altered, removed or inserted, and exits 1.
func verifyAudit(db database, name string, stdout, stderr io.Writer) int {
	var head store.AuditHead
	err := db.reading(func(c *local.Conn) (err error) {
		_, _, head, err = c.Check() // the holder's whole check walks the chain too
		return err
	}, func(st *store.Store) (err error) {
		head, err = st.VerifyAudit()
		return err
	})
	if err != nil {
		fmt.Fprintln(stderr, "apiscopes audit:", readError(name, err))
		return 1
	}
	fmt.Fprintf(stdout, "The audit trail of %s is intact: %s\n", name, head)
	return 0
}
