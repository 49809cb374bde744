package tui

import (
	"os"
	"strings"
	"testing"
)

// TestDiskFullKeepsTheConsoleRunning: with the disk full under it, the
// console refuses each change with a message that says why and what to do,
// keeps what was typed, and saves it once there is room again.
func TestDiskFullKeepsTheConsoleRunning(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	makeRoom(t, st, testAdmin)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.waitFor("Risk & Compliance")
	restore := failWrites(t, st.Path(), "/dev/full", os.O_WRONLY)

	ct.press("d")
	ct.waitFor("Delete app")
	ct.press("y")
	ct.waitFor("✗ Not saved: the disk is full. Free some space, then try again.")
	requireApps(t, st, 3)

	ct.press("n")
	ct.typeText("Treasury")
	ct.press("tab", "space", "ctrl+s")
	s := ct.golden("screen-80x24-disk-full", "Not saved: the disk is full.")
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
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
