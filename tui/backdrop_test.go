package tui

import (
	"strings"
	"testing"
)

// TestDialogBackdrop: behind a dialog the page goes faint and the dialog's
// rows hold nothing but the dialog, while the help bar, which now speaks
// of the dialog, stays as it was.
func TestDialogBackdrop(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, MinWidth, MinHeight)
	ct.press("down", "down", "e", "right", "tab", "r")
	ct.waitFor("(•) In 24 hours")
	sh := ct.shot()
	lines := strings.Split(sh.screen, "\n")
	faint := strings.TrimSuffix(NewStyles(true).Backdrop.Render("x"), "x\x1b[m")
	if faint == "" || !strings.HasPrefix(lines[0], faint+"  apiscopes") {
		t.Errorf("the header behind the dialog is not faint: %q", lines[0])
	}
	if help := lines[len(lines)-1]; !strings.Contains(help, "tab") || strings.Contains(help, faint+"tab") {
		t.Errorf("the help bar's keys are not drawn as keys behind the dialog: %q", help)
	}
	box := sh.areas["dialog"]
	if box.Empty() {
		t.Fatal("no dialog area")
	}
	for y := box.Min.Y; y < box.Max.Y; y++ {
		row := []rune(strings.TrimRight(plain(lines[y]), "\r\n"))
		for x, r := range row {
			if (x < box.Min.X || x >= box.Max.X) && r != ' ' {
				t.Fatalf("row %d shows %q beside the dialog: %q", y, r, string(row))
			}
		}
	}
}
