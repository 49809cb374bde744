package cli

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// followFlags are audit's --follow and --since.
type followFlags struct {
	on    bool
	since uint64
}

func (f *followFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.on, "follow", false, "print events as they commit, oldest first, until interrupted")
	cmd.Flags().Uint64Var(&f.since, "since", 0, "with --follow: start at this sequence number (default: from now)")
}

// followPoll is how often a follower looks at a file no process holds for
// new events; while one holds it, that process sends each event as it
// commits.
const followPoll = 500 * time.Millisecond

// followAudit prints the audit trail from --since (from now, by default)
// and then every event as it commits, until the command's context ends.
// Each line (or JSON object) carries its sequence number, so a log shipper
// resumes where it stopped with --since.
func (inv *invocation) followAudit(cmd *cobra.Command, db *database, f followFlags, asJSON bool) error {
	ctx := cmd.Context()
	tracked := &seqTracker{w: inv.stdout, json: asJSON}
	write := inv.followWriter(tracked, asJSON)
	if inv.served != nil {
		return followStore(ctx, inv.served.Store, f.since, write)
	}
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	if db.cluster() {
		st, err := db.openCluster(0, store.ReadOnly(), store.WithMaintenance(0))
		if err != nil {
			return fail(ExitUsage, err)
		}
		defer st.Close()
		return followStore(ctx, st, f.since, write)
	}
	path, err := dbPath(db.path)
	if err == nil {
		err = db.missing()
	}
	if err != nil {
		return fail(ExitUsage, err)
	}
	// The file is read a moment at a time, never held: a console or serve
	// may start on it meanwhile, and then sends the events as they commit.
	next := f.since
	inv.sent.follow = true
	for {
		err := local.Reach(path, func(c *local.Conn) error {
			inv.sent.flags = map[string]string{}
			if next > 0 { // else from now, as the holder counts it
				inv.sent.flags["since"] = strconv.FormatUint(next, 10)
			}
			tracked.last = 0
			ferr := inv.forward(cmd, c)
			if tracked.last > 0 {
				next = tracked.last + 1
			}
			return ferr
		}, func() error {
			eng, err := bolt.Open(path, bolt.Options{ReadOnly: true, Timeout: time.Nanosecond, SkipPageCheck: true})
			if err != nil {
				return err
			}
			defer eng.Close()
			if next == 0 {
				head, err := store.AuditHeadOf(ctx, eng)
				if err != nil {
					return err
				}
				next = head + 1
			}
			next, err = store.ReadEvents(ctx, eng, next, write)
			return err
		})
		var e *exitError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &e) && e.code == ExitRetry:
			// the holder stopped: go on with the file
		case err != nil && errors.As(err, &e):
			return err
		case err != nil && !errors.Is(err, store.ErrLocked):
			return fail(ExitUsage, readError(path, err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

// followStore prints st's events from since (from now if 0), then each new
// one as it commits, until ctx ends. It ends with exit status 3 (worth
// retrying) when the store closes under it: the process serving it stops.
func followStore(ctx context.Context, st *store.Store, since uint64, write func(store.Event) error) error {
	changes, stop := st.Changes()
	defer stop()
	next := since
	if next == 0 {
		head, err := store.AuditHeadOf(ctx, st.Engine())
		if err != nil {
			return refused(err)
		}
		next = head + 1
	}
	for {
		var err error
		if next, err = store.ReadEvents(ctx, st.Engine(), next, write); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fail(ExitRetry, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case _, open := <-changes:
			if !open {
				return failf(ExitRetry, "the database was closed: follow again with --since %d", next)
			}
		}
	}
}

// followWriter writes each event as it comes, flushed: a table with the
// sequence number first, or JSON Lines.
func (inv *invocation) followWriter(w io.Writer, asJSON bool) func(store.Event) error {
	if asJSON {
		return func(ev store.Event) error { return writeJSONLine(w, ev) }
	}
	return inv.eventTable(w, true)
}

// seqTracker passes a follower's output on and notes the sequence number
// of the last event it saw whole, read from the start of each line (the
// table's first column, or JSON's first member), so a follow through a
// holder that stops goes on where it was.
type seqTracker struct {
	w    io.Writer
	json bool
	last uint64
	line []byte
}

func (t *seqTracker) Write(p []byte) (int, error) {
	for _, b := range p {
		if b != '\n' {
			if len(t.line) < 32 {
				t.line = append(t.line, b)
			}
			continue
		}
		t.note(t.line)
		t.line = t.line[:0]
	}
	return t.w.Write(p)
}

func (t *seqTracker) note(line []byte) {
	s := string(line)
	if t.json {
		var ok bool
		if s, ok = strings.CutPrefix(s, `{"seq":`); !ok {
			return
		}
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if v, err := strconv.ParseUint(s[:n], 10, 64); err == nil && v > 0 {
		t.last = v
	}
}
