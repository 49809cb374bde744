package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// runHolder opens a database whose holder runs commands with run.
func runHolder(t *testing.T, run func(context.Context, Call) int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	seeded(t, path)
	h, err := OpenStore(path, Options{Run: run}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return path
}

// TestRunCommand: a command line sent to the holder runs there as the
// caller's user, with its words, its stdin, its answers to questions and
// its word that a key arrived; its output and exit status come back.
func TestRunCommand(t *testing.T) {
	type seen struct {
		call   Call
		stdin  string
		answer string
		taken  error
	}
	got := make(chan seen, 1)
	path := runHolder(t, func(ctx context.Context, c Call) int {
		in, _ := io.ReadAll(c.Stdin)
		fmt.Fprint(c.Stdout, "out:"+strings.Join(c.Args, " "))
		fmt.Fprint(c.Stderr, "err")
		answer, _ := c.Ask("sure? ")
		taken := c.Deliver([]byte("aps_key\n"))
		got <- seen{c, string(in), answer, taken}
		return 3
	})
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errb, key bytes.Buffer
	code, err := c.Run(context.Background(), RunRequest{Args: []string{"app", "list"}, Stdin: []byte("apps: []"), Terminal: true, TZ: "UTC"},
		RunIO{Stdout: &out, Stderr: &errb,
			Ask: func(q string) (string, error) { return "yes:" + q, nil },
			Deliver: func(p []byte) error {
				time.Sleep(20 * time.Millisecond) // a file being synced
				key.Write(p)
				return nil
			}})
	s := <-got
	if err != nil || code != 3 {
		t.Fatalf("Run = %d, %v (the command saw %+v)", code, err, s)
	}
	if out.String() != "out:app list" || errb.String() != "err" || key.String() != "aps_key\n" {
		t.Errorf("out %q, err %q, key %q", out.String(), errb.String(), key.String())
	}
	if s.stdin != "apps: []" || s.answer != "yes:sure? " || s.taken != nil || !s.call.Terminal || s.call.TZ != "UTC" {
		t.Errorf("the command saw %+v", s)
	}
	if s.call.Actor.Role != store.Admin || s.call.Actor.Origin != "local" {
		t.Errorf("the command ran as %+v, want the database owner as an admin", s.call.Actor)
	}
}

// TestRunKeyNotTaken: a caller that cannot write the key says so, and the
// command hears it as an error.
func TestRunKeyNotTaken(t *testing.T) {
	got := make(chan error, 1)
	path := runHolder(t, func(ctx context.Context, c Call) int {
		got <- c.Deliver([]byte("aps_key\n"))
		return 2
	})
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code, err := c.Run(context.Background(), RunRequest{Args: []string{"key", "create"}},
		RunIO{Stdout: io.Discard, Stderr: io.Discard, Deliver: func([]byte) error { return errors.New("disk full") }})
	if err != nil || code != 2 {
		t.Fatalf("Run = %d, %v", code, err)
	}
	if err := <-got; err == nil || err.Error() != "disk full" {
		t.Errorf("Deliver = %v, want the caller's disk full", err)
	}
}

// fakeHolder listens beside the database at path as a holder would,
// records the first request line it is sent, and refuses it.
func fakeHolder(t *testing.T, path string) <-chan string {
	t.Helper()
	p, err := locate(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, _, err := listen(p)
	if err != nil {
		t.Skipf("no socket here: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 4)
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			got <- line
			writeFrame(c, frameError, mustJSON(errorBody{V: Version, Error: "recorded"}))
			c.Close()
		}
	}()
	return got
}

// TestNoKeyTextOnTheSocket: verify and the lookups of scan send the
// process holding the file the key's digest, never its text.
func TestNoKeyTextOnTheSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	key := seeded(t, path)
	got := fakeHolder(t, path)
	for _, ask := range []func(*Conn) error{
		func(c *Conn) error { _, err := c.Verify(key, "model:deploy", netip.Addr{}); return err },
		func(c *Conn) error { _, err := c.Lookup(key, "model:deploy"); return err },
	} {
		c, err := Dial(path)
		if err != nil {
			t.Fatal(err)
		}
		ask(c)
		c.Close()
		line := <-got
		digest := store.KeyDigest(key)
		if strings.Contains(line, key) || strings.Contains(line, key[4:47]) || !strings.Contains(line, hex.EncodeToString(digest[:])) {
			t.Errorf("the request %q holds the key, or not its digest", line)
		}
	}
}
