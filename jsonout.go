package main

import (
	"bytes"
	"encoding/json"
	"io"

	"apiscopes/store"
)

// writeJSONLine writes v as one line of JSON, as `verify --json` and
// `audit --json` print it: HTML characters as they are (the output is not
// HTML), and every control or bidi character in stored text as a \u escape
// (store.SafeJSON), so that JSON read on a terminal cannot drive it while
// every parser still reads the text as stored.
func writeJSONLine(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(store.SafeJSON(b.Bytes()))
	return err
}
