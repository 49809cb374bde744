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

// TestDescribePolicyEvents: the policy's and the requests' events say what
// changed or was asked, the request's number, and who asked.
func TestDescribePolicyEvents(t *testing.T) {
	at := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ev                   Event
		what, target, change string
	}{
		{Event{Action: ActionPolicyUpdate, PolicyBefore: &PolicyInfo{MaxLifetime: map[string]string{"*": "365d"}, ApprovalWindow: "24h"},
			PolicyAfter: &PolicyInfo{MaxLifetime: map[string]string{"*": "90d", "model:deploy": "30d"}, Approval: []string{"guardrail:deploy"},
				ApprovalWindow: "24h"}},
			"tightened policy", "Key Policy", "every key 365d → 90d; model:deploy keys at most 30d; +four eyes guardrail:deploy"},
		{Event{Action: ActionApprovalRequest, Approval: 4, AppName: "Support", Grant: []string{"guardrail:deploy"}, ExpiresAt: at},
			"requested", "Support", "request 4: +Deploy Guardrails · waits until 2026-12-09 10:00 UTC"},
		{Event{Action: ActionApprovalRequest, Approval: 5, ExpiresAt: at,
			PolicyAfter: &PolicyInfo{ApprovalWindow: "24h"}}, // from none: a request keeps the rules proposed
			"requested", "Key Policy", "request 5: rules unchanged · waits until 2026-12-09 10:00 UTC"},
		{Event{Action: ActionApprovalApprove, Approval: 4, AppName: "Support", Grant: []string{"guardrail:deploy"}, RequestedBy: "ada"},
			"approved", "Support", "request 4 of ada: +Deploy Guardrails"},
		{Event{Action: ActionApprovalReject, Approval: 6, RequestedBy: "ada", PolicyBefore: &PolicyInfo{Approval: []string{"model:deploy"}},
			PolicyAfter: &PolicyInfo{}},
			"rejected", "Key Policy", "request 6 of ada: −four eyes model:deploy"},
		{Event{Action: ActionApprovalExpire, Approval: 7, AppName: "Support", Grant: []string{"model:deploy"}, RequestedBy: "bo\x1b[2J",
			Note: "its window passed without a second admin"},
			"request expired", "Support", "request 7 of bo�[2J: +Deploy Model · its window passed without a second admin"},
		{Event{Action: ActionKeyCreate, AppName: "Support", KeyName: "office", KeyHint: "aps_…0000", AllowFrom: []string{"10.0.0.0/8", "192.0.2.7/32"}},
			"created API key", "Support › office", "aps_…0000 · from 10.0.0.0/8, 192.0.2.7/32"},
	} {
		got := tt.ev.Describe()
		if got.What != tt.what || got.Target != tt.target || got.Change != tt.change {
			t.Errorf("Describe(%s) = %+v\nwant %q, %q, %q", tt.ev.Action, got, tt.what, tt.target, tt.change)
		}
	}
}
