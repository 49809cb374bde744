package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProgressOnlyOnTerminals: a log or a pipe gets no spinner frames, and
// the work's error comes through.
func TestProgressOnlyOnTerminals(t *testing.T) {
	var out bytes.Buffer
	boom := errors.New("boom")
	err := progress(&out, "Working…", func() error { time.Sleep(150 * time.Millisecond); return boom })
	if !errors.Is(err, boom) || out.Len() != 0 {
		t.Errorf("progress = %v, wrote %q", err, out.String())
	}
}

// TestProgressOnATerminal: on a terminal, work that takes a while shows a
// spinner with its label, and the line is cleared when the work is done.
func TestProgressOnATerminal(t *testing.T) {
	ptmx, tty := openPTY(t)
	seen := make(chan struct{})
	drawn := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 256)
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if bytes.Contains(b.Bytes(), []byte("Working…")) && seen != nil {
				close(seen)
				seen = nil
			}
			if bytes.Contains(b.Bytes(), []byte("\r\x1b[2K")) || err != nil {
				drawn <- b.String()
				return
			}
		}
	}()
	seenSpinner := seen
	err := progress(tty, "Working…", func() error {
		select {
		case <-seenSpinner: // the spinner reached the terminal while the work ran
		case <-time.After(10 * time.Second):
			t.Error("no spinner on the terminal")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-drawn:
		if !strings.Contains(out, "Working…") || !strings.HasSuffix(out, "\r\x1b[2K") {
			t.Errorf("the terminal got %q; want the spinner, then the line cleared", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the line was not cleared")
	}
}
