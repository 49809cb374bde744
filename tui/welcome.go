package tui

// Demo marks a console as a demonstration: the header carries a DEMO badge
// on every screen, and the console opens with a welcome that tells the
// story behind the demo's data (see welcomeDialog).
type Demo struct {
	Title string
	Story []string // paragraphs
	Note  string   // shown last, in the warning colour: what happens to the data
	// Select names the app the list selects first, once it is loaded: the
	// story's, not whichever sorts first among many.
	Select string
}
