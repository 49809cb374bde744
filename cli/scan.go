package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// scanIgnoreFile names the paths a scan skips, relative to its folder.
const scanIgnoreFile = ".apiscopes-scan-ignore"

// finding is one key found in a file.
type finding struct {
	path string
	line int
	hint string
	key  string // the text, only to look it up; never printed
}

// scanCommand is `apiscopes scan [PATH…]`.
func (inv *invocation) scanCommand() *cobra.Command {
	var db database
	cmd := &cobra.Command{
		Use:   "scan [PATH…]",
		Short: "Find API keys left in files and folders; never prints them",
		Long: `Finds every string of the apiscopes key format whose checksum holds, and prints where it
is (file:line), the key's hint and, where the database can be read, whether the key is
live (with its app and scopes), expired, or unknown there. It never prints a key's text,
and looking a key up is not noted as a use of it. Act on a live one with
apiscopes key roll --text - < file (or key delete), which reads the key itself.

With no PATH it scans the current folder; - reads stdin. Folders are walked recursively,
skipping .git; a .apiscopes-scan-ignore file in a scanned folder lists paths and globs
(one a line, # comments) to skip, such as test fixtures.

` + databaseNote + `

Exit status: 1 when a key was found (a key in a file is a finding, live or not), 0 when
none, 2 on an error.`,
		Example: `  apiscopes scan
  apiscopes scan ~/projects /etc/services
  git diff --cached | apiscopes scan -`,
		RunE: func(cmd *cobra.Command, paths []string) error {
			return inv.scan(db, paths)
		},
	}
	db.register(cmd)
	return cmd
}

func (inv *invocation) scan(db database, paths []string) error {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var found []finding
	var errs []error
	for _, p := range paths {
		var f []finding
		var err error
		if p == "-" {
			f, err = scanReader("(stdin)", inv.stdin)
		} else {
			f, err = scanTree(p)
		}
		found = append(found, f...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	look := func(string) string { return "" }
	if len(found) > 0 {
		var done func()
		look, done = keyLookup(db)
		defer done()
	}
	for _, f := range found {
		status := look(f.key)
		fmt.Fprintf(inv.stdout, "%s:%d: %s  %s\n", cleanText(f.path), f.line, f.hint, status)
	}
	for _, err := range errs {
		fmt.Fprintln(inv.stderr, "apiscopes scan:", cleanText(err.Error()))
	}
	switch {
	case len(errs) > 0:
		return exit(ExitUsage)
	case len(found) > 0:
		fmt.Fprintf(inv.stderr, "apiscopes scan: %d API key(s) found; remove them from these files, "+
			"then roll or delete the live ones: apiscopes key roll --text - < FILE (or key delete --text -)\n", len(found))
		return exit(ExitRefused)
	}
	return nil
}

// cleanText keeps control characters of file names out of the terminal.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, s)
}

// scanTree scans a file, or a folder and everything below it, reading
// files in parallel. Findings come back in path order.
func scanTree(root string) ([]finding, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return scanFile(root)
	}
	ignore, err := readIgnore(root)
	if err != nil {
		return nil, err
	}
	files := make(chan string, 256)
	var mu sync.Mutex
	var found []finding
	var errs []error
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for path := range files {
				f, err := scanFile(path)
				mu.Lock()
				found = append(found, f...)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if d.Name() == ".git" || rel != "." && ignore.match(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !ignore.match(rel) {
			files <- path
		}
		return nil
	})
	close(files)
	wg.Wait()
	sort.Slice(found, func(i, j int) bool {
		if found[i].path != found[j].path {
			return found[i].path < found[j].path
		}
		return found[i].line < found[j].line
	})
	return found, errors.Join(append(errs, walkErr)...)
}

// wholeFile is the largest file scanned in one read; larger ones are read
// in chunks.
const wholeFile = 8 << 20

