package local

import (
	"context"
	"hash/crc32"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

var admin = store.Actor{Name: "amara", Role: store.Admin, Origin: "test"}

// t0 is when the test databases are made.
var t0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// seeded makes a database at path (created) with one app holding
// model:deploy and one key, closes it, and returns the key.
func seeded(t testing.TB, path string) string {
	t.Helper()
	st, err := bolt.OpenStore(path, bolt.Options{}, store.WithClock(func() time.Time { return t0 }),
		store.WithRandom(rand.NewChaCha8([32]byte{7})), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := st.CreateApp(context.Background(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := st.CreateKey(context.Background(), admin, app.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// hold opens path as a console does, with the test clock, closing it when
// the test ends.
func hold(t testing.TB, path string, clock func() time.Time) *Holder {
	t.Helper()
	h, err := OpenStore(path, Options{}, store.WithClock(clock), store.WithMaintenance(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// fixed is a clock stopped at t0.
func fixed() time.Time { return t0 }

// copyFixture copies the schema 1 database the previous version wrote into
// a private folder.
func copyFixture(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile("../../testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixtureKeys are the keys of testdata/schema1.db, drawn again from the
// seeded source it was made with: reports-prod and reports-staging of Risk
// & Compliance, support-bot of Customer Support (rolled, deleted from
// 2026-12-07 09:10 UTC), notebook (its app deleted), support-bot (rolled).
func fixtureKeys() []string {
	var seed [32]byte
	copy(seed[:], "apiscopes schema 1 fixture seed!")
	r := rand.NewChaCha8(seed)
	var keys []string
	for range 5 {
		var secret [32]byte
		io.ReadFull(r, secret[:])
		body := store.KeyPrefix + base62(new(big.Int).SetBytes(secret[:]), 43)
		keys = append(keys, body+base62(big.NewInt(int64(crc32.ChecksumIEEE([]byte(body)))), 6))
	}
	return keys
}

func base62(n *big.Int, width int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, width)
	n = new(big.Int).Set(n)
	m := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, big.NewInt(62), m)
		out[i] = digits[m.Int64()]
	}
	return string(out)
}

// fixtureNow is a moment at which the fixture's keys are in every state:
// reports-staging not yet expired, support-bot still in its grace.
var fixtureNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
