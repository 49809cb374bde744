package store

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // when err is nil
		err  error
	}{
		{"plain", "Risk", "Risk", nil},
		{"trimmed", "  Risk  ", "Risk", nil},
		{"trimmed tabs and newline", "\tRisk team\n", "Risk team", nil},
		{"inner spaces kept", "Risk  team", "Risk  team", nil},
		{"unicode", "Café Ops ✓ 日本", "Café Ops ✓ 日本", nil},
		{"64 ascii", strings.Repeat("a", 64), strings.Repeat("a", 64), nil},
		{"64 runes of 2 bytes", strings.Repeat("é", 64), strings.Repeat("é", 64), nil},
		{"64 after trimming", "  " + strings.Repeat("a", 64) + "  ", strings.Repeat("a", 64), nil},

		{"empty", "", "", ErrNameEmpty},
		{"spaces only", "    ", "", ErrNameEmpty},
		{"white space only", " \t\n\r ", "", ErrNameEmpty},
		// A lone carriage return is white space: trimming leaves nothing.
		{"lone CR", "\r", "", ErrNameEmpty},

		{"65 ascii", strings.Repeat("a", 65), "", ErrNameTooLong},
		{"65 runes of 2 bytes", strings.Repeat("é", 65), "", ErrNameTooLong},

		{"clear screen", "\x1b[2J", "", ErrNameInvalid},
		{"ESC inside", "Risk\x1b[31m", "", ErrNameInvalid},
		{"OSC 52 clipboard", "\x1b]52;c;aGk=\x07", "", ErrNameInvalid},
		{"OSC title", "x\x1b]0;owned\x07", "", ErrNameInvalid},
		{"CR inside", "Risk\rEvil", "", ErrNameInvalid},
		{"NUL", "a\x00b", "", ErrNameInvalid},
		{"DEL", "a\x7fb", "", ErrNameInvalid},
		{"C1 CSI rune", "a\u009bb", "", ErrNameInvalid},
		{"C1 NEL inside", "a\u0085b", "", ErrNameInvalid},
		{"raw 0x9b byte", "a\x9bb", "", ErrNameInvalid},
		{"RLO override", "abc\u202Etxt.exe", "", ErrNameInvalid},
		{"LRE embedding", "\u202Aabc", "", ErrNameInvalid},
		{"LRI isolate", "a\u2066b", "", ErrNameInvalid},
		{"PDI isolate", "a\u2069b", "", ErrNameInvalid},
		{"RLM mark", "a\u200Fb", "", ErrNameInvalid},
		{"BOM", "\uFEFFRisk", "", ErrNameInvalid},
		{"invalid UTF-8", "Risk\xff\xfe", "", ErrNameInvalid},
		{"truncated UTF-8", "caf\xc3", "", ErrNameInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CleanName(tt.in)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("CleanName(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("CleanName(%q) = %q, %v; want %v", tt.in, got, err, tt.err)
			}
			if got != "" {
				t.Errorf("CleanName(%q) returned %q with its error", tt.in, got)
			}
			var ne *NameError
			if !errors.As(err, &ne) || ne.Name != tt.in {
				t.Errorf("error %#v is not a *NameError for %q", err, tt.in)
			}
		})
	}
}

// FuzzCleanName checks that CleanName never panics and that what it accepts
// is safe to show on a terminal.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"Risk", "  Risk  ", "", "\x1b[2J", "a\u009bb", "a\u202Eb", strings.Repeat("é", 64), "\u200d", "a\u200db", "👨\u200d👩"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanName(in)
		if err != nil {
			if out != "" {
				t.Fatalf("CleanName(%q) returned %q with error %v", in, out, err)
			}
			var ne *NameError
			if !errors.As(err, &ne) || ne.Name != in {
				t.Fatalf("CleanName(%q) error %v is not a *NameError for it", in, err)
			}
			if !errors.Is(err, ErrNameEmpty) && !errors.Is(err, ErrNameTooLong) &&
				!errors.Is(err, ErrNameInvalid) && !errors.Is(err, ErrNameJoiner) {
				t.Fatalf("CleanName(%q) error %v is not a name error", in, err)
			}
			return
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("CleanName(%q) = %q, not trimmed", in, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("CleanName(%q) = %q, not UTF-8", in, out)
		}
		if n := utf8.RuneCountInString(out); n < 1 || n > MaxNameLen {
			t.Fatalf("CleanName(%q) = %q, %d characters", in, out, n)
		}
		for _, r := range out {
			switch {
			case r < 0x20, r >= 0x7f && r <= 0x9f, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
				t.Fatalf("CleanName(%q) = %q, which holds %U", in, out, r)
			}
		}
		if again, err := CleanName(out); err != nil || again != out {
			t.Fatalf("CleanName is not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
	})
}
