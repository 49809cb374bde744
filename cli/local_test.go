package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// startChild starts `apiscopes args…` in a process of its own, as
// runChild does, without waiting for it; the test ends it.
func startChild(t *testing.T, stdin *os.File, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, out
}

// waitForSocket waits until a holder listens beside the database.
func waitForSocket(t *testing.T, path string, log *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if fi, err := os.Lstat(local.SocketPath(path)); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no holder listens beside %s after 15 s; its log:\n%s", path, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyChildren runs n verify commands at once, each in a process of its
// own, and wants every one allowed.
func verifyChildren(t *testing.T, n int, path, key string) {
	t.Helper()
	t.Setenv("APISCOPES_KEY", key)
	var wg sync.WaitGroup
	results := make(chan childResult, n)
	for range n {
		wg.Go(func() { results <- runChild(t, nil, "verify", "--db", path, "--scope", "model:deploy") })
	}
	wg.Wait()
	close(results)
	for res := range results {
		if res.code != 0 || !strings.HasPrefix(res.stderr, "allowed: key aps_…") {
			t.Errorf("verify = %d, %q", res.code, res.stderr)
		}
	}
}

// verifyInProcess runs n verify commands at once in this process.
func verifyInProcess(t *testing.T, n int, path, key string) {
	t.Helper()
	t.Setenv("APISCOPES_KEY", "")
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy")
			if code != 0 {
				t.Errorf("verify = %d, %q", code, errs)
			}
		})
	}
	wg.Wait()
}

// TestLocalCommandsWhileAConsoleHolds runs a real console in a process of
// its own on a terminal, and while it holds the database runs twenty
// verify commands at once (as processes, and again within this process),
// then audit, backup and check: every one is answered, and the checks count
// as uses of the key. Without the console, the same twenty answer from the
// file.
func TestLocalCommandsWhileAConsoleHolds(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_SCOPE", "")
	t.Setenv("APISCOPES_JSON", "")

	t.Run("no console", func(t *testing.T) {
		verifyChildren(t, 20, path, key)
		verifyInProcess(t, 20, path, key)
	})

	console, log := startChild(t, openTerminal(t), "--db", path)
	waitForSocket(t, path, log)
	t.Run("console", func(t *testing.T) {
		verifyChildren(t, 20, path, key)
		verifyInProcess(t, 20, path, key)
		code, out, errs := runCmd(t, "--db", path, "audit")
		if code != 0 || !strings.Contains(out, "created API key") {
			t.Errorf("audit = %d, %q, %q", code, out, errs)
		}
		copy := filepath.Join(t.TempDir(), "copy.db")
		code, out, errs = runCmd(t, "--db", path, "backup", copy)
		if code != 0 || !strings.Contains(out, "checked") {
			t.Errorf("backup = %d, %q, %q", code, out, errs)
		}
		if err := bolt.CheckFile(t.Context(), copy); err != nil {
			t.Errorf("the backup: %v", err)
		}
		code, out, errs = runCmd(t, "check", path)
		if code != 0 || !strings.Contains(out, "is sound: 1 app") {
			t.Errorf("check = %d, %q, %q", code, out, errs)
		}
	})

	// ctrl+c's signal: the console ends, writes the uses it noted and takes
	// its socket with it.
	console.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- console.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the console did not end; its log:\n%s", log.String())
	}
	if _, err := os.Lstat(local.SocketPath(path)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the console: %v", err)
	}
	st, err := bolt.OpenStore(path, bolt.Options{ReadOnly: true}, store.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, _ := st.Keys(t.Context(), 1)
	if len(keys) != 1 || keys[0].LastUsedAt.IsZero() {
		t.Errorf("the checks the console answered were not noted as uses: %+v", keys)
	}
}

