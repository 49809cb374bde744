package bolt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"apiscopes/store"
)

// TestOpenRefusesAHollowFile: a file of zero bytes (a copy or a restore cut
// short) or a bbolt file without a single bucket is refused by every open,
// reading or writing, with a message that says what likely happened; the
// file keeps every byte. Before, a writer quietly made it a new, empty
// database, and the restored apps and keys seemed gone.
func TestOpenRefusesAHollowFile(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		make       func(t *testing.T, path string)
	}{
		{"zero bytes", "the file is empty (0 bytes)", func(t *testing.T, path string) { writeFile(t, path, nil) }},
		{"no buckets", "the file holds no data at all", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		for _, readOnly := range []bool{false, true} {
			mode := map[bool]string{false: "writing", true: "reading"}[readOnly]
			t.Run(tt.name+", "+mode, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "restored.db")
				tt.make(t, path)
				before, _ := os.ReadFile(path)
				var opts []store.Option
				if readOnly {
					opts = append(opts, store.ReadOnly())
				}
				s, err := OpenStore(path, Options{Timeout: 100 * time.Millisecond, ReadOnly: readOnly}, opts...)
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				if !errors.Is(err, store.ErrNotDatabase) || !strings.Contains(err.Error(), tt.want) ||
					!strings.Contains(err.Error(), "restore cut short") || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v", err)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Error("the refused file changed")
				}
			})
		}
	}
	// A file that did not exist is still made into a new database.
	s, err := OpenStore(filepath.Join(t.TempDir(), "new.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
