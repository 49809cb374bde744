package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// scanTestKeys makes n real keys in a database of their own, from a seeded
// random source: the same keys on every run, and none written in a file.
// The database is returned too, where the keys are live.
func scanTestKeys(tb testing.TB, n int) (keys []string, db string) {
	tb.Helper()
	db = filepath.Join(tb.TempDir(), "keys.db")
	st, err := bolt.OpenStore(db, bolt.Options{NoSync: true},
		store.WithRandom(rand.NewChaCha8([32]byte{21})), store.WithMaintenance(0))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	admin := store.Actor{Name: "amara", Role: store.Admin}
	app, err := st.CreateApp(context.Background(), admin, "Scan fixtures", scopes.NewSet(scopes.ModelDeploy))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		key, _, err := st.CreateKey(context.Background(), admin, app.ID, fmt.Sprint("key-", i))
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys, db
}

func writeScanFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Ways to hide a key, as the tests write them.

func encodeEach(s, format string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, format, c)
	}
	return b.String()
}

// base64At is key in base64 at an alignment, between bytes that the two
// alphabets encode apart (0xff is "/" or "_").
func base64At(enc *base64.Encoding, align int, key string) string {
	return enc.EncodeToString([]byte(strings.Repeat("\xff", align) + key + "\xff"))
}

func wrapLines(s string, width int, eol string) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + eol)
		s = s[width:]
	}
	b.WriteString(s + eol)
	return b.String()
}

