package tui

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// TestFocusShowsWithoutColour: on a terminal that draws no colour (TERM=dumb,
// NO_COLOR) the focus is marked in the text itself: Cancel and Delete never
// look alike, and every part of a form or dialog looks different with the
// focus in its text alone.
func TestFocusShowsWithoutColour(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     []string
		profile colorprofile.Profile
	}{
		{"dumb", []string{"TERM=dumb"}, colorprofile.NoTTY},
		{"NO_COLOR", []string{"NO_COLOR=1"}, colorprofile.ASCII},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(t)
			seedBank(t, st)
			ct := &consoleTest{t: t, st: st, env: tt.env, profile: tt.profile}
			startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: ct.clipboard()}, 64, 18)
			ct.waitFor("› Customer Support")
			ct.press("d")
			s := ct.golden("nocolour-64x18-"+tt.name+"-delete", "[›Cancel‹]  [ Delete ]")
			if strings.Contains(s, "[ Cancel ]  [ Delete ]") {
				t.Errorf("Cancel and Delete look alike:\n%s", s)
			}
			ct.press("tab")
			ct.waitFor("[ Cancel ]  [›Delete‹]")
			ct.press("esc")
			ct.waitFor("› Customer Support")
			ct.walkFocusText("the list")

			ct.press("e")
			ct.waitFor("Keys change at once")
			ct.walkFocusText("the configuration window")
			ct.press("right", "c")
			ct.waitFor("Create new API key")
			ct.walkFocusText("the key dialog")
			ct.press("tab", "left", "left")
			ct.golden("nocolour-64x18-"+tt.name+"-key-dialog", "›(•) 90 days‹")
			ct.press("esc", "esc")
		})
	}
}

// sgrSeq is a Select Graphic Rendition sequence and its parameters.
var sgrSeq = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// colourParams reports the colour parameters of the SGR sequences in out:
// foreground and background, in 16, 256 or true colour.
func colourParams(out string) []string {
	var found []string
	for _, m := range sgrSeq.FindAllStringSubmatch(out, -1) {
		for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, _ := strconv.Atoi(p)
			if n >= 30 && n <= 38 || n >= 40 && n <= 48 || n >= 90 && n <= 97 || n >= 100 && n <= 107 {
				found = append(found, m[0])
				break
			}
		}
	}
	return found
}

// TestMonochromeTerminalGetsNoColour: TERM=xterm-mono, as the command line
// and the SSH server pass it, receives no colour escape from the first
// frame, whatever colours the program took it for, and still sees the
// focus, in reverse video and in the text.
func TestMonochromeTerminalGetsNoColour(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := &consoleTest{t: t, st: st, env: []string{"TERM=xterm-mono"}, profile: colorprofile.ANSI256}
	startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: ct.clipboard(), Term: "xterm-mono"}, 80, 24)
	ct.waitFor("› Customer Support")
	ct.press("d")
	ct.waitFor("[›Cancel‹]  [ Delete ]")
	ct.press("esc", "ctrl+c")
	ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	raw, err := io.ReadAll(ct.tm.FinalOutput(t, teatest.WithFinalTimeout(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if found := colourParams(string(raw)); len(found) > 0 {
		t.Errorf("a monochrome terminal was sent %d colour escapes, such as %q", len(found), found[0])
	}
	if !strings.Contains(string(raw), "\x1b[1;7m") && !strings.Contains(string(raw), "\x1b[7;1m") && !strings.Contains(string(raw), ";7m") {
		t.Errorf("the focus is not in reverse video on a monochrome terminal")
	}
}

// TestColourTerminalGetsColour: the same check finds colour where it is
// due, so that its silence above means something.
func TestColourTerminalGetsColour(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.waitFor("› Customer Support")
	ct.press("ctrl+c")
	ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	raw, err := io.ReadAll(ct.tm.FinalOutput(t, teatest.WithFinalTimeout(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(colourParams(string(raw))) == 0 {
		t.Errorf("a 256-colour terminal got no colour: the check cannot see colour")
	}
}

// TestMonochromeFromTheEnvironment: a console not told its terminal's type
// learns it from the program's environment and draws the focus in text.
func TestMonochromeFromTheEnvironment(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := &consoleTest{t: t, st: st, env: []string{"TERM=linux-m"}, profile: colorprofile.ANSI}
	startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: ct.clipboard()}, 80, 24)
	ct.waitFor("› Customer Support")
	ct.press("d")
	ct.waitFor("[›Cancel‹]  [ Delete ]")
}
