package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	gossh "golang.org/x/crypto/ssh"

	"apiscopes/store"
)

// read reads and parses every file. A file that cannot be used makes the
// whole read unusable: its permissions are open to others, it cannot be
// read, or a line is not a key (which is also what a file caught half
// written looks like). A line that is a key but cannot be honoured (an
// option apiscopes does not implement, no comment to name its person) is
// skipped and reported.
func (a *AllowList) read() *parsedList {
	l := &parsedList{contents: make([][]byte, len(a.files)), entries: map[string]Entry{}}
	var errs []error
	for i, f := range a.files {
		if err := checkAllowListModes(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s allow-list: %w", f.role, err))
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s allow-list: %w", f.role, err))
			continue
		}
		l.contents[i] = data
		errs = append(errs, a.parse(l, f, data)...)
	}
	l.err = errors.Join(errs...)
	return l
}

// parse adds a file's keys to l, returning the lines that make it unusable.
func (a *AllowList) parse(l *parsedList, f roleFile, data []byte) []error {
	var bad []error
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		at := fmt.Sprintf("%s:%d", f.path, n+1)
		key, comment, options, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			bad = append(bad, fmt.Errorf("%s: not a public key: %w", at, err))
			continue
		}
		opts, err := parseKeyOptions(options, a.loc)
		if err != nil {
			l.skipped = append(l.skipped, fmt.Errorf("%s: refused: %w", at, err))
			continue
		}
		name, err := personName(comment)
		if err != nil {
			l.skipped = append(l.skipped, fmt.Errorf("%s: refused: %w", at, err))
			continue
		}
		id := string(key.Marshal())
		prev, listed := l.entries[id]
		switch {
		case !listed:
			l.entries[id] = Entry{Person: Person{Name: name, Role: f.role}, Source: at, opts: opts}
		case prev.Role != f.role:
			// Listed as both: the lesser role wins, and the log says so.
			l.notes = append(l.notes, fmt.Errorf("%s: key is also listed at %s; it counts as a viewer", at, prev.Source))
			prev.Role = store.Viewer
			l.entries[id] = prev
		default:
			l.notes = append(l.notes, fmt.Errorf("%s: the key is already listed at %s, which counts", at, prev.Source))
		}
	}
	return bad
}

// personName is a key's comment as the name of its person: the "Created
// by" of what they make and the actor of the audit trail.
func personName(comment string) (string, error) {
	if comment == "" {
		return "", errors.New(`the key has no comment to name its person: add one after the key, e.g. "ssh-ed25519 AAAA… Alice Example"`)
	}
	name, err := store.CleanName(comment)
	if err != nil {
		return "", fmt.Errorf("the key's comment cannot name a person (%w): use at most %d printable characters", err, store.MaxNameLen)
	}
	return name, nil
}
