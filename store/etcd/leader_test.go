package etcd

import (
	"testing"
	"time"
)

// TestOneReplicaLeads: of two replicas on one database, exactly one leads
// the housekeeping; when it stops, the other takes over.
func TestOneReplicaLeads(t *testing.T) {
	prefix := newPrefix(t)
	a, b := openEngine(t, prefix), openEngine(t, prefix)
	la, lb := a.Lead(nil), b.Lead(nil)
	within := func(d time.Duration, what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, d)
			}
		}
	}
	within(10*time.Second, "one replica leads", func() bool { return la.Held() != lb.Held() })
	for range 20 { // and it stays that way: never two
		if la.Held() && lb.Held() {
			t.Fatal("two replicas lead at once")
		}
		time.Sleep(10 * time.Millisecond)
	}
	leader, otherL := a, lb
	if lb.Held() {
		leader, otherL = b, la
	}
	leader.Close() // resigns
	within(10*time.Second, "the other replica takes over", otherL.Held)
}
