package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Times as people read them: one format everywhere apiscopes shows a moment
// (the console, the command line's tables, messages), always with its zone,
// so that the same moment never reads two ways unlabelled. Machines get RFC
// 3339 (the JSON outputs); people get these.

// FormatTime is a moment to the minute in loc, with its zone: "2026-12-13
// 11:00 UTC", or "2026-12-13 20:00 +09:00" in another zone (an offset, which
// says what it means, unlike "JST" or "IST"). A nil loc is UTC.
func FormatTime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if name, offset := t.Zone(); offset == 0 && (loc == time.UTC || name == "UTC") {
		return t.Format("2006-01-02 15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04 -07:00")
}

// FormatDay is the day of a moment in loc, "2026-12-13": for a column of
// days, whose zone the screen or the table says once. A nil loc is UTC.
func FormatDay(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02")
}

// ZoneName says which zone loc is, as FormatTime labels it: "UTC", or the
// zone's name and its offset now ("Asia/Tokyo, +09:00").
func ZoneName(loc *time.Location, now time.Time) string {
	if loc == nil || loc == time.UTC {
		return "UTC"
	}
	return loc.String() + ", " + now.In(loc).Format("-07:00")
}

// ErrUnknownZone is the error of a TZ that names no time zone apiscopes
// knows.
var ErrUnknownZone = errors.New("not a known time zone")

// maxZoneName bounds a TZ read from a client before it reaches the zone
// database: the longest IANA name is about 30 characters.
const maxZoneName = 64

// ZoneFromTZ is the zone a person asked for with the TZ environment
// variable: an IANA name ("Asia/Tokyo", also written ":Asia/Tokyo") or
// "UTC". Unset or empty is UTC, the default. "Local" is refused: it would
// show the zone of whichever machine runs apiscopes (a server's, over SSH)
// unlabelled by name.
func ZoneFromTZ(tz string) (*time.Location, error) {
	name := strings.TrimPrefix(tz, ":")
	switch {
	case name == "":
		return time.UTC, nil
	case len(name) > maxZoneName, name == "Local":
		return time.UTC, fmt.Errorf("TZ %q: %w", Sanitize(truncateName(name)), ErrUnknownZone)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, fmt.Errorf("TZ %q: %w", Sanitize(name), ErrUnknownZone)
	}
	return loc, nil
}

func truncateName(s string) string {
	if len(s) > maxZoneName {
		return s[:maxZoneName] + "…"
	}
	return s
}
