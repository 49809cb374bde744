package cli

import (
	"strings"
	"testing"
)

// TestCommandLineNeverEchoesAKey: a key given where it does not belong (as
// the scope, in APISCOPES_SCOPE, as an argument, a command, a flag or a
// flag's value, or as a path) never reaches stderr or stdout; a message
// names it by its hint, if at all.
func TestCommandLineNeverEchoesAKey(t *testing.T) {
	path, key := seededDB(t)
	secret := key[4:47]
	t.Setenv("APISCOPES_KEY", "")
	t.Setenv("APISCOPES_JSON", "")
	tests := []struct {
		name  string
		env   string // APISCOPES_SCOPE
		stdin string
		args  []string
		hint  bool
	}{
		{"key as the scope", "", key, []string{"verify", "--db", path, "--scope", key}, true},
		{"secret as the scope", "", key, []string{"verify", "--db", path, "--scope", secret}, false},
		{"key in APISCOPES_SCOPE", key, key, []string{"verify", "--db", path}, true},
		{"key as --json's value", "", key, []string{"verify", "--db", path, "--scope", "model:deploy", "--json=" + key}, true},
		{"key as a flag", "", key, []string{"verify", "--" + key}, true},
		{"key as a command", "", "", []string{key}, true},
		{"key as an argument", "", "", []string{"audit", "--db", path, key}, true},
		{"key as the database", "", key, []string{"verify", "--db", key, "--scope", "model:deploy"}, true},
		{"key as a backup's folder", "", "", []string{"backup", "--db", path, key + "/x.db"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("APISCOPES_SCOPE", tt.env)
			code, out, errs := runWithStdin(t, tt.stdin, tt.args...)
			if code == 0 {
				t.Errorf("exit 0: %s", errs)
			}
			for _, leak := range []string{key, secret} {
				if strings.Contains(errs, leak) || strings.Contains(out, leak) {
					t.Errorf("the output repeats the key:\nstdout %s\nstderr %s", out, errs)
				}
			}
			if hint := "aps_…" + key[len(key)-4:]; tt.hint && !strings.Contains(errs, hint) {
				t.Errorf("stderr does not name the key by its hint %s: %s", hint, errs)
			}
		})
	}
}
