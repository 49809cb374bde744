package bolt

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// The crash test's child process is this test binary, run again with these
// variables set: it writes to the database until it is killed.
const (
	crashChildEnv = "APISCOPES_CRASH_CHILD_DB"
	crashSeedEnv  = "APISCOPES_CRASH_CHILD_SEED"
)

// crashAck is what the child prints once a store call has returned: the
// write is acknowledged, so it must survive any crash from then on.
type crashAck struct {
	Op     store.Action `json:"op"`
	App    uint64       `json:"app"`
	Key    uint64       `json:"key,omitempty"`     // the key created, deleted or rolled
	NewKey uint64       `json:"new_key,omitempty"` // a roll's new key
	Grace  bool         `json:"grace,omitempty"`   // a roll that keeps the old key for a while
	Name   string       `json:"name,omitempty"`
	Scopes []string     `json:"scopes,omitempty"`
	Text   string       `json:"text,omitempty"` // a created key, to check it still verifies
}

// TestCrashSafety kills a process that is writing to the database at random
// moments and checks, after each kill, that the file is sound (bbolt's page
// check and the store's invariants, both run by every open), that every
// acknowledged write is there in order, and that nothing else is: at most
// the one write that was committed but not yet acknowledged when the
// process died. It starts on a new file every 25 kills.
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
		crashChild(path, seed)
		return
	}
	const (
		minKills  = 100
		minWrites = 1000
		perFile   = 25 // kills before starting on a new file: each open checks the whole file, which grows
	)
	rng := rand.New(rand.NewPCG(2026, 11))
	var path string
	var m *crashModel
	kills, acked, adopted := 0, 0, 0
	for kills < minKills || acked < minWrites {
		if kills == 4*minKills {
			t.Fatalf("only %d acknowledged writes after %d kills", acked, kills)
		}
		if kills%perFile == 0 {
			if m != nil {
				adopted += m.adopted
			}
			path = filepath.Join(t.TempDir(), "crash.db")
			m = newCrashModel()
		}
		// Most kills land after some writes, a few while the child opens
		// the file; the extra delay puts them anywhere inside a commit.
		after := rng.IntN(26)
		if rng.IntN(10) == 0 {
			after = 0
		}
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		acks := runCrashChild(t, path, uint64(kills), after, delay)
		for _, a := range acks {
			m.apply(t, a)
		}
		acked += len(acks)
		kills++
		m.verify(t, path, kills)
		if t.Failed() {
			t.Fatalf("after kill %d (%d writes acknowledged in all)", kills, acked)
		}
	}
	t.Logf("%d kills, %d acknowledged writes, %d in flight at a kill and committed", kills, acked, adopted+m.adopted)
}

