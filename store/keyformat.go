package store

import (
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
)

// API key text: "aps_", 43 base62 characters holding 256 random bits (fixed
// width), then 6 base62 characters of the CRC-32 (IEEE) of everything before
// them. The checksum lets a typo be refused without touching the database.
const (
	KeyPrefix   = "aps_"
	KeyLen      = len(KeyPrefix) + secretLen + checksumLen // 53
	secretLen   = 43
	checksumLen = 6
	hintLen     = 4
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newKeyText draws 256 bits from r and formats them as an API key.
func newKeyText(r io.Reader) (string, error) {
	var secret [32]byte
	if _, err := io.ReadFull(r, secret[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	body := KeyPrefix + encode62(new(big.Int).SetBytes(secret[:]), secretLen)
	return body + checksum(body), nil
}

// maxSecret is the largest 256-bit number in key form.
var maxSecret = encode62(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), secretLen)

// checksum encodes the CRC-32 of body in base62, fixed width.
func checksum(body string) string {
	sum := checksum62(body)
	return string(sum[:])
}

// checksum62 is checksum as an array, which CheckKey compares without
// building a string.
func checksum62(body string) [checksumLen]byte {
	n := crc32IEEE(body)
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return out
}

// crc32IEEE is crc32.ChecksumIEEE of a string, byte by byte from the
// standard table: converting the string to a []byte for the library's
// faster path would allocate on every mistyped key a service presents.
func crc32IEEE(s string) uint32 {
	crc := ^uint32(0)
	for i := range len(s) {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ crc>>8
	}
	return ^crc
}

// CheckKey validates the form and checksum of key text. It reads nothing
// else: a key it accepts may still be unknown.
func CheckKey(key string) error {
	if len(key) != KeyLen || key[:len(KeyPrefix)] != KeyPrefix {
		return ErrKeyMalformed
	}
	for i := len(KeyPrefix); i < len(key); i++ {
		if !is62(key[i]) {
			return ErrKeyMalformed
		}
	}
	body := key[:KeyLen-checksumLen]
	// Fixed width and an alphabet in ASCII order: comparing text compares numbers.
	if body[len(KeyPrefix):] > maxSecret {
		return ErrKeyMalformed
	}
	if sum := checksum62(body); key[KeyLen-checksumLen:] != string(sum[:]) {
		return ErrKeyBadChecksum
	}
	return nil
}

// keyDigest is the only form of a key the database holds: its lookup index.
func keyDigest(key string) [sha256.Size]byte {
	var buf [KeyLen]byte // a well-formed key fits: no allocation on Verify's path
	if len(key) > len(buf) {
		return sha256.Sum256([]byte(key))
	}
	return sha256.Sum256(buf[:copy(buf[:], key)])
}

// keyHint is what the console shows of a key after it was copied.
func keyHint(key string) string { return KeyPrefix + "…" + key[len(key)-hintLen:] }

func encode62(n *big.Int, width int) string {
	out := make([]byte, width)
	n = new(big.Int).Set(n)
	base, mod := big.NewInt(62), new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	return string(out)
}

// is62 reports whether c is a base62 digit: one table read, as CheckKey
// runs it on every character of every key a service presents.
func is62(c byte) bool { return digits62[c] }

var digits62 = func() (t [256]bool) {
	for i := range len(base62) {
		t[base62[i]] = true
	}
	return t
}()

func val62(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
