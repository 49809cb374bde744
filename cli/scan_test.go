package cli

import (
	"bytes"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// A key with a valid checksum, drawn from a fixed seed: a fixture, never
// issued anywhere (this file is in .apiscopes-scan-ignore).
const scanFixtureKey = "aps_3NfOTmqnab7ycyLNjJx3nX32mEqHo8LaRrYcDWXFwRu2SH2Hc"

func runScan(t *testing.T, stdin string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"scan"}, args...), strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

// TestScanFindsAKeyWithoutPrintingIt: a live key in a file is reported with
// its file, line, hint, app and scopes, exit 1, and its text appears
// nowhere in the output.
func TestScanFindsAKeyWithoutPrintingIt(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "apiscopes.db")
	st, err := bolt.OpenStore(db, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, err := st.CreateApp(t.Context(), admin, "Risk & Compliance", scopes.NewSet(scopes.ModelDeploy, scopes.ModelExport))
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := st.CreateKey(t.Context(), admin, app.ID, "prod")
	if err != nil {
		t.Fatal(err)
	}
	expiring, k2, err := st.CreateKeyWith(t.Context(), admin, app.ID, "short", store.KeyOptions{ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_ = k2
	st.Close()

	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "deploy"), 0o755)
	os.WriteFile(filepath.Join(src, "deploy", "env.sh"), []byte("#!/bin/sh\n\nexport APISCOPES_KEY="+live+"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "notes.md"), []byte("old: "+scanFixtureKey+"\nsoon: '"+expiring+"'\n"), 0o644)

	code, out, errOut := runScan(t, "", "--db", db, src)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, key := range []string{live, expiring, scanFixtureKey} {
		secret := key[len(store.KeyPrefix) : len(key)-6]
		if strings.Contains(out+errOut, secret) {
			t.Fatalf("the output holds a key's secret:\n%s%s", out, errOut)
		}
	}
	for _, want := range []string{
		filepath.Join(src, "deploy", "env.sh") + ":3: aps_…" + live[len(live)-4:] + `  LIVE: app "Risk & Compliance", scopes model:deploy,model:export`,
		filepath.Join(src, "notes.md") + ":1: aps_…H2Hc  unknown in this database",
		filepath.Join(src, "notes.md") + ":2: aps_…" + expiring[len(expiring)-4:] + "  LIVE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "3 API key(s) found") {
		t.Errorf("stderr: %q", errOut)
	}
}

// TestScanIgnoresLookAlikes: a wrong checksum and a truncated key are not
// keys: exit 0. A key is found whatever stands beside it.
func TestScanIgnoresLookAlikes(t *testing.T) {
	k := scanFixtureKey
	bad := k[:len(k)-1] + string(rune(k[len(k)-1]^1))
	text := strings.Join([]string{
		"checksum " + bad,
		"glued checksum x" + bad + "_backup",
		"truncated " + k[:len(k)-1],
		"prefix only aps_",
	}, "\n")
	code, out, errOut := runScan(t, text, "-")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	code, out, _ = runScan(t, "ok ("+k+")\nlonger "+k+"x\nglued x"+k+"\nunderscore _"+k+"\n", "-")
	if code != 1 || strings.Count(out, "aps_…H2Hc") != 4 || !strings.Contains(out, "(stdin):4: aps_…H2Hc") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestScanKeyAcrossChunks: keys are found wherever they fall against the
// reader's chunks, with the right line numbers.
func TestScanKeyAcrossChunks(t *testing.T) {
	for _, at := range []int{0, scanChunk - 30, scanChunk - 53, scanChunk - 52, scanChunk - 1, scanChunk, scanChunk + 7, 2*scanChunk - 20} {
		var b bytes.Buffer
		lines := 1
		for b.Len() < at {
			b.WriteString(strings.Repeat("y", 99) + "\n")
			lines++
		}
		b.Truncate(at)
		lines = bytes.Count(b.Bytes(), []byte{'\n'}) + 1
		b.WriteString(" " + scanFixtureKey + " \n" + strings.Repeat("z", 3*scanChunk/2))
		found, err := scanReader("x", &b)
		if err != nil || len(found) != 1 || found[0].line != lines || found[0].key != scanFixtureKey {
			t.Fatalf("key at %d: %+v, %v (want line %d)", at, found, err, lines)
		}
	}
}

// TestScanIgnoreFile: .apiscopes-scan-ignore skips files by glob, folders
// by path and by name; .git is never read.
func TestScanIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"fixtures/a.txt", "keep/b.golden", "deep/x/testdata/c", ".git/objects/d", "found.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(scanFixtureKey+"\n"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, scanIgnoreFile), []byte("# fixtures\nfixtures/\n*.golden\ntestdata\n"), 0o644)
	code, out, _ := runScan(t, "", "--db", filepath.Join(dir, "none.db"), dir)
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "found.txt:1:") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "not looked up: no database at") {
		t.Fatalf("missing database not said: %s", out)
	}
}

// TestScanThisRepository: the repository holds no key outside its
// declared fixtures.
func TestScanThisRepository(t *testing.T) {
	code, out, errOut := runScan(t, "", "--db", filepath.Join(t.TempDir(), "none.db"), "..")
	if code != 0 {
		t.Fatalf("exit %d: keys in the repository:\n%s%s", code, out, errOut)
	}
}

// TestScanErrors: a path that does not exist is exit 2 with its name.
func TestScanErrors(t *testing.T) {
	code, _, errOut := runScan(t, "", "no/such/place")
	if code != 2 || !strings.Contains(errOut, "no/such/place") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// BenchmarkScanVsGrep scans one tree with apiscopes scan's walker and with
// grep -rE of the same pattern, in alternating rounds, and reports the
// ratio x-grep (goal ≤ 2).
func BenchmarkScanVsGrep(b *testing.B) {
	grep, err := exec.LookPath("grep")
	if err != nil {
		b.Skip("no grep")
	}
	dir := b.TempDir()
	r := mrand.New(mrand.NewPCG(1, 2))
	line := make([]byte, 120)
	for i := range 400 {
		var buf bytes.Buffer
		for buf.Len() < 128<<10 {
			for j := range line {
				line[j] = "abcdefghij klmnopqrstuvwxyz_ ABCDEFG0123456789 aps_"[r.IntN(50)]
			}
			buf.Write(line)
			buf.WriteByte('\n')
		}
		if i%50 == 0 {
			var s [32]byte
			rand.Read(s[:])
			buf.WriteString(scanFixtureKey + "\n")
		}
		sub := filepath.Join(dir, fmt.Sprint(i%20))
		os.MkdirAll(sub, 0o755)
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.txt", i)), buf.Bytes(), 0o644)
	}
	var ours, theirs time.Duration
	for b.Loop() {
		t0 := time.Now()
		found, err := scanTree(dir)
		if err != nil || len(found) != 8 {
			b.Fatalf("found %d: %v", len(found), err)
		}
		t1 := time.Now()
		out, _ := exec.Command(grep, "-rEoc", `aps_[0-9A-Za-z]{49}`, dir).Output()
		if len(out) == 0 {
			b.Fatal("grep found nothing")
		}
		t2 := time.Now()
		ours += t1.Sub(t0)
		theirs += t2.Sub(t1)
	}
	b.ReportMetric(float64(ours)/float64(theirs), "x-grep")
}
