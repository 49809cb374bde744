package scopes

import (
	"strconv"
	"strings"
)

// Set is a set of scopes. The zero value is empty. A Set is a value: copy
// it freely. Its bit layout is private; persist it with IDs, not as a number.
type Set uint64

// MaxScopes is how many scopes a Set can hold; the catalogue may not grow
// past it (an init check and a test say so before any set could overflow).
const MaxScopes = 64

func init() {
	if len(catalogue) > MaxScopes {
		panic("scopes: the catalogue has more scopes than a Set holds")
	}
}

// NewSet returns the set of the given scopes; ids not in the catalogue are
// ignored (use Parse or ParseSet to validate text first).
func NewSet(ids ...ID) Set {
	var s Set
	for _, id := range ids {
		s = s.With(id)
	}
	return s
}

// ParseSet validates and collects scope ids, such as those read from storage.
func ParseSet(ids []string) (Set, error) {
	var s Set
	for _, raw := range ids {
		id, err := Parse(raw)
		if err != nil {
			return 0, err
		}
		s = s.With(id)
	}
	return s, nil
}

// ParseSetLenient is ParseSet for stored sets: ids the catalogue does not
// know (a scope retired or renamed since the set was written) are returned
// apart, never granted, instead of failing the whole set.
func ParseSetLenient(ids []string) (set Set, unknown []string) {
	for _, raw := range ids {
		id, err := Parse(raw)
		if err != nil {
			unknown = append(unknown, raw)
			continue
		}
		set = set.With(id)
	}
	return set, unknown
}

// Full is the set of every scope in the catalogue.
func Full() Set { return Set(1)<<len(catalogue) - 1 }

// Allows reports whether the set grants scope id.
func (s Set) Allows(id ID) bool {
	i := index(id)
	return i >= 0 && s&(1<<i) != 0
}

// HasIndex reports whether the set grants the scope at catalogue place i
// (see Index): Allows without looking the id up again.
func (s Set) HasIndex(i int) bool { return i >= 0 && i < MaxScopes && s&(1<<i) != 0 }

// With returns the set with id added.
func (s Set) With(id ID) Set {
	if i := index(id); i >= 0 {
		return s | 1<<i
	}
	return s
}

// Without returns the set with id removed.
func (s Set) Without(id ID) Set {
	if i := index(id); i >= 0 {
		return s &^ (1 << i)
	}
	return s
}

// Toggle returns the set with id flipped.
func (s Set) Toggle(id ID) Set {
	if s.Allows(id) {
		return s.Without(id)
	}
	return s.With(id)
}

// Len is the number of scopes in the set.
func (s Set) Len() int {
	n := 0
	for i := range catalogue {
		if s&(1<<i) != 0 {
			n++
		}
	}
	return n
}

// IsEmpty reports whether the set grants nothing.
func (s Set) IsEmpty() bool { return s&Full() == 0 }

// IDs lists the set's scope ids in catalogue order.
func (s Set) IDs() []ID {
	var ids []ID
	for i, sc := range catalogue {
		if s&(1<<i) != 0 {
			ids = append(ids, sc.ID)
		}
	}
	return ids
}

// Strings is IDs as plain strings, the form stored and exported.
func (s Set) Strings() []string {
	var out []string
	for _, id := range s.IDs() {
		out = append(out, string(id))
	}
	return out
}

// Names lists the set's scope names in catalogue order.
func (s Set) Names() []string {
	var out []string
	for i, sc := range catalogue {
		if s&(1<<i) != 0 {
			out = append(out, sc.Name)
		}
	}
	return out
}

// Diff returns the scopes in next but not in s (added) and those in s but
// not in next (removed).
func (s Set) Diff(next Set) (added, removed Set) {
	return next &^ s & Full(), s &^ next & Full()
}

// Summary describes the set by resource for a one-line column: a resource
// whose scopes are all granted is named alone ("Workflows"), a partial one
// with a count ("Models 2/4"). An empty set is "none".
func (s Set) Summary() string {
	var parts []string
	for _, res := range Resources {
		have, total := 0, 0
		for _, sc := range catalogue {
			if sc.Resource != res {
				continue
			}
			total++
			if s.Allows(sc.ID) {
				have++
			}
		}
		switch {
		case have == 0:
		case have == total:
			parts = append(parts, res)
		default:
			parts = append(parts, res+" "+strconv.Itoa(have)+"/"+strconv.Itoa(total))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// String lists the ids, comma separated, for logs and errors.
func (s Set) String() string { return strings.Join(s.Strings(), ",") }
