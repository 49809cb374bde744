package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"apiscopes/store"
)

var demoNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// TestDemoTellsTheBankStory: the demo database holds the seed's three
// departments with the scopes the story gives them, keys of several ages
// and creators, and a history with a rename, a scope change and deletions.
func TestDemoTellsTheBankStory(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	err := withDemoStore(t.Context(), demoConfig{now: func() time.Time { return demoNow }, status: io.Discard}, func(st *store.Store) error {
		apps, err := st.Apps(t.Context())
		if err != nil {
			return err
		}
		var names []string
		for _, a := range apps {
			names = append(names, a.Name+": "+a.Scopes.Summary())
		}
		want := []string{"Customer Support: Guardrails", "Marketing: Workflows 1/4, Models 1/4", "Risk & Compliance: Workflows, Models"}
		if !slices.Equal(names, want) {
			t.Errorf("apps = %q, want %q", names, want)
		}
		days, creators := map[string]bool{}, map[string]bool{}
		for _, a := range apps {
			keys, err := st.Keys(t.Context(), a.ID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				days[k.CreatedAt.Format("2006-01-02")] = true
				creators[k.CreatedBy] = true
				if !k.CreatedAt.Before(demoNow) {
					t.Errorf("key %q is from the future: %v", k.Name, k.CreatedAt)
				}
			}
		}
		if len(days) < 5 || len(creators) < 3 {
			t.Errorf("keys from %d days by %d people; want several of each", len(days), len(creators))
		}
		evs, err := st.Audit(t.Context())
		if err != nil {
			return err
		}
		seen := map[store.Action]int{}
		renamed, rescoped := false, false
		for _, ev := range evs {
			seen[ev.Action]++
			renamed = renamed || ev.NameBefore == "Risk Reporting"
			rescoped = rescoped || (ev.ScopesBefore != nil && ev.ScopesAfter != nil)
		}
		if seen[store.ActionAppDelete] == 0 || seen[store.ActionKeyDelete] < 2 || !renamed || !rescoped {
			t.Errorf("the audit log misses part of the story: %v renamed=%v rescoped=%v", seen, renamed, rescoped)
		}
		// What the visitor does now happens now, not in the story's past.
		app, err := st.CreateApp(t.Context(), localActor(), "Visitor's app", apps[0].Scopes)
		if err != nil {
			return err
		}
		if !app.CreatedAt.Equal(demoNow) {
			t.Errorf("an app made during the demo is dated %v, want %v", app.CreatedAt, demoNow)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(os.Getenv("XDG_DATA_HOME")); len(entries) != 0 {
		t.Errorf("the demo wrote to the real data folder: %v", entries)
	}
}

// TestDemoFolderIsRemoved: the temporary folder goes whether the console
// ends well or not, and the error comes through.
func TestDemoFolderIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	boom := errors.New("boom")
	var dir string
	err := withDemoStore(t.Context(), demoConfig{now: time.Now, extra: 20, status: io.Discard}, func(st *store.Store) error {
		dir = filepath.Dir(st.Name())
		if !strings.HasPrefix(dir, tmp) {
			t.Errorf("demo folder %s is not in the temporary folder %s", dir, tmp)
		}
		if apps, _ := st.Apps(t.Context()); len(apps) != 23 {
			t.Errorf("--apps 20 gave %d apps, want 23", len(apps))
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo folder %s still exists: %v", dir, err)
	}
}

func TestDemoCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"demo", "--apps", "-1"}, 2, "--apps -1 is out of range"},
		{[]string{"demo", "--apps", "x"}, 2, `invalid argument "x" for "--apps"`},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"demo", "--etcd", "http://127.0.0.1:1"}, 2, "the demo never touches real data, so it takes no --etcd"},
		{[]string{"demo"}, 2, "the console needs a terminal"},
	} {
		code, _, errs := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.err) {
			t.Errorf("apiscopes %v = %d, %q; want %d, %q", tt.args, code, errs, tt.code, tt.err)
		}
	}
}
