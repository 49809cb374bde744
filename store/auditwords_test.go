package store

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestDescribeKeyLifecycleEvents: rolls and the deletions they schedule read
// as what happened, naming keys by name and hint only.
func TestDescribeKeyLifecycleEvents(t *testing.T) {
	at := time.Date(2026, 3, 15, 9, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		ev         Event
		what, want string
	}{
		{Event{Action: ActionKeyRoll, AppName: "Risk", KeyName: "ci", KeyHint: "aps_…H2Hc",
			NewKeyName: "ci (rolled)", NewKeyHint: "aps_…xj7i", DeleteAt: at},
			"rolled API key", "aps_…H2Hc → ci (rolled) aps_…xj7i; old key deleted 2026-03-15 09:30 UTC"},
		{Event{Action: ActionKeyDelete, AppName: "Risk", KeyName: "ci", KeyHint: "aps_…H2Hc", Scheduled: true},
			"deleted API key", "aps_…H2Hc · its roll's grace period ended"},
		{Event{Action: ActionKeyCreate, AppName: "Risk", KeyName: "trial", KeyHint: "aps_…0000", ExpiresAt: at},
			"created API key", "aps_…0000 · expires 2026-03-15 09:30 UTC"},
	} {
		got := tt.ev.Describe()
		if got.What != tt.what || got.Change != tt.want || !strings.HasPrefix(got.Target, "Risk › ") {
			t.Errorf("Describe(%s) = %+v; want %q, %q", tt.ev.Action, got, tt.what, tt.want)
		}
	}
}

// TestDescribeAppEvents: a change of scopes reads as what it added and
// removed; a rename names the old name; every scope is "All scopes".
func TestDescribeAppEvents(t *testing.T) {
	wf := []string{"workflow:deploy", "workflow:undeploy"}
	for _, tt := range []struct {
		ev                 Event
		what, change, want string
	}{
		{Event{Action: ActionAppCreate, AppName: "Ops", ScopesAfter: []string{"workflow:deploy", "workflow:undeploy",
			"workflow:import", "workflow:export", "model:deploy", "model:undeploy", "model:import", "model:export",
			"guardrail:deploy", "guardrail:undeploy"}},
			"created app", "scopes: All scopes", ""},
		{Event{Action: ActionAppUpdate, AppName: "Ops", ScopesBefore: wf, ScopesAfter: []string{"workflow:deploy", "guardrail:deploy"}},
			"changed scopes", "+Deploy Guardrails −Undeploy workflow", "Deploy workflow, Undeploy workflow"},
		{Event{Action: ActionAppUpdate, AppName: "Ops EU", NameBefore: "Ops"},
			"renamed app", `was "Ops"`, ""},
		{Event{Action: ActionAppUpdate, AppName: "Ops", ScopesBefore: []string{"workflow:deploy", "legacy:thing"},
			ScopesAfter: []string{"legacy:thing"}},
			"changed scopes", "−Deploy workflow", "Deploy workflow, legacy:thing"},
		{Event{Action: ActionAppDelete, AppName: "Ops", KeysGone: 1},
			"deleted app", "with 1 API key", ""},
	} {
		got := tt.ev.Describe()
		if got.What != tt.what || got.Change != tt.change || got.ScopesBefore != tt.want {
			t.Errorf("Describe(%+v) = %+v; want %q, %q, before %q", tt.ev, got, tt.what, tt.change, tt.want)
		}
	}
}

// TestSanitize: whatever a database holds, the words drawn from it hold no
// byte a terminal would act on, one character for each character given.
func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Risk & Compliance":         "Risk & Compliance",
		"\x1b]52;c;aGk=\x07evil":    "�]52;c;aGk=�evil",
		"line\rover":                "line�over",
		"c1\u009bcsi":               "c1�csi",
		"abc\u202Etxt.exe":          "abc�txt.exe",
		"bad\xffutf8":               "bad�utf8",
		"family 👨\u200d👩\u200d👧":    "family 👨\u200d👩\u200d👧",
		"Ünïcödé names are fine 日本": "Ünïcödé names are fine 日本",
	} {
		got := Sanitize(in)
		if got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if utf8.RuneCountInString(got) != utf8.RuneCountInString(in) {
			t.Errorf("Sanitize(%q) changed the number of characters", in)
		}
	}
	ev := Event{Action: ActionKeyCreate, Actor: "\x1b[2Jmallory", AppName: "App\x1b]0;t\x07", KeyName: "k\r", KeyHint: "aps_…\x9b"}
	got := ev.Describe()
	for _, s := range []string{got.Who, got.Target, got.Change} {
		for _, r := range s {
			if !drawable(r) && r != utf8.RuneError {
				t.Errorf("Describe let %U through in %q", r, s)
			}
		}
	}
}
