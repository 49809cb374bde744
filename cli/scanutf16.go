package cli

import (
	"bytes"

	"apiscopes/store"
)

// utf16Prefix is "aps_" in UTF-16 as both byte orders hold it: the zero
// byte of each character falls after it (little-endian) or before it
// (big-endian).
var utf16Prefix = []byte("a\x00p\x00s\x00_")

// findUTF16 calls found for every key in data written in UTF-16, little-
// or big-endian, with or without a byte order mark.
func findUTF16(data []byte, found func(hit)) {
	const span = 2*store.KeyLen - 1 // from the key's first character to its last
	for i := 0; i < len(data); i++ {
		j := bytes.Index(data[i:], utf16Prefix)
		if j < 0 {
			return
		}
		i += j
		if i+span > len(data) {
			return
		}
		var key [store.KeyLen]byte
		ok := true
		for k := range key {
			key[k] = data[i+2*k]
			if k < store.KeyLen-1 && data[i+2*k+1] != 0 {
				ok = false
				break
			}
		}
		if !ok || !isKey(key[:]) {
			continue
		}
		at, end := i, i+span
		if end < len(data) && data[end] == 0 {
			end++ // little-endian: the last character's zero byte
		} else if at > 0 && data[at-1] == 0 {
			at-- // big-endian: the first character's zero byte
		}
		found(hit{at: at, end: end, key: string(key[:]), form: "UTF-16"})
	}
}
