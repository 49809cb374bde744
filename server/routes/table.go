package routes

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// maxFileBytes bounds the routes file read: a thousand routes fit well
// within it.
const maxFileBytes = 1 << 20

// Table is the routes file in force: read and checked at start (Open), read
// again on Reload (SIGHUP), swapped whole, so a check sees the old map or
// the new one, never a mix. Safe for concurrent use.
type Table struct {
	path string
	cur  atomic.Pointer[Map]
}

// Open reads and checks the routes file at path. Any problem is an error
// naming the file and line: serve refuses to start on it.
func Open(path string) (*Table, error) {
	m, err := read(path)
	if err != nil {
		return nil, err
	}
	t := &Table{path: path}
	t.cur.Store(m)
	return t, nil
}

// Static is a table of m that Reload leaves as it is: for tests and for
// callers that build routes in code.
func Static(m *Map) *Table {
	t := &Table{}
	t.cur.Store(m)
	return t
}

// Reload reads the file again and puts it in force. A file that cannot be
// read or has a problem leaves the routes in force as they were, and the
// error says why; the caller logs it.
func (t *Table) Reload() error {
	if t.path == "" {
		return nil
	}
	m, err := read(t.path)
	if err != nil {
		return fmt.Errorf("%w (the routes in force stay)", err)
	}
	t.cur.Store(m)
	return nil
}

// Path is the file the table was read from ("" for a Static one).
func (t *Table) Path() string { return t.path }

// Len is how many routes are in force.
func (t *Table) Len() int { return len(t.cur.Load().routes) }

// Match returns the first route in force that matches the request.
func (t *Table) Match(method string, p Path) (Route, bool) { return t.cur.Load().Match(method, p) }

func read(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("routes: %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, &LineError{File: path, Msg: fmt.Sprintf("over %d bytes: is this the routes file?", maxFileBytes)}
	}
	return Parse(path, data)
}
