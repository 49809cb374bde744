package store_test

import (
	"errors"
	"testing"

	"apiscopes/store"
)

func TestJoinerOnlyBetweenEmoji(t *testing.T) {
	if n, err := store.CleanName("Family 👨\u200d👩\u200d👧"); err != nil || n != "Family 👨\u200d👩\u200d👧" {
		t.Fatalf("family emoji: %q %v", n, err)
	}
	for _, bad := range []string{"Mar\u200dketing", "\u200d👩", "👩\u200d", "a\u200d👩"} {
		if _, err := store.CleanName(bad); !errors.Is(err, store.ErrNameJoiner) {
			t.Errorf("%q: %v, want ErrNameJoiner", bad, err)
		}
	}
	if store.FoldName("👨\u200d👩") != store.FoldName("👨👩") {
		t.Error("a joiner must not make a name new")
	}
}
