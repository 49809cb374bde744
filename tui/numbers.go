package tui

import "strconv"

// thousands writes n with thousands separators: 10,000 reads at a glance,
// 10000 does not.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
