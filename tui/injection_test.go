package tui

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	bolt "go.etcd.io/bbolt"

	"apiscopes/scopes"
	"apiscopes/store"
	apibolt "apiscopes/store/bolt"
)

// hostile are names another tool could write into the database: each tries
// to take over the admin's terminal when drawn.
var hostile = []string{
	"\x1b]52;c;ZXZpbA==\x07Payroll",       // OSC 52: set the clipboard
	"\x1b]0;pwned\x07Title",               // OSC 0: set the window title
	"\x1b[2J\x1b[HWiped",                  // clear the screen, cursor home
	"\x1b[10;5HMoved\x1b[3A",              // cursor moves
	"Over\rwrite",                         // carriage return
	"C1\u009b2JClear",                     // C1 CSI, as a character
	"Raw\x9b2JByte",                       // C1 CSI, as a raw byte
	"invoice\u202Etxt.exe",                // right-to-left override
	"Isolate\u2067RTL\u2069",              // right-to-left isolate
	"Bell\x07Backspace\x08Delete\x7fNull", // assorted C0
}

// handMadeDatabase writes hostile names straight into the records, as
// another tool could, bypassing the store's refusal: app names, key names
// and the "created by" of both.
func handMadeDatabase(t *testing.T) *store.Store {
	t.Helper()
	st := newFileStore(t)
	var ids []uint64
	for i := range hostile {
		app, err := st.CreateApp(t.Context(), testAdmin, fmt.Sprintf("placeholder %d", i), scopes.Full())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, "key"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, app.ID)
	}
	path := st.Name()
	st.Close()

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		apps, names, keys := tx.Bucket([]byte("apps")), tx.Bucket([]byte("names")), tx.Bucket([]byte("keys"))
		for i, id := range ids {
			k := make([]byte, 8)
			for j := range 8 {
				k[7-j] = byte(id >> (8 * j))
			}
			var rec map[string]any
			if err := json.Unmarshal(apps.Get(k), &rec); err != nil {
				return err
			}
			names.Delete([]byte(strings.ToLower(rec["name"].(string))))
			rec["name"], rec["created_by"] = hostile[i], hostile[(i+1)%len(hostile)]
			if err := putJSON(apps, k, rec); err != nil {
				return err
			}
			if err := names.Put([]byte(strings.ToLower(strings.ToUpper(hostile[i]))), k); err != nil {
				return err
			}
		}
		i := 0
		return keys.ForEach(func(k, v []byte) error {
			var rec map[string]any
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			rec["name"], rec["created_by"] = hostile[(i+2)%len(hostile)], hostile[(i+3)%len(hostile)]
			i++
			return putJSON(keys, k, rec)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = apibolt.OpenStore(path, apibolt.Options{}, store.WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("the hand-made database does not open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// sgr matches the colour and style sequences the console itself draws.
var sgr = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// requireNoControls fails if the screen, once the console's own styling is
// taken out, holds any byte a terminal would act on.
func requireNoControls(t *testing.T, where, raw string) {
	t.Helper()
	s := sgr.ReplaceAllString(raw, "")
	if !utf8.ValidString(s) {
		t.Errorf("%s: the screen is not valid UTF-8", where)
	}
	for i, r := range s {
		bad := r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError && s[i] != 0xef
		if bad {
			t.Errorf("%s: raw %U at byte %d of the screen: …%q…", where, r, i, s[max(0, i-20):min(len(s), i+20)])
			return
		}
	}
}

// rawScreen is the screen exactly as the console draws it, styling and all.
func (ct *consoleTest) rawScreen() string {
	ct.t.Helper()
	return ct.shot().screen
}

// TestHostileNamesFromTheDatabaseAreDefused opens a database another tool
// filled with names that try to drive the terminal, and visits every screen
// that shows them: none lets a raw control byte through, and the terminal
// never receives the hostile sequences.
func TestHostileNamesFromTheDatabaseAreDefused(t *testing.T) {
	st := handMadeDatabase(t)
	ct := startConsole(t, st, testAdmin, 120, 40)
	s := ct.waitFor("Payroll")
	for _, want := range []string{"�]52;c;ZXZpbA==�Payroll", "�[2J�[HWiped", "Over�write", "C1�2JClear", "invoice�txt.exe"} {
		if !strings.Contains(s, want) {
			t.Errorf("the list does not show %q defused:\n%s", want, s)
		}
	}
	requireNoControls(t, "app list", ct.rawScreen())

	for i := range hostile {
		if i > 0 {
			ct.press("down")
		}
		requireNoControls(t, fmt.Sprintf("app list, row %d", i+1), ct.rawScreen())
		ct.press("e")
		ct.waitFor("API Keys")
		requireNoControls(t, fmt.Sprintf("edit app %d", i+1), ct.rawScreen())
		ct.press("right")
		ct.waitFor("Created on")
		requireNoControls(t, fmt.Sprintf("keys of app %d", i+1), ct.rawScreen())
		ct.press("tab", "d")
		ct.waitFor("Delete")
		requireNoControls(t, fmt.Sprintf("delete a key of app %d", i+1), ct.rawScreen())
		ct.press("esc", "esc")
		ct.waitFor("Create an App")
		ct.press("d")
		ct.waitFor("Delete app")
		requireNoControls(t, fmt.Sprintf("delete app %d", i+1), ct.rawScreen())
		ct.press("esc")
		ct.waitFor("Create an App")
	}
	ct.press("/")
	ct.typeText("e")
	requireNoControls(t, "filter", ct.rawScreen())

	out, _ := io.ReadAll(ct.tm.Output())
	for _, seq := range []string{"\x1b]52;c;ZXZpbA==", "\x1b]0;pwned", "\x1b[10;5HMoved", "\u202E", "\u009b2J", "\x9b2J"} {
		if strings.Contains(string(out), seq) {
			t.Errorf("the terminal received %q", seq)
		}
	}
}

// TestHostileNamesAreRefusedOnInput pastes and types hostile names into
// the new app title and the key name: nothing with a control character
// reaches the database.
func TestHostileNamesAreRefusedOnInput(t *testing.T) {
	st := newTestStore(t)
	for _, name := range hostile {
		ct := startConsole(t, st, testAdmin, 80, 24)
		ct.press("n")
		ct.waitFor("Untitled app")
		for range len("Untitled app") {
			ct.press("backspace")
		}
		ct.tm.Send(tea.PasteMsg{Content: name})
		ct.press("tab", "space", "ctrl+s")
		s := ct.screen()
		if strings.Contains(s, "created") {
			ct.press("enter") // Create API Key
			ct.waitFor("Create new API key")
			ct.tm.Send(tea.PasteMsg{Content: name})
			ct.press("enter")
			ct.screen()
		}
		ct.press("ctrl+c")
	}
	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		requireNoControls(t, "stored app name", a.Name)
		keys, _ := st.Keys(t.Context(), a.ID)
		for _, k := range keys {
			requireNoControls(t, "stored key name", k.Name)
		}
	}
	events, _ := st.Audit(t.Context())
	for _, ev := range events {
		requireNoControls(t, "audit", ev.AppName+ev.KeyName)
	}
}

// FuzzClean checks that whatever bytes a database holds, clean gives text a
// terminal only draws: valid UTF-8 with no control character and no
// direction control, one character for each it was given, and unchanged when
// it was already safe. The seed corpus is in testdata/fuzz/FuzzClean.
func FuzzClean(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Add("Risk & Compliance")
	f.Fuzz(func(t *testing.T, in string) {
		out := clean(in)
		if !utf8.ValidString(out) {
			t.Fatalf("clean(%q) = %q, not UTF-8", in, out)
		}
		if n, m := utf8.RuneCountInString(in), utf8.RuneCountInString(out); n != m {
			t.Fatalf("clean(%q) = %q: %d characters became %d", in, out, n, m)
		}
		for _, r := range out {
			if !drawable(r) && r != utf8.RuneError {
				t.Fatalf("clean(%q) = %q, which holds %U", in, out, r)
			}
		}
		if again := clean(out); again != out {
			t.Fatalf("clean is not idempotent: %q → %q → %q", in, out, again)
		}
		safe := utf8.ValidString(in)
		for _, r := range in {
			safe = safe && drawable(r)
		}
		if safe && out != in {
			t.Fatalf("clean changed safe text %q to %q", in, out)
		}
	})
}

// drawable is the fuzz test's own statement of a character a terminal only
// draws: no C0 or C1 control, no DEL, no bidirectional control, no BOM.
func drawable(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f,
		r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200E, r == 0x200F, r == 0x061C, r == 0xFEFF, r == utf8.RuneError:
		return false
	}
	return true
}

// TestHostileNameKeptWhenOnlyScopesChange: the edit window shows a hostile
// stored name defused and does not count that as a change; saving new
// scopes changes the scopes only, leaving the name for the admin to fix.
func TestHostileNameKeptWhenOnlyScopesChange(t *testing.T) {
	st := handMadeDatabase(t)
	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := apps[0] // the list's first row
	ct := startConsole(t, st, testAdmin, 80, 24)
	ct.press("e")
	ct.waitFor("API Keys")
	ct.press("esc")
	ct.waitFor("Create an App") // no "Discard unsaved changes?" for a name merely shown defused
	ct.press("e", "tab", "space", "ctrl+s")
	ct.waitFor("Save scope changes?") // its key loses a scope: the console asks first
	ct.press("y")
	ct.waitFor("updated.")
	got, err := st.App(t.Context(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != first.Name || got.Scopes == first.Scopes {
		t.Errorf("after saving new scopes the app is %q %v; want the name kept as %q and the scopes changed from %v",
			got.Name, got.Scopes, first.Name, first.Scopes)
	}
}
