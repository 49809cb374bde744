package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"apiscopes/scopes"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/tui"
)

// brokenOutput is a stdout that takes nothing: a closed pipe, a full disk.
type brokenOutput struct{}

func (brokenOutput) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// holdDB opens path as a console does, answering commands on its socket.
func holdDB(t *testing.T, path string) *local.Holder {
	t.Helper()
	h, err := local.OpenStore(path, local.Options{Run: runForHolder}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// keysOf reads the keys of app 1 and the audit trail of the file at path,
// once no process holds it.
func keysAndEvents(t *testing.T, st *store.Store) ([]store.Key, []store.Event) {
	t.Helper()
	keys, err := st.Keys(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return keys, events
}

// TestUndeliveredKeyIsDeleted: when a new key's output cannot be
// delivered after the store made it (stdout closed, a write error), the
// key is deleted at once, audited as undelivered, and the command fails
// saying so: on a free file, through a holder, and in a session (SSH).
func TestUndeliveredKeyIsDeleted(t *testing.T) {
	check := func(t *testing.T, code int, errs string, st *store.Store) {
		t.Helper()
		if code != ExitUsage || !strings.Contains(errs, "could not be delivered (broken pipe), so it was deleted at once") {
			t.Errorf("key create = %d, %q", code, errs)
		}
		keys, events := keysAndEvents(t, st)
		for _, k := range keys {
			if k.Name == "lost" {
				t.Errorf("the undelivered key is still there: %+v", k)
			}
		}
		last := events[0]
		if last.Action != store.ActionKeyUndelivered || last.KeyName != "lost" {
			t.Errorf("the last event is %+v, want the key's deletion as undelivered", last)
		}
		if strings.Contains(errs, "aps_") && !strings.Contains(errs, "aps_…") {
			t.Errorf("the message holds a key: %q", errs)
		}
	}
	t.Run("file", func(t *testing.T) {
		path, _ := seededDB(t)
		var errb strings.Builder
		code := run([]string{"key", "create", "--db", path, "Risk & Compliance", "--name", "lost"}, strings.NewReader(""), brokenOutput{}, &errb)
		st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true}, store.ReadOnly())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		check(t, code, errb.String(), st)
	})
	t.Run("holder", func(t *testing.T) {
		path, _ := seededDB(t)
		h := holdDB(t, path)
		var errb strings.Builder
		code := run([]string{"key", "create", "--db", path, "Risk & Compliance", "--name", "lost"}, strings.NewReader(""), brokenOutput{}, &errb)
		check(t, code, errb.String(), h.Store())
	})
	t.Run("session", func(t *testing.T) {
		path, _ := seededDB(t)
		h := holdDB(t, path)
		var errb strings.Builder
		code := Serve(context.Background(), Session{Store: h.Store(), Actor: testAdmin, Remote: true,
			Stdout: brokenOutput{}, Stderr: &errb}, []string{"key", "create", "Risk & Compliance", "--name", "lost"})
		check(t, code, errb.String(), h.Store())
	})
}

// TestKeyTextOnlyOnStdout: a new key's text reaches the caller's stdout
// once and nothing else: not stderr, not the audit trail, not a listing.
func TestKeyTextOnlyOnStdout(t *testing.T) {
	path, _ := seededDB(t)
	code, out, errs := runCmd(t, "key", "create", "--db", path, "Risk & Compliance", "--name", "once")
	key := strings.TrimSpace(out)
	if code != 0 || out != key+"\n" || store.CheckKey(key) != nil {
		t.Fatalf("key create = %d, stdout %q", code, out)
	}
	if strings.Contains(errs, key) || strings.Contains(errs, key[4:47]) {
		t.Errorf("stderr holds the key: %q", errs)
	}
	for _, args := range [][]string{{"key", "list", "Risk & Compliance", "--json"}, {"app", "show", "Risk & Compliance"},
		{"audit", "--json"}, {"audit"}, {"app", "list", "--json"}} {
		_, out, errs := runCmd(t, append(args, "--db", path)...)
		if strings.Contains(out+errs, key[4:47]) {
			t.Errorf("%v shows the key's secret", args)
		}
	}
}

// TestFollowAudit: audit --follow --since prints the trail from that
// event, oldest first, each with its sequence number, then every event as
// it commits, until interrupted; on a free file (read a moment at a time,
// so a console can still open it), through a holder, and in a session.
func TestFollowAudit(t *testing.T) {
	type setup struct {
		run    func(ctx context.Context, args []string, out io.Writer) int
		change func(t *testing.T, name string)
	}
	for name, start := range map[string]func(t *testing.T, path string) setup{
		"file": func(t *testing.T, path string) setup {
			return setup{
				run: func(ctx context.Context, args []string, out io.Writer) int {
					return Run(ctx, append(args, "--db", path), nil, out, io.Discard)
				},
				change: func(t *testing.T, name string) {
					// A console may open the file while it is followed.
					h := holdDB(t, path)
					defer h.Close()
					if _, err := h.Store().CreateApp(t.Context(), testAdmin, name, scopes.NewSet(scopes.ModelExport)); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
		"holder": func(t *testing.T, path string) setup {
			h := holdDB(t, path)
			return setup{
				run: func(ctx context.Context, args []string, out io.Writer) int {
					return Run(ctx, append(args, "--db", path), nil, out, io.Discard)
				},
				change: func(t *testing.T, name string) {
					if _, err := h.Store().CreateApp(t.Context(), testAdmin, name, scopes.NewSet(scopes.ModelExport)); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
		"session": func(t *testing.T, path string) setup {
			h := holdDB(t, path)
			return setup{
				run: func(ctx context.Context, args []string, out io.Writer) int {
					return Serve(ctx, Session{Store: h.Store(), Actor: testAdmin, Remote: true, Stdout: out, Stderr: io.Discard}, args)
				},
				change: func(t *testing.T, name string) {
					if _, err := h.Store().CreateApp(t.Context(), testAdmin, name, scopes.NewSet(scopes.ModelExport)); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := seededDB(t) // events 1 and 2: the app and its key
			s := start(t, path)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, w := io.Pipe()
			done := make(chan int, 1)
			go func() {
				done <- s.run(ctx, []string{"audit", "--follow", "--json", "--since", "2"}, w)
				w.Close()
			}()
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			next := func(want string) {
				t.Helper()
				select {
				case l := <-lines:
					if !strings.HasPrefix(l, want) {
						t.Fatalf("followed %q, want it to begin %q", l, want)
					}
				case <-time.After(15 * time.Second):
					t.Fatalf("no event followed; want one beginning %q", want)
				}
			}
			next(`{"seq":2,`) // from --since, not from the start
			s.change(t, "Followed")
			next(`{"seq":3,`)
			s.change(t, "Followed too")
			next(`{"seq":4,`)
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("follow ended with %d, want 0 when interrupted", code)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("follow did not end when interrupted")
			}
		})
	}
}

// TestApplyInterrupted: an apply cut short after some of its changes says
// how far it got, and run again makes the rest, no change twice.
func TestApplyInterrupted(t *testing.T) {
	path, _ := seededDB(t)
	file := filepath.Join(t.TempDir(), "apps.yaml")
	writeFile(t, file, "apps:\n- name: A\n  scopes: [model:deploy]\n- name: B\n  scopes: [model:deploy]\n"+
		"- name: C\n  scopes: [model:deploy]\n- name: D\n  scopes: [model:deploy]\n")
	ctx, cancel := context.WithCancel(context.Background())
	applied = func(done int) {
		if done == 2 {
			cancel()
		}
	}
	defer func() { applied = func(int) {} }()
	var out, errb strings.Builder
	code := Run(ctx, []string{"apply", "--db", path, "-f", file}, strings.NewReader(""), &out, &errb)
	if code != ExitRetry || !strings.Contains(errb.String(), "interrupted after 2 of 4 changes: run apply again to go on") {
		t.Fatalf("apply = %d, %q", code, errb.String())
	}
	applied = func(int) {}
	code, stdout, errs := runCmd(t, "apply", "--db", path, "-f", file)
	if code != 0 || !strings.Contains(stdout, `+ app "C"`) || strings.Contains(stdout, `+ app "A"`) || !strings.Contains(stdout, "Applied 2 changes.") {
		t.Fatalf("apply again = %d, %q, %q", code, stdout, errs)
	}
	code, stdout, _ = runCmd(t, "apply", "--db", path, "-f", file)
	if code != 0 || !strings.Contains(stdout, "Nothing to change") {
		t.Errorf("a third apply = %d, %q", code, stdout)
	}
}

// TestFollowersHaveTheirOwnPlaces: commands following the trail through a
// holder have places of their own: past local.MaxFollowers they are
// refused, and verify is answered all the while.
func TestFollowersHaveTheirOwnPlaces(t *testing.T) {
	path, key := seededDB(t)
	holdDB(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, local.MaxFollowers)
	done := make(chan int, local.MaxFollowers)
	for range local.MaxFollowers {
		go func() {
			done <- Run(ctx, []string{"audit", "--follow", "--since", "1", "--db", path}, nil, &signalFirstWrite{c: started}, io.Discard)
		}()
	}
	for range local.MaxFollowers {
		select {
		case <-started:
		case <-time.After(15 * time.Second):
			t.Fatal("the followers did not start")
		}
	}
	code, _, errs := runCmd(t, "audit", "--follow", "--db", path)
	if code == 0 || !strings.Contains(errs, "commands already follow the audit trail here") {
		t.Errorf("one follower too many = %d, %q", code, errs)
	}
	for range 3 {
		if code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy"); code != 0 {
			t.Errorf("verify beside the followers = %d, %q", code, errs)
		}
	}
	cancel()
	for range local.MaxFollowers {
		<-done
	}
}

// signalFirstWrite signals once when written to.
type signalFirstWrite struct {
	c    chan<- struct{}
	once bool
}

func (s *signalFirstWrite) Write(p []byte) (int, error) {
	if !s.once {
		s.once = true
		s.c <- struct{}{}
	}
	return len(p), nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWritesThroughAHolderReachItsConsoles: a change a command makes on a
// file a console holds is made by that console's process, so the console
// shows it at once.
func TestWritesThroughAHolderReachItsConsoles(t *testing.T) {
	path, _ := seededDB(t)
	h := holdDB(t, path)
	m := tui.New(tui.Options{Store: h.Store(), Actor: testAdmin, Location: time.UTC})
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ASCII), tea.WithEnvironment([]string{"TERM=xterm-256color"})))
	t.Cleanup(func() {
		tm.Send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Risk & Compliance")) },
		teatest.WithDuration(10*time.Second))
	code, _, errs := runCmd(t, "app", "create", "--db", path, "Made Elsewhere", "--scope", "model:export")
	if code != 0 {
		t.Fatalf("app create through the console = %d, %q", code, errs)
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("Made Elsewhere")) },
		teatest.WithDuration(10*time.Second))
}

// TestKeyTextNeverSentToTheHolder: a key named by its text (--text -) is
// sent to the process holding the file as its digest: the command's words
// and input there hold no key.
func TestKeyTextNeverSentToTheHolder(t *testing.T) {
	path, key := seededDB(t)
	var sent []string
	h, err := local.OpenStore(path, local.Options{Run: func(ctx context.Context, c local.Call) int {
		in, _ := io.ReadAll(c.Stdin)
		sent = append(sent, strings.Join(c.Args, " ")+"|"+string(in))
		c.Stdin = bytes.NewReader(in)
		return runForHolder(ctx, c)
	}}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	code, out, errs := runWithStdin(t, "API_KEY="+key+"\n", "key", "delete", "--db", path, "--text", "-", "--yes")
	if code != 0 || !strings.Contains(out, `Deleted API key "ci"`) {
		t.Fatalf("key delete --text - = %d, %q, %q", code, out, errs)
	}
	if len(sent) != 1 || strings.Contains(sent[0], key[4:47]) || !strings.Contains(sent[0], "--digest=") {
		t.Errorf("the holder was sent %q", sent)
	}
}

// TestTextFindsTheKeyAsScanDoes: --text - finds the key however scan found
// it: here in base64, as a CI secret is often kept.
func TestTextFindsTheKeyAsScanDoes(t *testing.T) {
	path, key := seededDB(t)
	encoded := base64.StdEncoding.EncodeToString([]byte("API_KEY=" + key + "\n"))
	code, out, errs := runWithStdin(t, "secret: "+encoded+"\n", "key", "delete", "--db", path, "--text", "-", "--yes")
	if code != 0 || !strings.Contains(out, `Deleted API key "ci"`) {
		t.Fatalf("key delete --text - of a base64 key = %d, %q, %q", code, out, errs)
	}
}
