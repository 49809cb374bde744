package tui

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Tokyo, whatever the machine has installed

	"apiscopes/store"
)

// seedDeadlines gives Risk & Compliance a key that expires at 11:00 UTC
// on 2026-03-20: 20:00 in Tokyo, a midnight in neither.
func seedDeadlines(t *testing.T, st *store.Store) {
	t.Helper()
	seedBank(t, st)
	app := riskApp(t, st)
	if _, _, err := st.CreateKeyWith(t.Context(), testAdmin, app.ID, "expiring", store.KeyOptions{ExpiresAt: time.Date(2026, 3, 20, 11, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
}

// TestTimesSayTheirZone: every time on screen carries its zone, in one
// format: UTC unless TZ names another zone, and then that zone's offset,
// the same moment reading the same in the key list, its pane and the
// audit log. A date typed for an expiry is read in the zone shown.
func TestTimesSayTheirZone(t *testing.T) {
	t.Run("UTC", func(t *testing.T) {
		st := newTestStore(t)
		seedDeadlines(t, st)
		ct := startConsole(t, st, testAdmin, 80, 24)
		ct.press("down", "down", "e", "right", "tab", "down", "down")
		s := ct.golden("times-80x24-utc-keys", "Works until 2026-03-20 11:00 UTC")
		if strings.Contains(s, "+09:00") {
			t.Errorf("a time is not in UTC:\n%s", s)
		}
		ct.press("esc", "a")
		s = ct.waitFor("Audit Log")
		if row := rowOf(s, "› 2026"); !strings.HasPrefix(strings.TrimSpace(row), "› 2026-03-14 09:30 UTC") {
			t.Errorf("the audit log's When lacks its zone: %q", row)
		}
	})
	t.Run("TZ", func(t *testing.T) {
		st := newTestStore(t)
		seedDeadlines(t, st)
		app := riskApp(t, st)
		ct := &consoleTest{t: t, st: st, env: []string{"TZ=Asia/Tokyo"}}
		startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: ct.clipboard()}, 80, 24)
		ct.press("down", "down", "e", "right", "tab", "down", "down")
		s := ct.golden("times-80x24-tokyo-keys", "Works until 2026-03-20 20:00 +09:00")
		if strings.Contains(s, "UTC") {
			t.Errorf("a time is in UTC where TZ asked for Tokyo:\n%s", s)
		}
		if !strings.Contains(s, "created 2026-03-14 18:30 +09:00") {
			t.Errorf("the pane's creation time is not in Tokyo:\n%s", s)
		}

		// A date typed is a day in Tokyo: the key works until its midnight there.
		ct.press("c")
		ct.waitFor("Create new API key")
		ct.typeText("tokyo-day")
		ct.press("tab", "left", "tab")
		ct.waitFor("the last day it works (+09:00)")
		ct.typeText("2026-06-30")
		ct.press("enter")
		ct.waitFor("tokyo-day · Works through 2026-06-30 (+09:00)")
		keys := requireKeys(t, st, app.ID, 4)
		if want := time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC); !keys[3].ExpiresAt.Equal(want) {
			t.Errorf("ExpiresAt = %v, want %v: the end of 2026-06-30 in Tokyo", keys[3].ExpiresAt, want)
		}
		ct.press("enter")
		ct.waitFor("API key copied")

		ct.press("esc", "a")
		s = ct.waitFor("Audit Log")
		if row := rowOf(s, "› 2026"); !strings.HasPrefix(strings.TrimSpace(row), "› 2026-03-14 18:30 +09:00") {
			t.Errorf("the audit log's When is not in Tokyo: %q", row)
		}
		ct.press("/")
		ct.typeText("18:30 +09:00") // the filter finds the time as shown
		ct.waitFor("8 of 8 events")
		for range len("18:30 +09:00") {
			ct.press("backspace")
		}
		ct.typeText("expiring")
		ct.waitFor("Change  aps_…xj7i · expires 2026-03-20 20:00 +09:00")
	})
	t.Run("unknown TZ", func(t *testing.T) {
		st := newTestStore(t)
		seedDeadlines(t, st)
		ct := &consoleTest{t: t, st: st, env: []string{"TZ=Mars/Olympus_Mons"}}
		startConsoleWith(t, ct, Options{Store: st, Actor: testAdmin, Clipboard: ct.clipboard()}, 80, 24)
		ct.waitFor(`TZ "Mars/Olympus_Mons" is not a known time zone. Times are shown in UTC.`)
		ct.press("a")
		ct.waitFor("2026-03-14 09:30 UTC")
	})
}
