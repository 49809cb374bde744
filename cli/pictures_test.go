package cli

import (
	"encoding/xml"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"apiscopes/store"
	"apiscopes/tui"
)

// The README's pictures are drawn by the console itself: this test runs the
// demo's story through the real console and writes each frame, in colour,
// as docs/<name>.svg. Regenerate them after a change to the look with
//
//	go test ./cli -run TestPictures -pictures
//
// Without -pictures it draws the same frames and only checks them.
var writePictures = flag.Bool("pictures", false, "write the README's pictures to docs/")

const picW, picH = 110, 32

var keyText = regexp.MustCompile(`aps_[0-9A-Za-z]{49}`)

// picConsole drives a console directly, running the commands its updates
// return as the program would. A command that has not answered after a
// moment (a timer, or work still under way) goes on in the background;
// its message is applied only while a picture waits for its text, so
// frames depend only on the keys sent and the work they started.
type picConsole struct {
	t       *testing.T
	m       tea.Model
	pending chan tea.Msg
}

func (p *picConsole) send(msg tea.Msg) {
	var cmd tea.Cmd
	p.m, cmd = p.m.Update(msg)
	p.run(cmd)
}

func (p *picConsole) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		p.apply(msg)
	case <-time.After(50 * time.Millisecond):
		go func() { p.pending <- <-done }()
	}
}

func (p *picConsole) apply(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			p.run(c)
		}
	default:
		p.send(msg)
	}
}

// until applies the messages of work still under way until the screen
// shows want, failing the test after ten seconds.
func (p *picConsole) until(want string) string {
	p.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		screen := p.m.View().Content
		if strings.Contains(ansiStrip(screen), want) {
			return screen
		}
		select {
		case msg := <-p.pending:
			p.apply(msg)
		case <-deadline:
			p.t.Fatalf("the screen does not show %q:\n%s", want, ansiStrip(screen))
		}
	}
}

func (p *picConsole) keys(names ...string) {
	for _, n := range names {
		var k tea.KeyPressMsg
		switch n {
		case "enter":
			k = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "down":
			k = tea.KeyPressMsg{Code: tea.KeyDown}
		case "right":
			k = tea.KeyPressMsg{Code: tea.KeyRight}
		case "tab":
			k = tea.KeyPressMsg{Code: tea.KeyTab}
		default:
			for _, r := range n {
				p.send(tea.KeyPressMsg{Code: r, Text: string(r)})
			}
			continue
		}
		p.send(k)
	}
}

// picture writes (or, without -pictures, checks) the current frame.
func (p *picConsole) picture(name, title, want string) {
	p.t.Helper()
	// A key is shown once and never kept: not even a demo's belongs in a
	// committed file.
	screen := keyText.ReplaceAllStringFunc(p.until(want), func(k string) string {
		return "aps_" + strings.Repeat("•", len(k)-4)
	})
	svg := svgScreen(screen, title, picW, picH)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		p.t.Fatalf("picture %s is not well-formed SVG: %v", name, err)
	}
	if !*writePictures {
		return
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name+".svg"), []byte(svg), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func TestPictures(t *testing.T) {
	now := func() time.Time { return demoNow }
	cfg := demoConfig{now: now, status: os.Stderr, random: rand.NewChaCha8([32]byte{42})}
	err := withDemoStore(t.Context(), cfg, func(st *store.Store) error {
		start := func() *picConsole {
			p := &picConsole{t: t, pending: make(chan tea.Msg, 64), m: tui.New(tui.Options{Store: st, Location: time.UTC, Demo: &demoStory,
				Actor: store.Actor{Name: "you", Role: store.Admin, Origin: "demo"}})}
			t.Cleanup(p.m.(*tui.Model).Close)
			p.run(p.m.Init())
			p.send(tea.WindowSizeMsg{Width: picW, Height: picH})
			return p
		}
		p := start()
		p.picture("demo-welcome", "apiscopes demo", "Welcome to the apiscopes demo")
		p.keys("enter")
		p.picture("app-list", "apiscopes — API Scopes", "Risk & Compliance")
		p.keys("G", "enter")
		p.picture("edit-scopes", "apiscopes — Risk & Compliance", "API Scopes")
		p.keys("right")
		p.picture("edit-keys", "apiscopes — Risk & Compliance › API Keys", "quarterly-close")
		p.keys("c", "ledger-export", "enter")
		p.picture("key-shown-once", "apiscopes — Create new API key", "Copy and Close")

		p = start()
		p.keys("enter", "a", "down", "down")
		p.picture("audit-log", "apiscopes — Audit Log", "changed scopes")
		p.keys("/", "risk")
		p.picture("audit-filter", "apiscopes — Audit Log, filtered", "Filter")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ansiStrip is the screen's text without its styling.
func ansiStrip(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		for _, r := range svgRuns(line) {
			b.WriteString(r.text)
		}
		b.WriteString("\n")
	}
	return b.String()
}
