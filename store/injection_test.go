package store

import (
	"errors"
	"testing"

	"apiscopes/scopes"
)

// TestHostileNamesRefusedByEveryWrite: a name that would drive a terminal
// (escape sequences, carriage return, C1 controls, direction overrides) is
// refused by every write that takes a name, whoever calls the store, and
// the refusal writes nothing, not even an audit event.
func TestHostileNamesRefusedByEveryWrite(t *testing.T) {
	hostile := []string{
		"\x1b]52;c;ZXZpbA==\x07Payroll", // OSC 52: set the clipboard
		"\x1b]0;pwned\x07",              // OSC 0: set the window title
		"\x1b[2J\x1b[HWiped",            // clear the screen
		"\x1b[10;5HMoved\x1b[3A",        // cursor moves
		"Over\rwrite",                   // carriage return
		"C1\u009b2J",                    // C1 CSI, as a character
		"Raw\x9b2J",                     // C1 CSI, as a raw byte
		"invoice\u202Etxt.exe",          // right-to-left override
		"Isolate\u2067RTL",              // right-to-left isolate
	}
	s := newTestStore(t)
	app := mustCreateApp(t, s, "Risk", scopes.NewSet(scopes.ModelDeploy))
	before := takeSnapshot(t, s)
	for _, name := range hostile {
		writes := map[string]func() error{
			"CreateApp": func() error { _, err := s.CreateApp(admin, name, scopes.Full()); return err },
			"RenameApp": func() error { _, err := s.RenameApp(admin, app.ID, name); return err },
			"UpdateApp": func() error { _, err := s.UpdateApp(admin, app.ID, name, scopes.Full()); return err },
			"CreateKey": func() error { _, _, err := s.CreateKey(admin, app.ID, name); return err },
		}
		for what, write := range writes {
			if err := write(); !errors.Is(err, ErrNameInvalid) {
				t.Errorf("%s(%q) = %v, want ErrNameInvalid", what, name, err)
			}
		}
	}
	if after := takeSnapshot(t, s); !after.equal(before) {
		t.Error("a refused name changed the database")
	}
}
