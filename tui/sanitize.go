package tui

import "apiscopes/store"

// clean makes text that came from the database safe to draw (see
// store.Sanitize): a database written by another tool cannot move the
// cursor, set the clipboard or the title, or disguise a name.
func clean(s string) string { return store.Sanitize(s) }
