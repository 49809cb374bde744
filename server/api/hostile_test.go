package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/storetest"
)

// hostile is stored text another tool could have written: OSC 52, a
// window title, C1 CSI, a bidi override and isolate, DEL.
const hostile = "Pay\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\u009b2J\u202eexe.txt\u2067\x7f"

// rawLog keeps every log record's message and attribute values exactly as
// the server passed them, before any handler quotes them: what a handler
// that writes values raw (as many do) would print.
type rawLog struct {
	mu   sync.Mutex
	text []string
}

func (l *rawLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *rawLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *rawLog) WithGroup(string) slog.Handler            { return l }
func (l *rawLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text = append(l.text, r.Message)
	r.Attrs(func(a slog.Attr) bool { l.text = append(l.text, a.Value.String()); return true })
	return nil
}

// inert reports whether s holds nothing a terminal acts on.
func inert(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			return false
		}
	}
	return true
}

// TestHostileStoredTextIsEscaped: names and a hint that another tool wrote
// into the database with terminal controls reach a client only as JSON \u
// escapes (encoding/json writes C1 and bidi controls raw), still reading
// back as stored, and reach the log only escaped, whatever its handler.
func TestHostileStoredTextIsEscaped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apiscopes.db")
	st, err := bolt.OpenStore(path, bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	key, _, err := st.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	storetest.Rewrite(t, path, "apps", func(rec map[string]any) { rec["name"] = hostile })
	storetest.Rewrite(t, path, "keys", func(rec map[string]any) { rec["name"], rec["hint"] = hostile, hostile })
	if st, err = bolt.OpenStore(path, bolt.Options{}, store.WithMaintenance(0)); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs := &rawLog{}
	h := Handler(st, slog.New(logs))

	for _, scope := range []string{"model:deploy", "guardrail:deploy"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body(key, scope))))
		if !inert(rec.Body.String()) {
			t.Errorf("%s: the answer holds raw controls: %q", scope, rec.Body.String())
		}
		var got Response
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Allowed && (got.App.Name != hostile || got.Key.Hint != hostile) {
			t.Errorf("the stored text did not come through as stored: %+v", got)
		}
		if !got.Allowed && !inert(got.Message) {
			t.Errorf("the message, once decoded, holds raw controls: %q", got.Message)
		}
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.text) == 0 {
		t.Fatal("nothing was logged")
	}
	for _, text := range logs.text {
		if !inert(text) {
			t.Errorf("the log holds raw controls: %q", text)
		}
	}
}