// scanFile scans one file. A file that fits is read whole and its lines are
// counted only where a key was found: most files hold none.
func scanFile(path string) ([]finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > wholeFile {
		return scanReader(path, f)
	}
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	n, err := io.ReadFull(f, (*buf)[:fi.Size()+1]) // one byte more: a file that grew is read in chunks
	if err == nil {
		f.Seek(0, io.SeekStart)
		return scanReader(path, f)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data := (*buf)[:n]
	var out []finding
	line, counted := 1, 0
	findKeys(data, len(data), func(at int) {
		line += bytes.Count(data[counted:at], []byte{'\n'})
		counted = at
		key := string(data[at : at+store.KeyLen])
		out = append(out, newFinding(path, line, key))
	})
	return out, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, wholeFile+1); return &b }}

// scanChunk is how much of a file is searched at a time; a key that
// straddles two chunks is found because each chunk keeps the tail of the
// one before.
const scanChunk = 256 << 10

// scanReader finds keys in r, counting lines as it goes.
func scanReader(name string, r io.Reader) ([]finding, error) {
	var out []finding
	buf := make([]byte, scanChunk+store.KeyLen)
	carry := 0 // bytes kept from the previous chunk
	line := 1
	for {
		n, err := io.ReadFull(r, buf[carry:carry+scanChunk])
		data := buf[:carry+n]
		final := err != nil
		// Search all of data, but in a non-final chunk leave the last
		// KeyLen bytes for the next round (a key may continue there).
		limit := len(data)
		if !final {
			limit = max(0, len(data)-store.KeyLen)
		}
		counted := 0
		findKeys(data, limit, func(at int) {
			line += bytes.Count(data[counted:at], []byte{'\n'})
			counted = at
			key := string(data[at : at+store.KeyLen])
			out = append(out, newFinding(name, line, key))
		})
		if final {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, fmt.Errorf("%s: %w", name, err)
		}
		line += bytes.Count(data[counted:limit], []byte{'\n'})
		carry = copy(buf, data[limit:])
	}
}

// findKeys calls found with the offset of every key in data that starts
// before limit: "aps_" and 49 base62 characters, not inside a longer run of
// them, whose checksum holds. Look-alikes (a wrong checksum, a longer
// token) are not keys.
func findKeys(data []byte, limit int, found func(at int)) {
	prefix := []byte(store.KeyPrefix)
	for i := 0; i < limit; {
		j := bytes.Index(data[i:], prefix)
		if j < 0 {
			return
		}
		at := i + j
		if at >= limit {
			return
		}
		i = at + 1
		end := at + store.KeyLen
		if end > len(data) || at > 0 && isKeyByte(data[at-1]) || end < len(data) && isKeyByte(data[end]) {
			continue
		}
		if store.CheckKey(string(data[at:end])) == nil {
			found(at)
			i = end
		}
	}
}

// isKeyByte reports whether c could continue a token around a key: a letter,
// digit or underscore.
func isKeyByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// newFinding is a key found at path:line, named by its hint as the store
// names keys everywhere ("aps_…" and its last four characters).
func newFinding(path string, line int, key string) finding {
	hint, _ := store.KeyShapeHint(key)
	return finding{path: path, line: line, hint: hint, key: key}
}

// scanIgnore is the patterns of a .apiscopes-scan-ignore file.
type scanIgnore []string

func readIgnore(dir string) (scanIgnore, error) {
	f, err := os.Open(filepath.Join(dir, scanIgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out scanIgnore
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%s: bad pattern %q: %w", filepath.Join(dir, scanIgnoreFile), p, err)
		}
		out = append(out, filepath.ToSlash(strings.TrimSuffix(p, "/")))
	}
	return out, sc.Err()
}

// match reports whether rel (a path below the scanned folder) is ignored:
// a pattern matches the whole path, any folder above it, or, without a
// slash, any one name in it.
func (ig scanIgnore) match(rel string) bool {
	rel = filepath.ToSlash(rel)
	for _, p := range ig {
		for prefix := rel; ; {
			if ok, _ := filepath.Match(p, prefix); ok {
				return true
			}
			i := strings.LastIndexByte(prefix, '/')
			if i < 0 {
				break
			}
			prefix = prefix[:i]
		}
		if !strings.Contains(p, "/") {
			for _, part := range strings.Split(rel, "/") {
				if ok, _ := filepath.Match(p, part); ok {
					return true
				}
			}
		}
	}
	return false
}
