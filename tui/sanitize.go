package tui

import "apiscopes/store"

// clean makes text that came from the database safe to draw (see
// store.Sanitize): a database written by another tool cannot move the
// cursor, set the clipboard or the title, or disguise a name.
func clean(s string) string { return store.Sanitize(s) }

// EventText is an audit event in words.
//
// Deprecated: use store.EventText; kept until the audit command moves over.
type EventText = store.EventText

// DescribeEvent puts an audit event into words.
//
// Deprecated: use store.Event.Describe; kept until the audit command moves
// over.
func DescribeEvent(ev store.Event) EventText { return ev.Describe() }
