package tui

import (
	"os"
	"strings"
	"testing"

	"apiscopes/store/storetest"
)

// TestWriteFailureKeepsTheConsoleRunning: with the disk full, or the file
// turned read-only, under it, the console refuses each change with a
// message that says why and what to do, keeps what was typed, and saves it
// once the cause is gone.
func TestWriteFailureKeepsTheConsoleRunning(t *testing.T) {
	for _, tt := range []struct {
		name, device string
		flag         int
		says, golden string
	}{
		{"disk full", "/dev/full", os.O_WRONLY, "Not saved: the disk is full. Free some space and try again.", "screen-80x24-disk-full"},
		{"read-only", "", os.O_RDONLY, "Not saved: the file is not writable. Check its permissions and try again.", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newFileStore(t)
			seedBank(t, st)
			makeRoom(t, st, testAdmin)
			ct := startConsole(t, st, testAdmin, 80, 24)
			ct.waitFor("Risk & Compliance")
			device := tt.device
			if device == "" {
				device = st.Name()
			}
			restore := storetest.FailWrites(t, st.Name(), device, tt.flag)

			ct.press("d")
			ct.waitFor("Delete app")
			ct.press("y")
			ct.waitFor("✗ " + tt.says)
			requireApps(t, st, 3)

			ct.press("n")
			ct.typeText("Treasury")
			ct.press("tab", "space", "ctrl+s")
			var s string
			if tt.golden != "" {
				s = ct.golden(tt.golden, tt.says)
			} else {
				s = ct.waitFor(tt.says)
			}
			for _, want := range []string{"Treasury", "[x] Deploy workflow"} {
				if !strings.Contains(s, want) {
					t.Errorf("the form lost %q:\n%s", want, s)
				}
			}
			requireApps(t, st, 3)

			restore()
			ct.press("ctrl+s")
			ct.waitFor(`App "Treasury" created.`)
			requireApps(t, st, 4)
			if err := st.Check(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
