package store

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones these tests name, whatever the machine has installed
)

// TestFormatTime: one format for a moment, always with its zone: UTC by
// name, any other zone by its offset, the same moment either way.
func TestFormatTime(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	etcUTC, err := time.LoadLocation("Etc/UTC")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 13, 11, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{nil, "2026-12-13 11:00 UTC"},
		{time.UTC, "2026-12-13 11:00 UTC"},
		{etcUTC, "2026-12-13 11:00 UTC"},
		{tokyo, "2026-12-13 20:00 +09:00"},
		{london, "2026-12-13 11:00 +00:00"}, // GMT is an offset of zero, not UTC by name
	} {
		if got := FormatTime(at, tt.loc); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.loc, got, tt.want)
		}
	}
	if got := FormatDay(at.Add(13*time.Hour), tokyo); got != "2026-12-14" {
		t.Errorf("FormatDay in Tokyo = %q, want the next day", got)
	}
	if got := ZoneName(tokyo, at); got != "Asia/Tokyo, +09:00" {
		t.Errorf("ZoneName = %q", got)
	}
}

// TestZoneFromTZ: TZ names a zone or means UTC; anything else is refused
// with a message that quotes it safely, and UTC stands.
func TestZoneFromTZ(t *testing.T) {
	for _, tz := range []string{"", "UTC", ":UTC"} {
		if loc, err := ZoneFromTZ(tz); err != nil || FormatTime(time.Unix(0, 0), loc) != "1970-01-01 00:00 UTC" {
			t.Errorf("ZoneFromTZ(%q) = %v, %v; want UTC", tz, loc, err)
		}
	}
	for _, tz := range []string{"Asia/Tokyo", ":Asia/Tokyo"} {
		if loc, err := ZoneFromTZ(tz); err != nil || loc.String() != "Asia/Tokyo" {
			t.Errorf("ZoneFromTZ(%q) = %v, %v", tz, loc, err)
		}
	}
	for _, tz := range []string{"Local", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "\x1b]52;c;x\a", strings.Repeat("A", 5000)} {
		loc, err := ZoneFromTZ(tz)
		if !errors.Is(err, ErrUnknownZone) || loc != time.UTC {
			t.Errorf("ZoneFromTZ(%.20q) = %v, %v; want UTC and ErrUnknownZone", tz, loc, err)
			continue
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\x1b\a") || len(msg) > 100 {
			t.Errorf("the message repeats the TZ unsafely or whole: %q", msg)
		}
	}
}
