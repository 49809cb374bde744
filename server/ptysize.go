package server

import (
	"fmt"
	"strconv"
	"strings"
)

// TermSize is a terminal size in columns and rows.
type TermSize struct {
	Width, Height int
}

// DefaultMaxPTY is the largest terminal a session is drawn for unless
// configured otherwise. A console frame costs memory in proportion to its
// cells, and a client chooses its size: 400×150 is 60,000 cells, wider and
// taller than any screen people use, and lets the default 32 sessions at
// that size fit under the systemd unit's MemoryMax=1G beside 50,000 keys
// (see SessionsWithin, and docs/operations.md).
var DefaultMaxPTY = TermSize{Width: 400, Height: 150}

// ParseTermSize reads "COLSxROWS", e.g. "500x200"; both must be at least 1.
func ParseTermSize(s string) (TermSize, error) {
	w, h, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if ok {
		cols, err1 := strconv.Atoi(w)
		rows, err2 := strconv.Atoi(h)
		if err1 == nil && err2 == nil && cols >= 1 && rows >= 1 {
			return TermSize{Width: cols, Height: rows}, nil
		}
	}
	return TermSize{}, fmt.Errorf("%q is not a terminal size: give COLUMNSxROWS, e.g. 500x200", s)
}

func (t TermSize) String() string { return fmt.Sprintf("%dx%d", t.Width, t.Height) }

// Set and the String above make a TermSize a flag.Value.
func (t *TermSize) Set(s string) error {
	v, err := ParseTermSize(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// clamp is (w, h) cut down to the limit t. Sizes come from the client as
// 32-bit numbers; a negative one (a value over 2³¹ read as an int on a
// 32-bit machine) becomes 0, "unknown", as a client that sends no size.
func (t TermSize) clamp(w, h int) (int, int) {
	return min(max(w, 0), t.Width), min(max(h, 0), t.Height)
}
