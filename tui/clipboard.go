package tui

import (
	"github.com/atotto/clipboard"

	tea "charm.land/bubbletea/v2"
)

// Clipboard copies a freshly generated key for the user and reports, as a
// copiedMsg, where it went. It must not keep the text.
type Clipboard func(text string) tea.Cmd

// copiedMsg says where a key went. A system clipboard took it for certain;
// OSC 52 only sends it to the terminal, which may drop it without a word
// (VTE, tmux without set-clipboard), so nothing may claim it arrived.
type copiedMsg struct{ where copiedTo }

type copiedTo int

const (
	copiedToSystem   copiedTo = iota // the system clipboard has it
	copiedToTerminal                 // sent to the terminal with OSC 52
)

// SystemClipboard writes the local system clipboard, and where there is none
// (no display, no xclip or wl-copy) asks the terminal to set its clipboard
// with OSC 52 instead.
func SystemClipboard() Clipboard {
	return func(text string) tea.Cmd {
		return func() tea.Msg {
			if err := clipboard.WriteAll(text); err != nil {
				return terminalCopyMsg{text: text}
			}
			return copiedMsg{where: copiedToSystem}
		}
	}
}

// TerminalClipboard always uses OSC 52: the right choice when the console
// runs for someone else's terminal, as over SSH.
func TerminalClipboard() Clipboard {
	return func(text string) tea.Cmd {
		return tea.Batch(tea.SetClipboard(text), send(copiedMsg{where: copiedToTerminal}))
	}
}

// terminalCopyMsg asks the root to fall back to OSC 52.
type terminalCopyMsg struct{ text string }
