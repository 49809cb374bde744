package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// scanIgnoreFile names the paths a scan skips, relative to its folder.
const scanIgnoreFile = ".apiscopes-scan-ignore"

// finding is one key found in a file, or in the name of a file or folder.
type finding struct {
	path string
	line int // 0 for a key in a name
	hint string
	key  string // the text, only to look it up; never printed
	form string // how it was written, when not as itself: "base64", "gzip", "file name", …
}

// scanCommand is `apiscopes scan [PATH…]`.
func (inv *invocation) scanCommand() *cobra.Command {
	var db database
	cmd := &cobra.Command{
		Use:   "scan [PATH…]",
		Short: "Find API keys left in files and folders; never prints them",
		Long: `Finds every key: the 53 characters of the apiscopes key format whose checksum holds,
whatever stands beside them, and also written with escapes (\u0061, \x61, %61), in
base64 (either alphabet, wrapped or not), in UTF-16, inside gzip files, and in the names
of files and folders. It prints where each is (file:line, and the form it was in), the
key's hint and, where the database can be read, whether the key is live (with its app
and scopes), expired, or unknown there. It never prints a key's text: every path it
prints shows a key in it by its hint. Looking a key up is not noted as a use of it. Act
on a live one with apiscopes key roll --text - < file (or key delete), which reads the
key itself.

With no PATH it scans the current folder; - reads stdin. Folders are walked recursively,
skipping .git; a .apiscopes-scan-ignore file in a scanned folder lists paths and globs
(one a line, # comments) to skip, such as test fixtures.

` + databaseNote + `

Exit status: 1 when a key was found (in a file or a name, live or not), 0 when none,
2 on an error.`,
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
		where := hideKeys(f.path)
		if f.line > 0 {
			where += ":" + strconv.Itoa(f.line)
		}
		fmt.Fprintf(inv.stdout, "%s: %s%s  %s\n", where, f.hint, formNote(f.form), look(f.key))
	}
	for _, err := range errs {
		fmt.Fprintln(inv.stderr, "apiscopes scan:", hideKeys(err.Error()))
	}
	switch {
	case len(errs) > 0:
		return exit(ExitUsage)
	case len(found) > 0:
		fmt.Fprintf(inv.stderr, "apiscopes scan: %d API key(s) found; remove them from these files, "+
			"then roll or delete the live ones: apiscopes key roll --text - < FILE (or key delete --text -), "+
			"which finds a key in the file as scan does\n", len(found))
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
		found, err := scanFile(root)
		return append(nameFindings(root, filepath.Base(root), false), found...), err
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
		if d.IsDir() && d.Name() == ".git" || rel != "." && ignore.match(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if names := nameFindings(path, d.Name(), d.IsDir()); len(names) > 0 {
			mu.Lock()
			found = append(found, names...)
			mu.Unlock()
		}
		if d.Type().IsRegular() {
			files <- path
		}
		return nil
	})
	close(files)
	wg.Wait()
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].path != found[j].path {
			return found[i].path < found[j].path
		}
		return found[i].line < found[j].line
	})
	return found, errors.Join(append(errs, walkErr)...)
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
