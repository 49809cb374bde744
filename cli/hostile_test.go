package cli

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"apiscopes/store/storetest"
)

// hostileText is what another tool could have stored as a name, a hint, an
// actor or an origin: OSC 52 (set the clipboard), a window title, CSI as a
// C1 character and as a raw byte, a bidi override and isolate, DEL.
const hostileText = "Pay\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\u009b2J\x9b2J\u202eexe.txt\u2067\x7f"

// hostileDB is seededDB with every text the outputs show replaced by
// hostileText, behind the store's back.
func hostileDB(t *testing.T) (string, string) {
	t.Helper()
	path, key := seededDB(t)
	storetest.Rewrite(t, path, "apps", func(rec map[string]any) {
		rec["name"], rec["created_by"] = hostileText, hostileText
	})
	storetest.Rewrite(t, path, "keys", func(rec map[string]any) {
		rec["name"], rec["hint"], rec["created_by"] = hostileText, hostileText, hostileText
	})
	storetest.Rewrite(t, path, "audit", func(rec map[string]any) {
		for _, field := range []string{"actor", "origin", "app", "key", "key_hint"} {
			rec[field] = hostileText
		}
	})
	return path, key
}

// requireInert fails if out holds anything a terminal acts on: a C0
// control other than a newline, DEL, a C1 control, a bidi control, or a
// byte that is not UTF-8.
func requireInert(t *testing.T, where, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not UTF-8: %q", where, out)
	}
	for i, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c {
			t.Errorf("%s: raw %U at byte %d: …%q…", where, r, i, out[max(0, i-20):min(len(out), i+20)])
			return
		}
	}
}

// TestHostileStoredTextIsEscaped: a database written by another tool,
// with terminal controls in an app's and a key's name, a key's hint, an
// actor and an origin, goes through verify (its reason line and --json)
// and audit (its table and --json) without one raw control reaching the
// terminal; JSON still carries the stored text exactly, as \u escapes.
func TestHostileStoredTextIsEscaped(t *testing.T) {
	path, key := hostileDB(t)
	t.Setenv("APISCOPES_KEY", "")
	t.Setenv("APISCOPES_SCOPE", "")
	t.Setenv("APISCOPES_JSON", "")
	for _, args := range [][]string{
		{"verify", "--db", path, "--scope", "model:deploy", "--json"},
		{"verify", "--db", path, "--scope", "guardrail:deploy", "--json"},
		{"audit", "--db", path},
		{"audit", "--db", path, "--json"},
	} {
		name := strings.Join(args[:1], " ") + " " + strings.Join(args[3:], " ")
		code, out, errs := runWithStdin(t, key, args...)
		if code > 1 {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		requireInert(t, name+" stdout", out)
		requireInert(t, name+" stderr", errs)
		if !strings.Contains(name, "json") {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: %v: %s", name, err, sc.Text())
			}
			if !strings.Contains(sc.Text(), `\u009b`) || !strings.Contains(sc.Text(), `\u202e`) {
				t.Errorf("%s: the stored text is not carried as escapes: %s", name, sc.Text())
			}
		}
	}
	code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy")
	if code != 0 || !strings.Contains(errs, `\x1b]52;c;`) || !strings.Contains(errs, `\u202e`) {
		t.Errorf("verify's reason line does not show the escapes: %d %q", code, errs)
	}
}
