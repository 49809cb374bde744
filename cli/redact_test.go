package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/term"
)

// TestRedactedStderrHidesKeysWhicheverWayItIsWritten: a key reaches the
// wrapped stderr through Write, io.WriteString or io.Copy, and comes out
// as its hint each time; the wrapper of a file keeps its descriptor, so
// the spinner and the log still see a terminal where there is one.
func TestRedactedStderrHidesKeysWhicheverWayItIsWritten(t *testing.T) {
	_, key := seededDB(t)
	path := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := redactKeys(f)
	w.Write([]byte("write " + key + "\n"))
	io.WriteString(w, "string "+key+"\n")
	io.Copy(w, strings.NewReader("copy "+key+"\n"))
	got, _ := os.ReadFile(path)
	if strings.Contains(string(got), key[4:47]) || strings.Count(string(got), "aps_…"+key[len(key)-4:]) != 3 {
		t.Errorf("stderr holds %q", got)
	}
	if tf, ok := w.(term.File); !ok || tf.Fd() != f.Fd() {
		t.Error("the wrapped file lost its descriptor")
	}
}
