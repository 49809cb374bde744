package store

import (
	"encoding/json"
	"strings"
	"testing"
)

// hostile is stored text another tool could have written: OSC 52 (set the
// clipboard), a title, CSI as a C1 byte, a bidi override, DEL, a lone
// invalid byte, and a format character beyond U+FFFF.
const hostile = "Risk\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\x9b2J\u009b\u202eevil\u2066\x7f\xff\U000E0001 ✓"

func TestSafeText(t *testing.T) {
	got := SafeText(hostile)
	want := `Risk\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\x9b2J\x9b\u202eevil\u2066\x7f\xff\U000e0001 ✓`
	if got != want {
		t.Errorf("SafeText = %s\nwant       %s", got, want)
	}
	for _, ok := range []string{"", "Risk & Compliance", "Café über 東京 🚀", `a\b "quoted"`} {
		if SafeText(ok) != ok {
			t.Errorf("SafeText(%q) changed a name as it may be", ok)
		}
	}
	if strings.ContainsFunc(got, unsafeRune) {
		t.Error("SafeText left an unsafe character")
	}
}

func TestSafeJSON(t *testing.T) {
	raw, err := json.Marshal(map[string]string{"app": hostile, "fine": "Café 🚀"})
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	got := SafeJSON(raw)
	if strings.ContainsFunc(string(got), unsafeInJSON) {
		t.Errorf("SafeJSON left an unsafe character: %q", got)
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("SafeJSON broke the JSON: %v\n%s", err, got)
	}
	var orig map[string]string
	json.Unmarshal(raw, &orig)
	if back["app"] != orig["app"] || back["fine"] != "Café 🚀" {
		t.Errorf("SafeJSON changed the values: %q", back)
	}
	clean := []byte(`{"app":"Café 🚀"}` + "\n")
	if string(SafeJSON(clean)) != string(clean) {
		t.Error("SafeJSON changed clean JSON")
	}
}
