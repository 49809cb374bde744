package tui

import (
	"fmt"
	"time"

	"apiscopes/store"
)

// ago says how long before now t was, the way a key list reads: "never",
// "just now", "3 min ago", "5 h ago", "2 d ago", then the date.
func (c *common) ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%d d ago", int(d/(24*time.Hour)))
	}
	return c.date(t)
}

// in says how long after now t is, for a deadline within two days: "in
// 45 min", "in 23 h"; later ones are their date.
func (c *common) in(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d < 2*time.Minute:
		return "in 1 min"
	case d < time.Hour:
		return fmt.Sprintf("in %d min", int((d+30*time.Second)/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("in %d h", int((d+30*time.Minute)/time.Hour)) // a 24 h grace reads "in 24 h", not 23
	}
	return c.lastDay(t)
}

// lastDay is the last date on which a key that stops at t still works: a
// key chosen to last through 2027-02-28 stops at midnight, 2027-03-01 00:00,
// and is listed as 2027-02-28.
func (c *common) lastDay(t time.Time) string { return c.date(t.Add(-time.Nanosecond)) }

// until says when a key stops working, in a sentence: "through 2027-02-28
// (UTC)" when that is a midnight where the screen's times are, else "until
// 2026-12-03 17:08 UTC".
func (c *common) until(t time.Time) string {
	if lt := t.In(c.loc); lt.Hour() == 0 && lt.Minute() == 0 && lt.Second() == 0 {
		return "through " + c.lastDay(t) + " (" + c.zone(t) + ")"
	}
	return "until " + c.dateTime(t)
}

// keyState is a key's Status cell: where it is in its life, in a few
// words: "active", "until 2026-06-30" (the last day it works), "expires in
// 23 h", "rolled, goes in 23 h", "expired".
func (c *common) keyState(now time.Time, k store.Key) string {
	switch k.State(now) {
	case store.KeyScheduled:
		return "rolled, goes " + c.in(now, k.DeleteAt)
	case store.KeyExpired, store.KeyGone:
		return "expired"
	case store.KeyExpiring:
		return "expires " + c.in(now, k.ExpiresAt)
	}
	if !k.ExpiresAt.IsZero() {
		return "until " + c.lastDay(k.ExpiresAt)
	}
	return "active"
}

// keyStatus is a sentence about a key's lifecycle, for beside its name, or
// "" when there is nothing to say.
func (c *common) keyStatus(now time.Time, k store.Key) string {
	switch k.State(now) {
	case store.KeyScheduled:
		return fmt.Sprintf("Rolled: works until deleted %s.", c.when(now, k.DeleteAt))
	case store.KeyExpired:
		return fmt.Sprintf("Expired on %s: services using it are refused.", c.dateTime(k.ExpiresAt))
	case store.KeyExpiring:
		return fmt.Sprintf("Expires %s: roll it before then.", c.when(now, k.ExpiresAt))
	}
	if !k.ExpiresAt.IsZero() {
		return fmt.Sprintf("Works %s: roll it before then.", c.until(k.ExpiresAt))
	}
	return ""
}

// when is a deadline in a sentence: "in 23 h (2026-03-15 10:31)" within
// two days, else "on 2026-04-13 09:31".
func (c *common) when(now, t time.Time) string {
	if t.Sub(now) < 48*time.Hour {
		return c.in(now, t) + " (" + c.dateTime(t) + ")"
	}
	return "on " + c.dateTime(t)
}

// dateTime is a moment as every screen shows one: "2026-12-13 11:00 UTC",
// or with the offset of the zone the console shows ("… 20:00 +09:00").
func (c *common) dateTime(t time.Time) string { return store.FormatTime(t, c.loc) }

// date is the day of a moment where the console's times are: for columns
// of days ("Created on") and last days ("until 2027-02-28").
func (c *common) date(t time.Time) string { return store.FormatDay(t, c.loc) }

// zone is how dateTime labels the zone at t: "UTC" or "+09:00".
func (c *common) zone(t time.Time) string {
	if s := store.FormatTime(t, c.loc); len(s) > len("2006-01-02 15:04 ") {
		return s[len("2006-01-02 15:04 "):]
	}
	return "UTC"
}