// runCrashChild starts a child writing to path, SIGKILLs it after `after`
// acknowledgements and a further delay, and returns every acknowledgement it
// printed before it died.
func runCrashChild(t *testing.T, path string, seed uint64, after int, delay time.Duration) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var acks []crashAck
	read := func() bool {
		for lines.Scan() {
			text, ok := strings.CutPrefix(lines.Text(), "ack ")
			if !ok {
				continue
			}
			var a crashAck
			if err := json.Unmarshal([]byte(text), &a); err != nil {
				t.Fatalf("child printed %q: %v", lines.Text(), err)
			}
			acks = append(acks, a)
			return true
		}
		return false
	}
	for len(acks) < after {
		if !read() {
			cmd.Wait()
			t.Fatalf("the child stopped by itself after %d writes:\n%s", len(acks), stderr.String())
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for read() { // what it printed before the signal landed
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v, not by SIGKILL:\n%s", err, stderr.String())
	}
	return acks
}

// crashChild writes to the database at path until it is killed, choosing
// among every kind of change, and prints an acknowledgement of each one
// only after the store call returned.
func crashChild(path string, seed uint64) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	var secret [32]byte
	binary.BigEndian.PutUint64(secret[:], seed)
	st, err := OpenStore(path, Options{Timeout: 5 * time.Second}, store.WithRandom(rand.NewChaCha8(secret)))
	if err != nil {
		fail(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	ack := func(a crashAck) {
		b, _ := json.Marshal(a)
		os.Stdout.Write(append(append([]byte("ack "), b...), '\n')) // one write: a whole line or nothing
	}
	apps, err := st.Apps(context.Background())
	if err != nil {
		fail(err)
	}
	keys := map[uint64][]store.Key{}
	for _, a := range apps {
		if keys[a.ID], err = st.Keys(context.Background(), a.ID); err != nil {
			fail(err)
		}
	}
	pickApp := func() int { return rng.IntN(len(apps)) }
	for i := 0; ; i++ {
		name := fmt.Sprintf("app %d-%d", seed, i)
		switch op := rng.IntN(12); {
		case len(apps) < 3 || op == 0:
			a, err := st.CreateApp(context.Background(), admin, name, randomSet(rng, 0))
			if err != nil {
				fail(err)
			}
			apps = append(apps, a)
			ack(crashAck{Op: store.ActionAppCreate, App: a.ID, Name: a.Name, Scopes: a.Scopes.Strings()})
		case op <= 3:
			a := apps[pickApp()]
			text, k, err := st.CreateKey(context.Background(), admin, a.ID, fmt.Sprintf("key %d-%d", seed, i))
			if err != nil {
				fail(err)
			}
			keys[a.ID] = append(keys[a.ID], k)
			ack(crashAck{Op: store.ActionKeyCreate, App: a.ID, Key: k.ID, Name: k.Name, Text: text})
		case op <= 5:
			a := apps[pickApp()]
			if len(keys[a.ID]) == 0 {
				continue
			}
			j := rng.IntN(len(keys[a.ID]))
			k := keys[a.ID][j]
			if err := st.DeleteKey(context.Background(), admin, k.ID); err != nil {
				fail(err)
			}
			keys[a.ID] = slices.Delete(keys[a.ID], j, j+1)
			ack(crashAck{Op: store.ActionKeyDelete, App: a.ID, Key: k.ID})
		case op <= 7:
			a := apps[pickApp()]
			j := slices.IndexFunc(keys[a.ID], func(k store.Key) bool { return k.DeleteAt.IsZero() })
			if j < 0 {
				continue
			}
			grace := time.Duration(rng.IntN(2)) * time.Hour
			text, nk, old, err := st.RollKey(context.Background(), admin, keys[a.ID][j].ID, grace)
			if err != nil {
				fail(err)
			}
			if grace == 0 {
				keys[a.ID] = slices.Delete(keys[a.ID], j, j+1)
			} else {
				keys[a.ID][j] = old
			}
			keys[a.ID] = append(keys[a.ID], nk)
			ack(crashAck{Op: store.ActionKeyRoll, App: a.ID, Key: old.ID, NewKey: nk.ID, Grace: grace > 0, Name: nk.Name, Text: text})
		case op == 8 && len(apps) > 6:
			j := pickApp()
			a := apps[j]
			if err := st.DeleteApp(context.Background(), admin, a.ID); err != nil {
				fail(err)
			}
			apps = slices.Delete(apps, j, j+1)
			delete(keys, a.ID)
			ack(crashAck{Op: store.ActionAppDelete, App: a.ID})
		case op <= 10:
			a := &apps[pickApp()]
			got, err := st.SaveApp(context.Background(), admin, *a, a.Name, randomSet(rng, a.Scopes))
			if err != nil {
				fail(err)
			}
			*a = got
			ack(crashAck{Op: store.ActionAppUpdate, App: a.ID, Name: got.Name, Scopes: got.Scopes.Strings()})
		default:
			a := &apps[pickApp()]
			got, err := st.SaveApp(context.Background(), admin, *a, "renamed "+name, a.Scopes)
			if err != nil {
				fail(err)
			}
			*a = got
			ack(crashAck{Op: store.ActionAppUpdate, App: a.ID, Name: got.Name, Scopes: got.Scopes.Strings()})
		}
	}
}

// randomSet is a non-empty set of scopes other than not.
func randomSet(rng *rand.Rand, not scopes.Set) scopes.Set {
	for {
		var s scopes.Set
		for _, sc := range scopes.All() {
			if rng.IntN(2) == 0 {
				s = s.With(sc.ID)
			}
		}
		if !s.IsEmpty() && s != not {
			return s
		}
	}
}

// crashModel is what the acknowledgements say the database holds.
type crashModel struct {
	apps    map[uint64]crashApp
	keys    map[uint64]crashKey
	gone    []string // texts of deleted keys: they must stay refused
	actions []crashAck
	adopted int // writes committed but not acknowledged when a child died
}

type crashApp struct {
	name   string
	scopes []string
}

type crashKey struct {
	app  uint64
	name string
	text string // empty for a key created by a write that was never acknowledged
}

func newCrashModel() *crashModel {
	return &crashModel{apps: map[uint64]crashApp{}, keys: map[uint64]crashKey{}}
}

func (m *crashModel) apply(t *testing.T, a crashAck) {
	t.Helper()
	m.actions = append(m.actions, a)
	switch a.Op {
	case store.ActionAppCreate, store.ActionAppUpdate:
		m.apps[a.App] = crashApp{name: a.Name, scopes: a.Scopes}
	case store.ActionAppDelete:
		delete(m.apps, a.App)
		for id, k := range m.keys {
			if k.app == a.App {
				m.forget(id)
			}
		}
	case store.ActionKeyCreate:
		m.keys[a.Key] = crashKey{app: a.App, name: a.Name, text: a.Text}
	case store.ActionKeyDelete:
		m.forget(a.Key)
	case store.ActionKeyRoll:
		if !a.Grace {
			m.forget(a.Key)
		}
		m.keys[a.NewKey] = crashKey{app: a.App, name: a.Name, text: a.Text}
	default:
		t.Fatalf("unknown acknowledgement %+v", a)
	}
}

func (m *crashModel) forget(keyID uint64) {
	if text := m.keys[keyID].text; text != "" {
		m.gone = append(m.gone, text)
	}
	delete(m.keys, keyID)
}

// adopt takes in the one write that was committed when its process died,
// before it could say so, from its audit event.
func (m *crashModel) adopt(t *testing.T, ev store.Event) {
	t.Helper()
	a := crashAck{Op: ev.Action, App: ev.AppID, Key: ev.KeyID, Name: ev.AppName, Scopes: ev.ScopesAfter}
	switch ev.Action {
	case store.ActionAppUpdate:
		if ev.ScopesAfter == nil {
			a.Scopes = m.apps[ev.AppID].scopes
		}
	case store.ActionKeyCreate:
		a.Name = ev.KeyName
	case store.ActionKeyRoll:
		a.NewKey, a.Name, a.Grace = ev.NewKeyID, ev.NewKeyName, !ev.DeleteAt.Equal(ev.At)
	}
	m.apply(t, a)
	m.adopted++
}

// verify reopens the database and compares it with the model.
func (m *crashModel) verify(t *testing.T, path string, kill int) {
	t.Helper()
	st, err := OpenStore(path, Options{}, store.WithMaintenance(0))
	if err != nil {
		t.Fatalf("reopen after kill %d: %v", kill, err)
	}
	defer st.Close() // opening checked every page and the store's invariants

	events, err := st.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(events) // oldest first
	switch extra := len(events) - len(m.actions); extra {
	case 0:
	case 1:
		m.adopt(t, events[len(events)-1])
	default:
		t.Fatalf("after kill %d the audit trail has %d events for %d acknowledged writes", kill, len(events), len(m.actions))
	}
	for i, a := range m.actions {
		ev := events[i]
		if ev.Seq != uint64(i+1) || ev.Action != a.Op || ev.AppID != a.App || ev.KeyID != a.Key || ev.NewKeyID != a.NewKey {
			t.Fatalf("write %d was %s app %d key %d (new %d); the audit trail says %d: %s app %d key %d (new %d)",
				i+1, a.Op, a.App, a.Key, a.NewKey, ev.Seq, ev.Action, ev.AppID, ev.KeyID, ev.NewKeyID)
		}
	}

	apps, err := st.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != len(m.apps) {
		t.Errorf("after kill %d there are %d apps, want %d", kill, len(apps), len(m.apps))
	}
	nkeys := 0
	for _, a := range apps {
		want, ok := m.apps[a.ID]
		if !ok {
			t.Errorf("app %d (%q) should not exist", a.ID, a.Name)
			continue
		}
		if a.Name != want.name || !slices.Equal(a.Scopes.Strings(), want.scopes) {
			t.Errorf("app %d is %q %v, want %q %v", a.ID, a.Name, a.Scopes.Strings(), want.name, want.scopes)
		}
		keys, err := st.Keys(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		nkeys += len(keys)
		for _, k := range keys {
			if want, ok := m.keys[k.ID]; !ok || want.app != a.ID || want.name != k.Name {
				t.Errorf("key %d %q of app %d: model has %+v, %v", k.ID, k.Name, a.ID, want, ok)
			}
		}
	}
	if nkeys != len(m.keys) {
		t.Errorf("after kill %d there are %d keys, want %d", kill, nkeys, len(m.keys))
	}
	for id, k := range m.keys {
		if k.text == "" {
			continue
		}
		granted, _ := scopes.Parse(m.apps[k.app].scopes[0])
		if d, err := st.Verify(k.text, granted); err != nil || !d.Allowed || d.Key().ID != id {
			t.Errorf("key %d no longer verifies for %s: %v, %v", id, granted, d, err)
		}
	}
	for _, text := range m.gone {
		if d, err := st.Verify(text, scopes.WorkflowDeploy); err != nil || d.Reason != store.UnknownKey {
			t.Errorf("a deleted key verifies again: %v, %v", d, err)
		}
	}
}
