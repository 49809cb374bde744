package cli

import (
	"sort"
	"strings"

	"apiscopes/store"
)

// nameFindings are the keys in the name of a file or folder (the last
// element of path), however written: a key that is only in a name is a
// finding as much as one in a file.
func nameFindings(path, name string, dir bool) []finding {
	kind := "file name"
	if dir {
		kind = "folder name"
	}
	var hits []hit
	findHits([]byte(name), len(name), func(h hit) { hits = append(hits, h) })
	sort.Slice(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
	var out []finding
	for _, h := range hits {
		out = append(out, newFinding(path, 0, h.key, joinForm(kind, h.form)))
	}
	return out
}

// hideKeys is s as scan prints it: every key in it, however written,
// replaced by its hint; anything else shaped like a key too (a look-alike
// is not a finding, but it is not shown either); control characters made
// harmless. Every path and message scan prints goes through it.
func hideKeys(s string) string {
	var hits []hit
	findHits([]byte(s), len(s), func(h hit) { hits = append(hits, h) })
	if len(hits) > 0 {
		sort.Slice(hits, func(i, j int) bool { return hits[i].at < hits[j].at })
		var b strings.Builder
		last := 0
		for _, h := range hits {
			if h.at < last {
				continue
			}
			hint, _ := store.KeyShapeHint(h.key)
			b.WriteString(s[last:h.at])
			b.WriteString(hint)
			last = h.end
		}
		b.WriteString(s[last:])
		s = b.String()
	}
	return cleanText(store.RedactKeys(s))
}
