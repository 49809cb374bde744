package bolt

import (
	"path/filepath"
	"testing"

	"apiscopes/store"
	"apiscopes/store/storetest"
)

// TestConformance runs the conformance suite on database files. The suite
// tests the rules, not durability (TestCrashSafety does, with every commit
// synced), so its files skip the sync of each commit.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{New: func(t *testing.T) func(*testing.T) store.Engine {
		path := filepath.Join(t.TempDir(), "apiscopes.db")
		return func(t *testing.T) store.Engine {
			e, err := Open(path, Options{NoSync: true})
			if err != nil {
				t.Fatalf("open %s: %v", path, err)
			}
			return e
		}
	}})
}
