package etcd

import (
	"testing"

	"apiscopes/store"
	"apiscopes/store/storetest"
)

// TestConformance runs the conformance suite on the test cluster, a prefix
// per test, replicas included. Every commit is a round trip through Raft,
// so the concurrency cases run the same races with a tenth of the changes.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{Shared: true, Scale: 10, New: func(t *testing.T) func(*testing.T) store.Engine {
		prefix := newPrefix(t)
		return func(t *testing.T) store.Engine {
			e, err := Open(Config{Endpoints: cluster.endpoints(), Prefix: prefix})
			if err != nil {
				t.Fatalf("open the cluster at %s: %v", prefix, err)
			}
			return e
		}
	}})
}
