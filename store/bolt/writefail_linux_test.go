package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// makeRoom gives the store free pages inside its file, as a database in use
// has: it adds and removes keys (leaving their audit events), so the next
// changes reuse pages instead of growing the file.
func makeRoom(t *testing.T, st *store.Store) {
	t.Helper()
	for i := range 20 {
		app, err := st.CreateApp(t.Context(), admin, fmt.Sprintf("scratch %d", i), scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		for k := range 10 {
			if _, _, err := st.CreateKey(t.Context(), admin, app.ID, fmt.Sprintf("scratch key %d", k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		if strings.HasPrefix(a.Name, "scratch ") {
			if err := st.DeleteApp(t.Context(), admin, a.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Maintain(t.Context()); err != nil { // sweep what the deletions left
		t.Fatal(err)
	}
}

// TestWriteFailureLeavesNothingHalfWritten: when the disk is full or the
// file system turns read-only under a running store, every kind of change
// fails with a WriteError that says why and what to do; the store still
// reads as before the change, the file is sound and unchanged, and once
// the cause is gone the same change succeeds.
func TestWriteFailureLeavesNothingHalfWritten(t *testing.T) {
	for _, tt := range []struct {
		name, device string
		flag         int
		errno        syscall.Errno
		says         string
	}{
		{"disk full", "/dev/full", os.O_WRONLY, syscall.ENOSPC, "the disk is full (write"},
		{"read-only", "", os.O_RDONLY, syscall.EBADF, "the file is not writable (write"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			makeRoom(t, st)
			app := mustApp(t, st, "Risk", scopes.NewSet(scopes.ModelDeploy))
			text, key := mustKey(t, st, app.ID, "prod")
			_, other := mustKey(t, st, app.ID, "other")
			before := read(t, st)

			device := tt.device
			if device == "" {
				device = fileOf(st)
			}
			restore := storetest.FailWrites(t, fileOf(st), device, tt.flag)
			file, _ := os.ReadFile(fileOf(st))
			changes := []struct {
				name string
				do   func() error
			}{
				{"create app", func() error { _, err := st.CreateApp(t.Context(), admin, "Support", scopes.Full()); return err }},
				{"rename", func() error { _, err := st.SaveApp(t.Context(), admin, app, "Credit risk", app.Scopes); return err }},
				{"re-scope", func() error {
					cur, err := st.App(t.Context(), app.ID)
					if err == nil {
						_, err = st.SaveApp(t.Context(), admin, cur, cur.Name, scopes.Full())
					}
					return err
				}},
				{"create key", func() error { _, _, err := st.CreateKey(t.Context(), admin, app.ID, "ci"); return err }},
				{"roll key", func() error { _, _, _, err := st.RollKey(t.Context(), admin, other.ID, time.Hour); return err }},
				{"delete key", func() error { return st.DeleteKey(t.Context(), admin, key.ID) }},
				{"delete app", func() error { return st.DeleteApp(t.Context(), admin, app.ID) }},
				{"bulk load", func() error {
					_, err := st.CreateApps(t.Context(), admin, []store.AppSpec{{Name: "Bulk", Scopes: scopes.Full(), Keys: []string{"k"}}})
					return err
				}},
			}
			for _, c := range changes {
				err := c.do()
				var we *store.WriteError
				if !errors.As(err, &we) || !errors.Is(err, store.ErrWriteFailed) || !errors.Is(err, tt.errno) {
					t.Fatalf("%s: err = %v, want a WriteError for %v", c.name, err, tt.errno)
				}
				for _, want := range []string{fileOf(st), tt.says, tt.errno.Error(), "nothing was changed", "and try again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %q does not say %q", c.name, err, want)
					}
				}
				if got := read(t, st); got.String() != before.String() {
					t.Fatalf("%s: the failed change is visible:\n%s\nwant\n%s", c.name, got, before)
				}
			}
			if d, err := st.Verify(text, scopes.ModelDeploy); err != nil || !d.Allowed {
				t.Errorf("reads fail while writes do: %v, %v", d, err)
			}
			restore()
			if after, _ := os.ReadFile(fileOf(st)); !bytes.Equal(file, after) {
				t.Error("the failed changes reached the file")
			}
			if err := st.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				if err := c.do(); err != nil {
					t.Errorf("%s after the disk recovered: %v", c.name, err)
				}
			}
			if err := st.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriteErrorsAreCounted: a write the disk refuses is counted; a change
// the store itself refuses (a bad name) is not a write error.
func TestWriteErrorsAreCounted(t *testing.T) {
	s := newStore(t)
	mustApp(t, s, "Risk", scopes.Full()) // the file has room for the next change
	restore := storetest.FailWrites(t, fileOf(s), "/dev/full", os.O_WRONLY)
	_, err := s.CreateApp(t.Context(), admin, "Other", scopes.Full())
	restore()
	if !errors.Is(err, store.ErrWriteFailed) || s.WriteErrors() != 1 {
		t.Errorf("a refused write: %v; %d counted", err, s.WriteErrors())
	}
	if _, err := s.CreateApp(t.Context(), admin, "Bad\x1b", scopes.Full()); err == nil || s.WriteErrors() != 1 {
		t.Errorf("a refused name counted as a write error: %v, %d", err, s.WriteErrors())
	}
}
