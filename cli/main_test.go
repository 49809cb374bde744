package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/server/local"
	"apiscopes/store/bolt"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"-h"}, 0, "apiscopes [command]", ""},
		{[]string{"help"}, 0, "--db", ""},
		{[]string{"version"}, 0, "apiscopes ", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate" for "apiscopes"; the commands are app, apply, approvals, audit`},
		{[]string{"--nope"}, 2, "", "apiscopes: unknown flag: --nope\nrun 'apiscopes --help' for usage\n"},
		{[]string{"--db"}, 2, "", "flag needs an argument: --db"},
		{[]string{"-db", "x.db"}, 2, "", "-db: long flags take two dashes: --db"},
		{[]string{"app", "create", "X", "-scope", "model:deploy"}, 2, "", "-scope: long flags take two dashes: --scope"},
		// Tests have no terminal: the console says so instead of drawing into a pipe.
		{[]string{"--db", "x.db"}, 2, "", "the console needs a terminal"},
		// Never an open server: no allow-list, no start.
		{[]string{"serve", "--db", "x.db"}, 2, "", "refusing to start an open server"},
		{[]string{"serve", "--max-sessions", "many"}, 2, "", `invalid argument "many" for "--max-sessions"`},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errs, tt.err) {
			t.Errorf("apiscopes %v = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, errs, tt.code, tt.out, tt.err)
		}
	}
}

// TestHeldDatabaseIsNamed: the console refuses a database another process
// holds, naming the file, rather than hanging.
func TestHeldDatabaseIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "held.db")
	st, err := bolt.OpenStore(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, code, msg := openStore(path, io.Discard)
	if code != 1 || !strings.Contains(msg, path) || !strings.Contains(msg, "in use by another apiscopes process") {
		t.Fatalf("got %d %q", code, msg)
	}
}

func TestDefaultDatabaseFollowsXDG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	t.Setenv("APISCOPES_DB", "")
	st, code, msg := openStore("", io.Discard)
	if code != 0 {
		t.Fatalf("open default: %d %s", code, msg)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, "apiscopes", "apiscopes.db")); err != nil {
		t.Fatal(err)
	}
}

// openStore opens path for writing as the console does, returning the
// exit status and message it would give.
func openStore(path string, warn io.Writer) (*local.Holder, int, string) {
	inv := &invocation{stderr: warn}
	h, err := inv.openHolder(path)
	if err != nil {
		return nil, ExitRefused, "apiscopes: " + err.Error()
	}
	return h, 0, ""
}