// TestVerifyWhenTheHolderIsStopped: a server stopped with SIGSTOP (as ctrl+z
// stops a console) still holds the file; verify gives up with exit 2 and a
// message within about two seconds instead of hanging a script.
func TestVerifyWhenTheHolderIsStopped(t *testing.T) {
	path, key := seededDB(t)
	t.Setenv("APISCOPES_HTTP", "")
	serve, log := startChild(t, nil, "serve", "--db", path, "--http", "127.0.0.1:0")
	waitForSocket(t, path, log)
	if code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy"); code != 0 {
		t.Fatalf("verify through the server = %d, %q", code, errs)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "local commands"); {
		if time.Now().After(deadline) {
			t.Fatalf("serve does not say where local commands reach it:\n%s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	serve.Process.Signal(syscall.SIGSTOP)
	waitStopped(t, serve.Process.Pid)
	start := time.Now()
	code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy")
	took := time.Since(start)
	if code != 2 || !strings.Contains(errs, "did not answer") || !strings.Contains(errs, path) || !strings.Contains(errs, "fg") {
		t.Errorf("verify against a stopped holder = %d, %q", code, errs)
	}
	if took > local.AnswerTimeout+5*time.Second { // about AnswerTimeout, with room for a loaded machine: never a hang
		t.Errorf("verify took %v against a stopped holder", took)
	}
	if strings.Contains(errs, key) {
		t.Error("the message holds the key")
	}
	serve.Process.Signal(syscall.SIGCONT)
	if code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy"); code != 0 {
		t.Errorf("verify once the server runs again = %d, %q", code, errs)
	}
}

// fixtureKeys are the keys of testdata/schema1.db, drawn again from the
// seeded source it was made with, in creation order: reports-prod and
// reports-staging of Risk & Compliance, support-bot of Customer Support
// (rolled, deleted from 2026-12-07 09:10 UTC), notebook (its app deleted),
// support-bot (rolled).
func fixtureKeys() []string {
	var seed [32]byte
	copy(seed[:], "apiscopes schema 1 fixture seed!")
	r := rand.NewChaCha8(seed)
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	base62 := func(n *big.Int, width int) string {
		out := make([]byte, width)
		m := new(big.Int)
		for i := width - 1; i >= 0; i-- {
			n.DivMod(n, big.NewInt(62), m)
			out[i] = digits[m.Int64()]
		}
		return string(out)
	}
	var keys []string
	for range 5 {
		var secret [32]byte
		io.ReadFull(r, secret[:])
		body := store.KeyPrefix + base62(new(big.Int).SetBytes(secret[:]), 43)
		keys = append(keys, body+base62(big.NewInt(int64(crc32.ChecksumIEEE([]byte(body)))), 6))
	}
	return keys
}

// TestVerifySchema1Fixture: the file the previous version wrote answers
// verify through the point lookup without changing a byte, and through a
// console after the console migrated it.
func TestVerifySchema1Fixture(t *testing.T) {
	data, err := os.ReadFile("../testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	writeTestFile(t, path, data)
	keys := fixtureKeys()
	if d := sha256.Sum256([]byte(keys[0])); !bytes.Contains(data, d[:]) {
		t.Fatal("the fixture's keys were not drawn again")
	}
	t.Setenv("APISCOPES_KEY", "")
	// Answers that hold until the fixture's keys expire (2027) or go
	// (support-bot, 2026-12-07): only keys without a deadline, and the
	// deleted app's.
	cases := []struct {
		key    int
		scope  string
		code   int
		reason string
	}{
		{0, "model:deploy", 0, "allowed"},
		{0, "guardrail:deploy", 1, "scope_not_granted"},
		{3, "model:import", 1, "unknown_key"},
		{4, "guardrail:deploy", 0, "allowed"},
		{4, "guardrail:undeploy", 1, "scope_not_granted"},
	}
	check := func(t *testing.T) {
		for _, c := range cases {
			code, _, errs := runWithStdin(t, keys[c.key], "verify", "--db", path, "--scope", c.scope)
			if code != c.code || !strings.HasPrefix(errs, c.reason+":") {
				t.Errorf("key %d, %s: %d %q; want %d %s", c.key+1, c.scope, code, errs, c.code, c.reason)
			}
		}
	}
	t.Run("point lookup", func(t *testing.T) {
		check(t)
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
			t.Error("verify changed the schema 1 file")
		}
	})
	h, code, msg := openStore(path, io.Discard)
	if h == nil {
		t.Fatalf("open the schema 1 file: %d %s", code, msg)
	}
	t.Run("console", check)
	h.Close()
	if after, _ := os.ReadFile(path); bytes.Equal(after, data) {
		t.Error("the console did not migrate the file")
	}
	t.Run("migrated file", check)
}

// TestVerifyOfADamagedFile: a file whose pages do not hold together makes
// verify exit 2 with a message naming it, never crash, and stay unchanged.
func TestVerifyOfADamagedFile(t *testing.T) {
	path, key := seededDB(t)
	data, _ := os.ReadFile(path)
	for p := 2 * os.Getpagesize(); p+os.Getpagesize() <= len(data); p += os.Getpagesize() {
		data[p+8], data[p+9] = 0xff, 0xff
	}
	writeTestFile(t, path, data)
	t.Setenv("APISCOPES_KEY", "")
	code, _, errs := runWithStdin(t, key, "verify", "--db", path, "--scope", "model:deploy")
	if code != 2 || !strings.Contains(errs, path) {
		t.Errorf("verify = %d, %q", code, errs)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("verify changed the damaged file")
	}
}

// BenchmarkVerifyCommand times one `apiscopes verify` against a free
// database of 50,000 keys and, as the baseline, against one of 10, in the
// same run: x-few is how many times the large database costs the small
// one's; the goal is 1.5 or less. A verify reads one key's records: a few
// pages of each table's tree, whatever the number of keys.
//
// "function" runs the command's function as a script's call runs it, less
// the process's start, timed in alternating blocks of calls so that both
// databases see the same machine (the block that goes second swaps each
// time). "process" runs the built binary, as a script does.
func BenchmarkVerifyCommand(b *testing.B) {
	dir := b.TempDir()
	few, fewKeys := benchDatabase(b, filepath.Join(dir, "few.db"), 1, 5)
	many, manyKeys := benchDatabase(b, filepath.Join(dir, "many.db"), 10_000, 5)
	b.Setenv("APISCOPES_KEY", "")
	b.Setenv("APISCOPES_SCOPE", "")
	b.Setenv("APISCOPES_JSON", "")
	runtime.GC() // the garbage of making the databases is not the checks'

	b.Run("function", func(b *testing.B) {
		verify := func(path, key string) {
			var errb bytes.Buffer
			if code := run([]string{"verify", "--db", path, "--scope", "model:deploy"}, strings.NewReader(key), io.Discard, &errb); code != 0 {
				b.Fatalf("verify = %d: %s", code, errb.String())
			}
		}
		benchAlternating(b, func(i int) { verify(many, manyKeys[i%len(manyKeys)]) }, func(i int) { verify(few, fewKeys[i%len(fewKeys)]) }, 64)
	})
	b.Run("process", func(b *testing.B) {
		bin := filepath.Join(b.TempDir(), "apiscopes")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Skipf("go build: %v\n%s", err, out)
		}
		verify := func(path, key string) {
			cmd := exec.Command(bin, "verify", "--db", path, "--scope", "model:deploy")
			cmd.Stdin = strings.NewReader(key)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("verify: %v: %s", err, out)
			}
		}
		benchAlternating(b, func(i int) { verify(many, manyKeys[i%len(manyKeys)]) }, func(i int) { verify(few, fewKeys[i%len(fewKeys)]) }, 8)
	})
}

