package cli

import (
	"io"
	"os"

	"apiscopes/store"
)

// redactKeys wraps the command's stderr so that nothing shaped like an API
// key reaches it, whichever message quotes what a person typed: a key
// pasted as a command, a flag, a path or a scope is shown by its hint
// (store.RedactKeys). Every message is one Write, so a key is never split
// across two. A terminal stays a terminal: the wrapper of an *os.File keeps
// its file descriptor, for the spinner and the log's colours.
func redactKeys(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok {
		return redactedFile{f}
	}
	return redactedWriter{w}
}

type redactedWriter struct{ w io.Writer }

func (r redactedWriter) Write(p []byte) (int, error) { return writeRedacted(r.w, p) }

// redactedFile is an *os.File whose writes are redacted. It has the file's
// Fd, Read and Close, which make it a terminal to those who ask, and no
// other of its methods: WriteString or ReadFrom would write past Write.
type redactedFile struct{ f *os.File }

func (r redactedFile) Write(p []byte) (int, error) { return writeRedacted(r.f, p) }
func (r redactedFile) Read(p []byte) (int, error)  { return r.f.Read(p) }
func (r redactedFile) Close() error                { return r.f.Close() }
func (r redactedFile) Fd() uintptr                 { return r.f.Fd() }

func writeRedacted(w io.Writer, p []byte) (int, error) {
	s := store.RedactKeys(string(p))
	if len(s) == len(p) { // the common case: nothing to hide
		return w.Write(p)
	}
	if _, err := io.WriteString(w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
