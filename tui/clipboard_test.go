package tui

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"
)

// TestTerminalClipboardFallback: where the system clipboard fails, the key
// goes to the user's terminal as OSC 52, and the message says so.
func TestTerminalClipboardFallback(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, 80, 24)
	const text = "aps_not-a-real-key"
	ct.tm.Send(terminalCopyMsg{text: text})
	ct.waitFor("Sent to your terminal with OSC 52.")

	want := []byte("\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)))
	deadline := time.Now().Add(5 * time.Second)
	var out bytes.Buffer
	for !bytes.Contains(out.Bytes(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no OSC 52 sequence for the key in the program's output")
		}
		b, _ := io.ReadAll(ct.tm.Output())
		out.Write(b)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTerminalCopyKeepsKeyVisible: over OSC 52 nobody can tell whether the
// terminal took the key, so it stays on screen until the user closes it.
func TestTerminalCopyKeepsKeyVisible(t *testing.T) {
	forSizes(t, "screen", func(t *testing.T, w, h int, name func(string) string) {
		st := newTestStore(t)
		seedBank(t, st)
		ct := &consoleTest{t: t, st: st}
		startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: TerminalClipboard()}, w, h)
		ct.press("e", "c")
		ct.typeText("ssh-session")
		ct.press("enter")
		ct.waitFor("Copy and Close")
		ct.press("enter")
		s := ct.golden(name("key-sent-osc52"), "Sent to your terminal with OSC 52.") // the message comes last
		if !keyPattern.MatchString(s) {
			t.Fatal("the key left the screen before the dialog closed")
		}
		if strings.Contains(s, "✓") || strings.Contains(s, "copied") {
			t.Errorf("the message claims the key arrived:\n%s", s)
		}
		ct.press("enter")
		s = ct.waitFor("API Scopes")
		if keyPattern.MatchString(s) {
			t.Fatal("the key is still on screen after Close")
		}
	})
}

// TestCtrlCAfterTerminalCopyQuits: once the key went to the terminal, esc
// closes at once, so ctrl+c quits at once: it does not ask "Quit without
// copying?" of a key that was copied as far as anyone can tell.
func TestCtrlCAfterTerminalCopyQuits(t *testing.T) {
	st := newTestStore(t)
	seedBank(t, st)
	ct := &consoleTest{t: t, st: st}
	startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: TerminalClipboard()}, 80, 24)
	ct.press("e", "c")
	ct.typeText("ssh-session")
	ct.press("enter")
	ct.waitFor("Copy and Close")
	ct.press("enter")
	ct.waitFor("Sent to your terminal with OSC 52.")
	ct.press("ctrl+c")
	ct.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}
