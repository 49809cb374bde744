package store

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"apiscopes/scopes"
	"apiscopes/store/storetest"
)

// TestWriteFailureLeavesNothingHalfWritten: when the disk is full or the
// file system turns read-only under a running store, every kind of change
// fails with a WriteError that says why and what to do; the store still
// reads as before the change, the file is sound, and once the cause is gone
// the same change succeeds.
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
			s := newTestStore(t)
			makeRoom(t, s, admin)
			app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
			text, key := mustCreateKey(t, s, app.ID, "prod")
			before := takeSnapshot(t, s)

			device := tt.device
			if device == "" {
				device = s.Path()
			}
			restore := storetest.FailWrites(t, s.Path(), device, tt.flag)
			file, _ := os.ReadFile(s.Path())
			changes := map[string]func() error{
				"create app": func() error { _, err := s.CreateApp(admin, "Support", scopes.Full()); return err },
				"rename":     func() error { _, err := s.RenameApp(admin, app.ID, "Credit risk"); return err },
				"re-scope":   func() error { _, err := s.SetScopes(admin, app.ID, scopes.Full()); return err },
				"create key": func() error { _, _, err := s.CreateKey(admin, app.ID, "ci"); return err },
				"delete key": func() error { return s.DeleteKey(admin, key.ID) },
				"delete app": func() error { return s.DeleteApp(admin, app.ID) },
			}
			for what, change := range changes {
				err := change()
				var we *WriteError
				if !errors.As(err, &we) || !errors.Is(err, ErrWriteFailed) || !errors.Is(err, tt.errno) {
					t.Fatalf("%s: err = %v, want a WriteError for %v", what, err, tt.errno)
				}
				for _, want := range []string{s.Path(), tt.says, tt.errno.Error(), "nothing was changed", "and try again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %q does not say %q", what, err, want)
					}
				}
				if got := takeSnapshot(t, s); !got.equal(before) {
					t.Fatalf("%s: the failed change is visible", what)
				}
			}
			if d, err := s.Verify(text, scopes.ModelDeploy); err != nil || !d.Allowed {
				t.Errorf("reads fail while writes do: %v, %v", d, err)
			}
			restore()
			if after, _ := os.ReadFile(s.Path()); !bytes.Equal(file, after) {
				t.Error("the failed changes reached the file")
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateApp(admin, "Support", scopes.Full()); err != nil {
				t.Fatalf("after the disk recovered: %v", err)
			}
			if err := s.DeleteApp(admin, app.ID); err != nil {
				t.Fatalf("after the disk recovered: %v", err)
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