func utf16Text(s string, bigEndian, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xfeff}, units...)
	}
	out := make([]byte, 2*len(units))
	for i, u := range units {
		if bigEndian {
			binary.BigEndian.PutUint16(out[2*i:], u)
		} else {
			binary.LittleEndian.PutUint16(out[2*i:], u)
		}
	}
	return out
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipped(tb testing.TB, data []byte, name string) []byte {
	var b bytes.Buffer
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(&b)
	w.Name = name
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// b64Line is the line of text's base64, wrapped at width, that the
// encoding of key starts on.
func b64Line(text, key string, width int) int {
	return strings.Index(text, key)/3*4/width + 1
}

// hidingPlace is a file that hides a key, and where and how scan finds it.
type hidingPlace struct {
	file string
	text []byte
	line int
	form string
}

// hidingPlaces are every place and form scan finds the key k in.
func hidingPlaces(tb testing.TB, k string) []hidingPlace {
	env := "# deploy settings\nREGION=eu-west-1\nAPISCOPES_KEY=" + k + "\nDEBUG=0\n"
	places := []hidingPlace{
		{"after-newline-escape.json", []byte(`{"note": "line\n` + k + `"}`), 1, ""},
		{"after-tab-escape.c", []byte("char *s =\n  \"a\\t" + k + "\\t\";\n"), 2, ""},
		{"glued-before.env", []byte("cfg_" + k), 1, ""},
		{"glued-after.sh", []byte("cp ${KEY}_backup\necho " + k + "_backup\n"), 2, ""},
		{"letters-digits.txt", []byte("x9" + k + "Zz0"), 1, ""},
		{"url-underscore.txt", []byte("https://api.example.test/?key=aps%5F" + k[4:] + "&v=1"), 1, "URL-encoded"},
		{"url-every.txt", []byte("q=" + encodeEach(k, "%%%02X")), 1, "URL-encoded"},
		{"json-u-underscore.json", []byte(`{"key":"aps\u005f` + k[4:] + `"}`), 1, "escaped"},
		{"json-u-every.json", []byte(`{"key":"` + encodeEach(k, `\u%04x`) + `"}`), 1, "escaped"},
		{"c-hex.c", []byte(`char *k = "` + encodeEach(k[:10], `\x%02x`) + k[10:] + `";`), 1, "escaped"},
		{"c-octal.c", []byte(`char *k = "` + encodeEach(k, `\%03o`) + `";`), 1, "escaped"},
		{"go-U.go", []byte("k := \"" + k[:20] + encodeEach(k[20:], `\U%08x`) + "\""), 1, "escaped"},
		{"js-braces.js", []byte("const k = '" + encodeEach(k[:4], `\u{%x}`) + k[4:] + "'"), 1, "escaped"},
		{"whole.b64", []byte(wrapLines(base64.StdEncoding.EncodeToString([]byte(env)), 76, "\n")), b64Line(env, k, 76), "base64"},
		{"whole-crlf.b64", []byte(wrapLines(base64.StdEncoding.EncodeToString([]byte(env)), 64, "\r\n")), b64Line(env, k, 64), "base64"},
		{"whole-url.b64", []byte(base64.RawURLEncoding.EncodeToString([]byte(env))), 1, "base64"},
		{"utf16le-bom.txt", utf16Text(env, false, true), 3, "UTF-16"},
		{"utf16le.txt", utf16Text(env, false, false), 3, "UTF-16"},
		{"utf16be-bom.txt", utf16Text(env, true, true), 3, "UTF-16"},
		{"utf16be.txt", utf16Text(env, true, false), 3, "UTF-16"},
		{"app.env.gz", gzipped(tb, []byte(env), ""), 3, "gzip"},
		{"app.env.gz.gz", gzipped(tb, gzipped(tb, []byte(env), ""), ""), 3, "gzip, gzip"},
		{"secret.yaml.gz", gzipped(tb, []byte("kind: Secret\ndata:\n  key: "+base64At(base64.StdEncoding, 1, k)+"\n"), ""), 3, "gzip, base64"},
		{"named.gz", gzipped(tb, []byte("nothing here\n"), "aps_"+k[4:]+".txt"), 0, "gzip, header"},
	}
	for a := range 3 {
		places = append(places,
			hidingPlace{fmt.Sprintf("line-std-%d.yaml", a), []byte("kind: Secret\ndata:\n  key: " + base64At(base64.StdEncoding, a, k) + "\n"), 3, "base64"},
			hidingPlace{fmt.Sprintf("line-url-%d.txt", a), []byte("token=" + base64At(base64.RawURLEncoding, a, k) + "&x=1"), 1, "base64"})
	}
	return places
}

// TestScanFindsEveryHidingPlace: a key is found behind escapes, next to any
// character, URL-encoded, \u-escaped, in base64 of a line or a whole file
// (both alphabets, every alignment, wrapped), in UTF-16 (both byte orders,
// with and without a byte order mark) and in gzip files, at its line, with
// the form it was in; and its text is printed in none of them.
func TestScanFindsEveryHidingPlace(t *testing.T) {
	keys, db := scanTestKeys(t, 1)
	k := keys[0]
	for a := 1; a < 3; a++ {
		if std, url := base64At(base64.StdEncoding, a, k), base64At(base64.RawURLEncoding, a, k); std[:4] == url[:4] {
			t.Fatalf("alignment %d: %s and %s start alike", a, std, url)
		}
	}
	dir := t.TempDir()
	places := hidingPlaces(t, k)
	for _, p := range places {
		writeScanFile(t, filepath.Join(dir, p.file), p.text)
	}
	code, out, errOut := runScan(t, "", "--db", db, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, p := range places {
		where := filepath.Join(dir, p.file)
		if p.line > 0 {
			where += fmt.Sprint(":", p.line)
		}
		want := where + ": aps_…" + k[len(k)-4:] + formNote(p.form) + `  LIVE: app "Scan fixtures", scopes model:deploy` + "\n"
		if !strings.Contains(out, want) {
			t.Errorf("%s: output lacks %q", p.file, want)
		}
	}
	if got, want := strings.Count(out, "\n"), len(places); got != want {
		t.Errorf("%d findings, want %d:\n%s", got, want, out)
	}
	if strings.Contains(out+errOut, k[4:47]) {
		t.Fatalf("the output holds the key's secret:\n%s%s", out, errOut)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestScanBase64AtEveryOffset: a key in base64 is found at each of the
// three alignments of the key within the encoded bytes, in either alphabet,
// wherever line breaks cut its encoding (wrapped at 76 and at 64, with \n
// and \r\n), at the line its encoding starts on.
func TestScanBase64AtEveryOffset(t *testing.T) {
	keys, _ := scanTestKeys(t, 1)
	k := keys[0]
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		for _, width := range []int{76, 64, 5, 1} {
			for _, eol := range []string{"\n", "\r\n"} {
				for before := range 2*width + 3 {
					encoded := enc.EncodeToString([]byte(strings.Repeat("#", before) + k + "\n"))
					text := []byte(wrapLines(encoded, width, eol))
					var got []hit
					findHits(text, len(text), func(h hit) { got = append(got, h) })
					start := before / 3 * 4 // the character its group starts at
					at := start + start/width*len(eol)
					if len(got) != 1 || got[0].key != k || got[0].at != at || got[0].form != "base64" {
						t.Fatalf("%d bytes before the key, wrapped at %d with %q: %+v, want one at %d in\n%s",
							before, width, eol, got, at, text)
					}
				}
			}
		}
	}
}

// TestScanRefusesLookAlikesInEveryForm: a wrong checksum is not a key in
// any form, nor in a name; neither is a key cut short, "APS_", or base64
// and escapes that decode to a look-alike.
func TestScanRefusesLookAlikesInEveryForm(t *testing.T) {
	keys, db := scanTestKeys(t, 1)
	k := keys[0]
	bad := k[:len(k)-1] + string(k[len(k)-1]^1)
	dir := t.TempDir()
	for _, p := range hidingPlaces(t, bad) {
		writeScanFile(t, filepath.Join(dir, p.file), p.text)
	}
	writeScanFile(t, filepath.Join(dir, "shapes.txt"), []byte(strings.Join([]string{
		"truncated " + k[:len(k)-1],
		"truncated in base64 " + base64At(base64.StdEncoding, 0, k[:len(k)-1]),
		"upper case " + strings.ToUpper(k[:4]) + k[4:],
		"prefix only aps_ and aps%5F and YXBzXw==",
		"one letter more inside " + k[:20] + "x" + k[20:],
		"escaped look-alike " + encodeEach(bad, `\u%04x`),
	}, "\n")))
	writeScanFile(t, filepath.Join(dir, "name-"+bad+".txt"), []byte("nothing"))
	code, out, errOut := runScan(t, "", "--db", db, dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
}

// TestScanKeysInNames: a key in a file's or a folder's name is reported
// once, as in a name, even when no file holds it; every path printed shows
// a key in it by its hint, whatever the key's form in the name.
func TestScanKeysInNames(t *testing.T) {
	keys, db := scanTestKeys(t, 3)
	inFile, inDir, inEncoded := keys[0], keys[1], keys[2]
	dir := t.TempDir()
	folder := filepath.Join(dir, "backup-"+inDir)
	writeScanFile(t, filepath.Join(folder, "notes.txt"), []byte("nothing\nold="+inFile+"\n"))
	writeScanFile(t, filepath.Join(dir, inFile+".env"), []byte("nothing\n"))
	encoded := base64At(base64.RawURLEncoding, 2, inEncoded)
	writeScanFile(t, filepath.Join(dir, "x-"+encoded), []byte("nothing\n"))

	code, out, errOut := runScan(t, "", "--db", db, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	hint := func(k string) string { return "aps_…" + k[len(k)-4:] }
	live := `  LIVE: app "Scan fixtures", scopes model:deploy` + "\n"
	want := filepath.Join(dir, hint(inFile)+".env") + ": " + hint(inFile) + " (file name)" + live +
		filepath.Join(dir, "backup-"+hint(inDir)) + ": " + hint(inDir) + " (folder name)" + live +
		filepath.Join(dir, "backup-"+hint(inDir), "notes.txt") + ":2: " + hint(inFile) + live +
		filepath.Join(dir, "x-"+hint(inEncoded)+encoded[b64Len[2]:]) + ": " + hint(inEncoded) + " (file name, base64)" + live
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	for _, k := range keys {
		if strings.Contains(out+errOut, k[4:47]) {
			t.Fatalf("the output holds a key's secret:\n%s%s", out, errOut)
		}
	}

	// A path given as it is, and an error about it, show a key by its hint too.
	missing := filepath.Join(dir, "gone-"+inFile)
	code, out, errOut = runScan(t, "", "--db", db, missing)
	if code != 2 || strings.Contains(out+errOut, inFile[4:47]) || !strings.Contains(errOut, "gone-"+hint(inFile)) {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
}

// TestScanGzipBound: what a gzip stream decompresses to is read up to the
// bound and no further; the keys before it are reported, with the error.
func TestScanGzipBound(t *testing.T) {
	keys, _ := scanTestKeys(t, 1)
	text := append([]byte(keys[0]+"\n"), bytes.Repeat([]byte("0"), 4<<20)...)
	found, err := scanStream("big.gz", "", bytes.NewReader(gzipped(t, text, "")), 1<<20, 0)
	if len(found) != 1 || found[0].key != keys[0] || found[0].form != "gzip" {
		t.Fatalf("found %+v", found)
	}
	if err == nil || !strings.Contains(err.Error(), "big.gz (gzip): decompresses to more than scan reads") {
		t.Fatalf("err = %v", err)
	}

	// A gzip file cut short is an error, after what it held.
	gz := gzipped(t, text, "")
	found, err = scanStream("cut.gz", "", bytes.NewReader(gz[:len(gz)/2]), 64<<20, 0)
	if len(found) != 1 || err == nil || !strings.Contains(err.Error(), "cut.gz (gzip): unexpected EOF") {
		t.Fatalf("found %+v, err %v", found, err)
	}
}

var keyPattern = regexp.MustCompile(`^aps_[0-9A-Za-z]{49}$`)

// FuzzFindKeys: findKeys reports exactly the places where a plain regular
// expression matches a key whose checksum holds, whatever stands beside
// it; every key scan's finder reports in any text is a key (its checksum
// holds); and a key put anywhere in any text, written in any form scan
// reads, is found.
func FuzzFindKeys(f *testing.F) {
	keys, _ := scanTestKeys(f, 2)
	k := keys[0]
	f.Add([]byte("x "+k+" y"), uint8(0), uint16(0))
	f.Add([]byte(k+k), uint8(1), uint16(3))
	f.Add([]byte("aps_aps_"+k[4:]), uint8(2), uint16(60))
	f.Add([]byte(k[:50]+k), uint8(3), uint16(100))
	f.Add([]byte("\\\\%%\\u00\r\n\x00a\x00p"), uint8(7), uint16(5))
	for form := range uint8(hiddenForms) {
		f.Add([]byte("line one\nline two "), form, uint16(14))
	}
	f.Fuzz(func(t *testing.T, data []byte, form uint8, where uint16) {
		var got, want []int
		findKeys(data, len(data), func(at int) { got = append(got, at) })
		for i := 0; i+store.KeyLen <= len(data); i++ {
			w := data[i : i+store.KeyLen]
			if bytes.HasPrefix(w, []byte("aps_")) && keyPattern.Match(w) && store.CheckKey(string(w)) == nil {
				want = append(want, i)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("findKeys %v, want %v in %q", got, want, data)
		}
		var plain []int
		findHits(data, len(data), func(h hit) {
			if store.CheckKey(h.key) != nil || h.at < 0 || h.end > len(data) || h.at >= h.end {
				t.Fatalf("hit %+v in %q", h, data)
			}
			if h.form == "" {
				plain = append(plain, h.at)
			}
		})
		slices.Sort(plain)
		if fmt.Sprint(plain) != fmt.Sprint(want) {
			t.Fatalf("findHits found keys as they are at %v, want %v in %q", plain, want, data)
		}

		key := keys[int(where)%len(keys)]
		at := int(where) % (len(data) + 1)
		text := hide(t, form, data[:at:at], key, data[at:])
		found, err := scanReader("fuzz", bytes.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, fd := range found {
			seen = seen || fd.key == key
			if store.CheckKey(fd.key) != nil {
				t.Fatalf("found %+v", fd)
			}
		}
		if !seen {
			t.Fatalf("form %d: %s not found in %q", form%hiddenForms, key, text)
		}
	})
}

// hiddenForms is how many forms hide writes.
const hiddenForms = 12

// hide writes before+key+after in one of the forms scan reads, chosen by
// form: as it is, escaped or URL-encoded (the key's characters chosen by
// form's high bits), in base64 of either alphabet (wrapped or not), in
// UTF-16 of either byte order, or gzipped.
func hide(tb testing.TB, form uint8, before []byte, key string, after []byte) []byte {
	text := append(append(before, key...), after...)
	keyAt := len(before)
	switch form % hiddenForms {
	case 0:
		return text
	case 1, 2, 3:
		// Every backslash of the text escaped, and some of the key's
		// characters, as a JSON or C string holds them.
		formats := []string{`\u%04x`, `\x%02x`, `\%03o`}
		var b strings.Builder
		for i, c := range text {
			inKey := i >= keyAt && i < keyAt+len(key)
			switch {
			case inKey && (i-keyAt)%4 == int(form>>4)%4:
				fmt.Fprintf(&b, formats[form%hiddenForms-1], c)
			case c == '\\':
				b.WriteString(`\\`)
			default:
				b.WriteByte(c)
			}
		}
		return []byte(b.String())
	case 4:
		var b strings.Builder
		for i, c := range text {
			if c == '%' || i >= keyAt && i < keyAt+len(key) && (i-keyAt)%3 == int(form>>4)%3 {
				fmt.Fprintf(&b, "%%%02X", c)
			} else {
				b.WriteByte(c)
			}
		}
		return []byte(b.String())
	case 5:
		return []byte(base64.StdEncoding.EncodeToString(text))
	case 6:
		return []byte(base64.RawURLEncoding.EncodeToString(text))
	case 7:
		return []byte(wrapLines(base64.StdEncoding.EncodeToString(text), 1+int(form>>4), "\n"))
	case 8:
		return []byte(wrapLines(base64.StdEncoding.EncodeToString(text), 60+int(form>>4), "\r\n"))
	case 9:
		return utf16Text(string(text), false, form>>4&1 == 0)
	case 10:
		return utf16Text(string(text), true, form>>4&1 == 0)
	default:
		return gzipped(tb, text, "")
	}
}