// benchAlternating times op against base in alternating blocks of the same
// size, the block that goes first swapping each time, and reports how many
// times base op costs (x-few) and base's own time.
func benchAlternating(b *testing.B, op, base func(i int), block int) {
	var opTime, baseTime time.Duration
	nOp, nBase := 0, 0
	timeBase := func(from int) {
		b.StopTimer()
		start := time.Now()
		for i := from; i < from+block; i++ {
			base(i)
		}
		baseTime += time.Since(start)
		nBase += block
		b.StartTimer()
	}
	for i := 0; b.Loop(); i++ {
		if i%block == 0 && (i/block)%2 == 0 {
			timeBase(i) // even blocks: the baseline first
		}
		start := time.Now()
		op(i)
		opTime += time.Since(start)
		nOp++
		if i%block == block-1 && (i/block)%2 == 1 {
			timeBase(i) // odd blocks: the baseline second
		}
	}
	perOp := float64(opTime) / float64(nOp)
	perBase := float64(baseTime) / float64(nBase)
	b.ReportMetric(perBase, "ns/verify-few")
	b.ReportMetric(perOp/perBase, "x-few")
}

// benchDatabase makes a database of apps × keys keys (the keys' text is
// not kept), plus five keys with their text among them, and returns those.
func benchDatabase(b *testing.B, path string, apps, keys int) (string, []string) {
	b.Helper()
	st, err := bolt.OpenStore(path, bolt.Options{}, store.WithMaintenance(0))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	specs := make([]store.AppSpec, apps)
	for i := range specs {
		names := make([]string, keys)
		for k := range names {
			names[k] = "service-" + string(rune('a'+k))
		}
		specs[i] = store.AppSpec{Name: "App " + big.NewInt(int64(i)).String(), Scopes: scopes.NewSet(scopes.ModelDeploy), Keys: names}
	}
	for len(specs) > 0 {
		n := min(2000, len(specs))
		if _, err := st.CreateApps(b.Context(), testAdmin, specs[:n]); err != nil {
			b.Fatal(err)
		}
		specs = specs[n:]
	}
	app, err := st.CreateApp(b.Context(), testAdmin, "Known", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for i := range 5 {
		text, _, err := st.CreateKey(b.Context(), testAdmin, app.ID, "known-"+string(rune('a'+i)))
		if err != nil {
			b.Fatal(err)
		}
		texts = append(texts, text)
	}
	return path, texts
}

// waitStopped waits until the kernel says process pid is stopped: a signal
// takes effect a moment after it is sent, longer on a loaded machine.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Skipf("cannot tell whether the process stopped: %v", err)
		}
		// pid (comm) state …: the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'T' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop: %s", pid, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
