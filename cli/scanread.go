package cli

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"apiscopes/store"
)

// wholeFile is the largest file scanned in one read; larger ones are read
// in chunks.
const wholeFile = 8 << 20

// scanChunk is how much of a stream is searched at a time; a key that
// straddles two chunks is found because each chunk keeps the tail of the
// one before.
const scanChunk = 256 << 10

// gzipDepth is how many gzip layers are read through (a .gz.gz has two).
const gzipDepth = 2

// Bounds on what gzip content is read, so that a small file that
// decompresses to terabytes cannot keep a scan busy: 100 times the file's
// size, and never less than gzipBoundMin (the bound of stdin).
const (
	gzipRatio    = 100
	gzipBoundMin = 256 << 20
)

// ErrGzipBound is the error of a gzip file that decompresses to more than
// scan reads of it.
var ErrGzipBound = errors.New("decompresses to more than scan reads (100 times its size, at least 256 MB); " +
	"the rest was not scanned: decompress it and scan the result")

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
	bound := max(gzipBoundMin, gzipRatio*fi.Size())
	if fi.Size() > wholeFile {
		return scanStream(path, "", f, bound, 0)
	}
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	n, err := io.ReadFull(f, (*buf)[:fi.Size()+1]) // one byte more: a file that grew is read in chunks
	if err == nil {
		f.Seek(0, io.SeekStart)
		return scanStream(path, "", f, bound, 0)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data := (*buf)[:n]
	if isGzip(data) {
		return scanGzip(path, "", bytes.NewReader(data), bound, 1)
	}
	var out []finding
	line := 1
	collect(&out, path, "", data, len(data), &line)
	return out, nil
}

var (
	bufPool    = sync.Pool{New: func() any { b := make([]byte, wholeFile+1); return &b }}
	streamPool = sync.Pool{New: func() any { b := make([]byte, scanChunk+keyFormMax); return &b }}
)

// scanReader finds keys in r, counting lines as it goes.
func scanReader(name string, r io.Reader) ([]finding, error) {
	return scanStream(name, "", r, gzipBoundMin, 0)
}

// scanStream finds keys in r chunk by chunk, counting lines as it goes. A
// gzip stream is read through, up to bound bytes of what it decompresses
// to; form says how the stream was reached ("gzip" inside a .gz file).
func scanStream(name, form string, r io.Reader, bound int64, depth int) ([]finding, error) {
	var out []finding
	pooled := streamPool.Get().(*[]byte)
	defer streamPool.Put(pooled)
	buf := *pooled
	carry := 0 // bytes kept from the previous chunk
	line := 1
	for first := true; ; first = false {
		n, err := fill(r, buf[carry:carry+scanChunk])
		data := buf[:carry+n]
		if first && depth < gzipDepth && isGzip(data) {
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s%s: %w", name, formNote(form), err)
			}
			return scanGzip(name, form, io.MultiReader(bytes.NewReader(data), r), bound, depth+1)
		}
		final := err != nil
		// Search all of data, but in a non-final chunk leave the last
		// keyFormMax bytes for the next round (a key may continue there).
		limit := len(data)
		if !final {
			limit = max(0, len(data)-keyFormMax)
		}
		counted := collect(&out, name, form, data, limit, &line)
		if final {
			if err == io.EOF {
				return out, nil
			}
			return out, fmt.Errorf("%s%s: %w", name, formNote(form), err)
		}
		line += bytes.Count(data[counted:limit], []byte{'\n'})
		carry = copy(buf, data[limit:])
	}
}

// fill reads r until buf is full, or r fails or ends: io.EOF then says r
// ended, and any other error that it failed (a gzip stream cut short fails
// with io.ErrUnexpectedEOF, which must not pass for its end).
func fill(r io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) && err == nil {
		var m int
		m, err = r.Read(buf[n:])
		n += m
	}
	if n == len(buf) && err == io.EOF {
		err = nil // the next read says so again
	}
	return n, err
}

// collect appends the findings of the keys in data starting before limit.
// *line is the line data starts on; collect moves it to the line of
// data[counted], counting lines only up to the last key found.
func collect(out *[]finding, name, form string, data []byte, limit int, line *int) (counted int) {
	var hits []hit
	findHits(data, limit, func(h hit) { hits = append(hits, h) })
	sort.Slice(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
	for i, h := range hits {
		if i > 0 && h.at == hits[i-1].at && h.key == hits[i-1].key {
			continue
		}
		*line += bytes.Count(data[counted:h.at], []byte{'\n'})
		counted = h.at
		*out = append(*out, newFinding(name, *line, h.key, joinForm(form, h.form)))
	}
	return counted
}

// isGzip reports whether data starts as a gzip stream does (RFC 1952: the
// magic number, then deflate).
func isGzip(data []byte) bool {
	return len(data) >= 3 && data[0] == 0x1f && data[1] == 0x8b && data[2] == 8
}

// scanGzip scans what the gzip stream r decompresses to, and the name and
// comment its header may carry.
func scanGzip(name, form string, r io.Reader, bound int64, depth int) ([]finding, error) {
	form = joinForm(form, "gzip")
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", name, formNote(form), err)
	}
	defer gz.Close()
	var out []finding
	for _, s := range []string{gz.Name, gz.Comment} {
		findHits([]byte(s), len(s), func(h hit) {
			out = append(out, newFinding(name, 0, h.key, joinForm(form, joinForm("header", h.form))))
		})
	}
	found, err := scanStream(name, form, &boundedReader{r: gz, left: bound}, bound, depth)
	return append(out, found...), err
}

// boundedReader reads at most left bytes of r, then fails with
// ErrGzipBound if r has more.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	p = p[:min(int64(len(p)), b.left+1)]
	n, err := b.r.Read(p)
	if int64(n) > b.left {
		n, err = int(b.left), ErrGzipBound
	}
	b.left -= int64(n)
	return n, err
}

// joinForm says how a key was reached, outer form first.
func joinForm(outer, inner string) string {
	switch {
	case outer == "":
		return inner
	case inner == "":
		return outer
	}
	return outer + ", " + inner
}

// formNote is form as printed after a path or a hint: " (gzip)".
func formNote(form string) string {
	if form == "" {
		return ""
	}
	return " (" + form + ")"
}

// newFinding is a key found at path:line, named by its hint as the store
// names keys everywhere ("aps_…" and its last four characters).
func newFinding(path string, line int, key, form string) finding {
	hint, _ := store.KeyShapeHint(key)
	return finding{path: path, line: line, hint: hint, key: key, form: form}
}
