package cli

import (
	"bytes"
	"errors"
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
