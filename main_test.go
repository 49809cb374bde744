package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// link is a markdown link: [text](target), or an image's ![alt](target).
var link = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocumentationLinks: every relative link of the README and the guides
// in docs/ names a file that is there, and an anchor (#…) a heading of it,
// as GitHub renders them.
func TestDocumentationLinks(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md"}, files...)
	headings := map[string]map[string]bool{}
	for _, f := range files {
		headings[filepath.Clean(f)] = anchorsOf(t, f)
	}
	for _, f := range files {
		lines := readLines(t, f)
		inCode := false
		for n, line := range lines {
			if strings.HasPrefix(line, "```") {
				inCode = !inCode
				continue
			}
			if inCode {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				resolved := filepath.Clean(f)
				if path != "" {
					resolved = filepath.Join(filepath.Dir(f), path)
					if _, err := os.Stat(resolved); err != nil {
						t.Errorf("%s:%d: %s: no such file", f, n+1, target)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if hs, ok := headings[resolved]; !ok || !hs[anchor] {
					t.Errorf("%s:%d: %s: no heading #%s in %s", f, n+1, target, anchor, resolved)
				}
			}
		}
	}
}

// TestREADMEIsShort: the README says what apiscopes is, how to start and
// where to read on; everything else is in a guide.
func TestREADMEIsShort(t *testing.T) {
	if n := len(readLines(t, "README.md")); n > 300 {
		t.Errorf("the README has %d lines; keep it to 300 and move the rest into docs/", n)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// anchorsOf is the anchors of a markdown file's headings, as GitHub makes
// them: lower case, punctuation gone, spaces as hyphens.
func anchorsOf(t *testing.T, path string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	for _, line := range readLines(t, path) {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		out[b.String()] = true
	}
	return out
}
