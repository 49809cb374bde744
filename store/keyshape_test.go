package store

import (
	"strings"
	"testing"
)

func TestRedactKeys(t *testing.T) {
	key := goodKey
	hint := keyHint(key)
	secret := key[len(KeyPrefix) : KeyLen-checksumLen]
	tests := []struct{ in, want string }{
		{"", ""},
		{"no key here", "no key here"},
		{key, hint},
		{"unknown command " + `"` + key + `"`, `unknown command "` + hint + `"`},
		{"x" + key + "!!" + key, "x" + hint + "!!" + hint},
		{"APS_" + secret, "aps_…" + secret[len(secret)-4:]},
		{"aps_short and APS_DIR", "aps_short and APS_DIR"},
		{"aps_…H2Hc is a hint", "aps_…H2Hc is a hint"},
		{"aps_", "aps_"},
		{"aps_aps_" + secret, "aps_" + "aps_…" + secret[len(secret)-4:]},
	}
	for _, tt := range tests {
		if got := RedactKeys(tt.in); got != tt.want {
			t.Errorf("RedactKeys(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactKeys(tt.in), secret) {
			t.Errorf("RedactKeys(%q) keeps the secret", tt.in)
		}
	}
	if h, ok := KeyShapeHint("scope " + key + "!"); !ok || h != hint {
		t.Errorf("KeyShapeHint = %q, %v; want %q", h, ok, hint)
	}
	if _, ok := KeyShapeHint("model:deploy"); ok {
		t.Error("a scope id is shaped like a key")
	}
}
