package tui

import (
	"bytes"
	"encoding/base64"
	"io"
	"testing"
	"time"
)

// TestTerminalClipboardFallback: where the system clipboard fails, the key
// goes to the user's terminal as OSC 52, and the message says so.
func TestTerminalClipboardFallback(t *testing.T) {
	st := newTestStore(t)
	ct := startConsole(t, st, testAdmin, 80, 24)
	const text = "aps_not-a-real-key"
	ct.tm.Send(terminalCopyMsg{text: text})
	ct.waitFor("API key copied to your terminal's clipboard (OSC 52).")

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
