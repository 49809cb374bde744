package storetest

import (
	"hash/crc32"
	"math/big"
)

// The API key format as DESIGN.md specifies it, written again here rather
// than borrowed from the store, so that a test re-deriving keys from a
// seeded random source also checks the store's encoding.
const (
	keyPrefix   = "aps_"
	secretLen   = 43
	checksumLen = 6
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// KeyText formats 32 random bytes as an API key: "aps_", the bytes as a
// big-endian 256-bit number in 43 base62 digits, then 6 base62 digits of
// the CRC-32 (IEEE) of everything before them.
func KeyText(secret []byte) string {
	n := new(big.Int).SetBytes(secret)
	digits := make([]byte, secretLen)
	base, mod := big.NewInt(62), new(big.Int)
	for i := secretLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		digits[i] = base62[mod.Int64()]
	}
	return WithChecksum(keyPrefix + string(digits))
}

// WithChecksum completes a key body ("aps_" and 43 characters) with the
// checksum of its text, whatever the text is.
func WithChecksum(body string) string {
	sum := crc32.ChecksumIEEE([]byte(body))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[sum%62]
		sum /= 62
	}
	return body + string(out)
}

// Secret is the part of a key that carries its random bits.
func Secret(key string) string { return key[len(keyPrefix) : len(key)-checksumLen] }
