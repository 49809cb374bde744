package server

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// EarlyDrop is sshd's random early drop (MaxStartups start:rate:full),
// below the hard bound of MaxUnauthenticated, which is its full: once Start
// connections are not logged in yet, a new one is refused with a chance of
// Rate percent, rising linearly to 100% at the bound. Many addresses
// flooding together then slow one another down long before the bound,
// while an admin's login still gets through most of the time.
type EarlyDrop struct {
	Start int // connections not logged in from which new ones may be refused
	Rate  int // percent refused at Start, from 0 to 100
}

// DefaultEarlyDropRate is the chance of refusal at Start unless configured
// otherwise, sshd's default.
const DefaultEarlyDropRate = 30

// NoEarlyDrop refuses nothing before the hard bound.
var NoEarlyDrop = EarlyDrop{Start: math.MaxInt}

// DefaultEarlyDrop is the early drop below a bound of full connections
// not logged in: from half of them, at sshd's rate.
func DefaultEarlyDrop(full int) EarlyDrop {
	return EarlyDrop{Start: full / 2, Rate: DefaultEarlyDropRate}
}

// ParseEarlyDrop reads "START:RATE" (e.g. "32:30": from 32 connections not
// logged in, refuse 30% of new ones) or "none".
func ParseEarlyDrop(s string) (EarlyDrop, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") {
		return NoEarlyDrop, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if ok {
		start, err1 := strconv.Atoi(a)
		rate, err2 := strconv.Atoi(b)
		if err1 == nil && err2 == nil && start >= 0 && rate >= 0 && rate <= 100 {
			return EarlyDrop{Start: start, Rate: rate}, nil
		}
	}
	return EarlyDrop{}, fmt.Errorf("%q is not an early drop: give START:RATE, e.g. 32:30 (from 32 connections "+
		"not logged in, refuse 30%% of new ones, up to all at --max-unauthenticated), or none", s)
}

func (d EarlyDrop) String() string {
	if d.Start == math.MaxInt {
		return "none"
	}
	return fmt.Sprintf("%d:%d", d.Start, d.Rate)
}

// Set and the String above make an EarlyDrop a flag.Value.
func (d *EarlyDrop) Set(s string) error {
	v, err := ParseEarlyDrop(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// chance is the percent of new connections refused while pending are not
// logged in, below a bound of full (0: none).
func (d EarlyDrop) chance(pending, full int) int {
	if full <= 0 || pending < d.Start || d.Start >= full {
		return 0
	}
	if pending >= full {
		return 100
	}
	return d.Rate + (100-d.Rate)*(pending-d.Start)/(full-d.Start)
}
