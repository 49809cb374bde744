package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"apiscopes/scopes"
)

// TestNoKeyTextAnywhereAtRest creates keys, deletes some one by one and
// some with their app, then looks for any key's text, or its secret part,
// in every form the data leaves the store: the database file, a backup
// file, a streamed backup, the hot backups folder and the audit trail as
// exported (JSON). Only SHA-256 digests and hints may be there.
//
// Rolled keys count too: the old text and the new one are both looked for.
func TestNoKeyTextAnywhereAtRest(t *testing.T) {
	s := newTestStore(t)
	var texts []string
	for i, name := range []string{"Payments", "Risk", "Support"} {
		app := mustCreateApp(t, s, name, scopes.Full())
		for k := range 3 {
			text, _ := mustCreateKey(t, s, app.ID, string(rune('A'+i))+string(rune('0'+k)))
			texts = append(texts, text)
		}
	}
	apps, _ := s.Apps()
	keys, _ := s.Keys(apps[0].ID)
	if err := s.DeleteKey(admin, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	// Roll the two keys left: one replaced at once, one after a grace period.
	for i, grace := range map[int]time.Duration{0: 0, 2: time.Hour} {
		text, _, err := s.RollKey(admin, keys[i].ID, grace)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
	}
	if err := s.DeleteApp(admin, apps[1].ID); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := s.BackupFile(filepath.Join(dir, "backup.db")); err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	if _, err := s.WriteBackup(&streamed); err != nil {
		t.Fatal(err)
	}
	hot, err := s.HotBackup(filepath.Join(dir, "hot"), 3)
	if err != nil {
		t.Fatal(err)
	}
	events, err := s.Audit()
	if err != nil {
		t.Fatal(err)
	}
	export, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	places := map[string][]byte{"streamed backup": streamed.Bytes(), "audit export": export}
	for name, path := range map[string]string{"database": s.Path(), "backup file": filepath.Join(dir, "backup.db"), "hot backup": hot} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		places[name] = b
	}
	for where, data := range places {
		for i, text := range texts {
			secret := text[len(KeyPrefix) : KeyLen-checksumLen]
			for form, needle := range map[string]string{
				"text":           text,
				"secret":         secret,
				"secret's start": secret[:16],
				"secret's end":   secret[len(secret)-16:],
				"text in base64": base64.StdEncoding.EncodeToString([]byte(text)),
				"text in hex":    hex.EncodeToString([]byte(text)),
			} {
				if bytes.Contains(data, []byte(needle)) {
					t.Errorf("the %s holds key %d's %s", where, i, form)
				}
			}
		}
	}
	// The hint is there, so the test looks where keys would be.
	if !bytes.Contains(places["audit export"], []byte(keyHint(texts[0]))) {
		t.Error("the audit export holds no key hint: the test is not looking at keys")
	}
}
