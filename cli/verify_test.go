package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/local"
	"apiscopes/store/bolt"
)

// seededDB makes a database with one app holding model:deploy and one key,
// closes it, and returns its path and the key.
func seededDB(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApp(t.Context(), testAdmin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.CreateKey(t.Context(), testAdmin, app.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVerifyCommand(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_KEY", "")
	t.Setenv("APISCOPES_SCOPE", "")
	t.Setenv("APISCOPES_JSON", "")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		err   string
	}{
		{"allowed", key + "\n", []string{"verify", "--db", path, "--scope", "model:deploy"}, 0, "allowed: key aps_…"},
		{"global --db", key, []string{"--db", path, "verify", "--scope", "model:deploy"}, 0, "allowed"},
		{"not granted", key, []string{"verify", "--db", path, "--scope", "guardrail:deploy"}, 1,
			`scope_not_granted: app "Risk & Compliance" does not have scope guardrail:deploy`},
		{"malformed", "aps_123\n", []string{"verify", "--db", path, "--scope", "model:deploy"}, 1, "malformed: the API key is malformed"},
		{"unknown scope", key, []string{"verify", "--db", path, "--scope", "model:delete"}, 2, "unknown scope; pass --scope with one of workflow:deploy"},
		{"no scope", key, []string{"verify", "--db", path}, 2, "which scope? pass --scope ID, one of workflow:deploy"},
		{"no key", "", []string{"verify", "--db", path, "--scope", "model:deploy"}, 2, "no API key: pipe it on stdin"},
		{"key as argument", "", []string{"verify", "--db", path, "--scope", "model:deploy", key}, 2, "never on the command line"},
		{"huge stdin", strings.Repeat("a", 5000), []string{"verify", "--db", path, "--scope", "model:deploy"}, 2, "more than a key"},
		{"bad flag", key, []string{"verify", "--scpoe", "x"}, 2, "unknown flag: --scpoe"},
		{"help", "", []string{"verify", "-h"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runWithStdin(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.err) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, errs, tt.code, tt.err)
			}
			if tt.name != "help" && out != "" {
				t.Errorf("stdout %q without --json", out)
			}
			if strings.Contains(errs, key) || strings.Contains(out, key) {
				t.Error("the output holds the key")
			}
			if tt.code != 2 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("the reason is not one line: %q", errs)
			}
		})
	}
}

func TestVerifyCommandEnvironment(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_DB", path)
	t.Setenv("APISCOPES_KEY", key)
	t.Setenv("APISCOPES_SCOPE", "model:deploy")
	t.Setenv("APISCOPES_JSON", "true")
	code, out, errs := runWithStdin(t, "", "verify")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stdout is not JSON: %q", out)
	}
	if got["allowed"] != true || got["reason"] != "allowed" || got["app"].(map[string]any)["name"] != "Risk & Compliance" {
		t.Errorf("JSON = %s", out)
	}
	t.Setenv("APISCOPES_JSON", "maybe")
	if code, _, errs := runWithStdin(t, "", "verify"); code != 2 || !strings.Contains(errs, "APISCOPES_JSON") {
		t.Errorf("bad APISCOPES_JSON: %d %q", code, errs)
	}
	t.Setenv("APISCOPES_JSON", "")
	t.Setenv("APISCOPES_SCOPE", "workflow:deploy")
	code, _, errs = runWithStdin(t, "", "verify", "--json")
	if code != 1 || !strings.Contains(errs, "does not have scope workflow:deploy") {
		t.Errorf("denied via env: %d %q", code, errs)
	}
}

// verify never creates a database, and says what to do when a process
// that cannot answer it holds one.
func TestVerifyCommandDatabase(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_KEY", key)
	missing := filepath.Join(t.TempDir(), "none.db")
	code, _, errs := runWithStdin(t, "", "verify", "--db", missing, "--scope", "model:deploy")
	if code != 2 || !strings.Contains(errs, "no database at "+missing) {
		t.Errorf("missing database: %d %q", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("verify created a database")
	}

	before, _ := os.ReadFile(path)
	if code, _, errs := runWithStdin(t, "", "verify", "--db", path, "--scope", "model:deploy"); code != 0 {
		t.Fatalf("verify = %d %q", code, errs)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("verify wrote to the database")
	}
	if _, err := os.Lstat(path + ".sock"); err == nil {
		t.Error("verify left a socket")
	}

	st, err := bolt.OpenStore(path, bolt.Options{}) // holds the file, with no socket beside it
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	code, _, errs = runWithStdin(t, "", "verify", "--db", path, "--scope", "model:deploy")
	if code != 2 || !strings.Contains(errs, "in use by another apiscopes process") || !strings.Contains(errs, "POST /v1/verify") {
		t.Errorf("held database: %d %q", code, errs)
	}
	if took := time.Since(start); took > local.FindTimeout+5*time.Second { // about FindTimeout: never a hang
		t.Errorf("verify took %v on a held database", took)
	}
}
