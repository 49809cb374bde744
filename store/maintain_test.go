package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// lines is a slog handler that hands each record's message to a channel.
type lines chan string

func (l lines) Enabled(context.Context, slog.Level) bool      { return true }
func (l lines) Handle(_ context.Context, r slog.Record) error { l <- r.Message; return nil }
func (l lines) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l lines) WithGroup(string) slog.Handler                 { return l }

// TestMaintenanceFailuresAreLogged: a round of maintenance the engine
// refuses (a full disk) cannot be returned to anyone, so it goes to the
// store's logger; the next round tries again.
func TestMaintenanceFailuresAreLogged(t *testing.T) {
	eng := store.NewMemory()
	logged := make(lines, 16)
	st, err := store.New(eng, store.WithMaintenance(5*time.Millisecond), store.WithLogger(slog.New(logged)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, err := st.CreateApp(t.Context(), admin, "Risk", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.CreateKey(t.Context(), admin, app.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	store.FailCommits(eng, errors.New("no space left on device"))
	st.Verify(key, scopes.ModelDeploy) // a use to write: the next round fails
	select {
	case msg := <-logged:
		if msg != "maintenance failed; it is tried again" {
			t.Errorf("logged %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failed round of maintenance was not logged")
	}
}
