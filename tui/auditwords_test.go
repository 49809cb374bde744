package tui

import (
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

// TestDescribeKeyLifecycleEvents: rolls and the deletions they schedule read
// as what happened, naming keys by name and hint only.
func TestDescribeKeyLifecycleEvents(t *testing.T) {
	at := time.Date(2026, 3, 15, 9, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		ev         store.Event
		what, want string
	}{
		{store.Event{Action: store.ActionKeyRoll, AppName: "Risk", KeyName: "ci", KeyHint: "aps_…H2Hc",
			NewKeyName: "ci (rolled)", NewKeyHint: "aps_…xj7i", DeleteAt: at},
			"rolled API key", "aps_…H2Hc → ci (rolled) aps_…xj7i; old key deleted 2026-03-15 09:30 UTC"},
		{store.Event{Action: store.ActionKeyDelete, AppName: "Risk", KeyName: "ci", KeyHint: "aps_…H2Hc", Scheduled: true},
			"deleted API key", "aps_…H2Hc · its roll's grace period ended"},
		{store.Event{Action: store.ActionKeyCreate, AppName: "Risk", KeyName: "trial", KeyHint: "aps_…0000", ExpiresAt: at},
			"created API key", "aps_…0000 · expires 2026-03-15 09:30 UTC"},
	} {
		got := DescribeEvent(tt.ev)
		if got.What != tt.what || got.Change != tt.want || !strings.HasPrefix(got.Target, "Risk › ") {
			t.Errorf("DescribeEvent(%s) = %+v; want %q, %q", tt.ev.Action, got, tt.what, tt.want)
		}
	}
}
