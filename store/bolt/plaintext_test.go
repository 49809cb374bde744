package bolt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/storetest"
)

// TestNoKeyTextAnywhereAtRest creates keys, rolls some (at once and with a
// grace period), deletes some one by one and some with their app, then
// looks for any key's text, or its secret part, in every form the data
// leaves the store as bytes: the database file (free pages included), a
// backup file, a streamed backup, a hot backup and the audit trail as
// exported. Only SHA-256 digests and hints may be there.
func TestNoKeyTextAnywhereAtRest(t *testing.T) {
	st := newStore(t)
	var texts []string
	for i, name := range []string{"Payments", "Risk", "Support"} {
		app := mustApp(t, st, name, scopes.Full())
		for k := range 3 {
			text, _ := mustKey(t, st, app.ID, string(rune('A'+i))+string(rune('0'+k)))
			texts = append(texts, text)
		}
	}
	apps, _ := st.Apps(t.Context())
	keys, _ := st.Keys(t.Context(), apps[0].ID)
	if err := st.DeleteKey(t.Context(), admin, keys[1].ID); err != nil {
		t.Fatal(err)
	}
	for i, grace := range map[int]time.Duration{0: 0, 2: time.Hour} {
		text, _, _, err := st.RollKey(t.Context(), admin, keys[i].ID, grace)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
		st.Verify(text, scopes.ModelDeploy) // a use to note
	}
	if err := st.DeleteApp(t.Context(), admin, apps[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateApps(t.Context(), admin, []store.AppSpec{{Name: "Bulk", Scopes: scopes.Full(), Keys: []string{"a", "b"}}}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := BackupFile(st, filepath.Join(dir, "backup.db")); err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	if _, err := WriteBackup(st, &streamed); err != nil {
		t.Fatal(err)
	}
	hot, err := HotBackup(st, filepath.Join(dir, "hot"), 3)
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	export, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	places := map[string][]byte{"streamed backup": streamed.Bytes(), "audit export": export}
	for name, path := range map[string]string{"database": fileOf(st), "backup file": filepath.Join(dir, "backup.db"), "hot backup": hot} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		places[name] = b
	}
	for where, data := range places {
		for i, text := range texts {
			secret := storetest.Secret(text)
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
	// The digests and hints are there: the test looks where keys would be.
	digest := sha256.Sum256([]byte(texts[len(texts)-1]))
	if !bytes.Contains(places["database"], digest[:]) || !bytes.Contains(places["backup file"], digest[:]) {
		t.Error("a live key's digest is not in the file: the test is not looking where keys are")
	}
	if !bytes.Contains(places["audit export"], []byte("aps_…"+texts[0][len(texts[0])-4:])) {
		t.Error("the audit export holds no key hint: the test is not looking at keys")
	}
}
