package store

import (
	"errors"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// testRandom is a deterministic stream standing in for crypto/rand.
func testRandom(seed byte) *rand.ChaCha8 {
	var s [32]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	return rand.NewChaCha8(s)
}

// goodKey is a well-formed key made from a fixed secret.
var goodKey = func() string {
	k, err := newKeyText(testRandom(9))
	if err != nil {
		panic(err)
	}
	return k
}()

// withChecksum completes a key body ("aps_" and 43 characters) with its
// correct checksum.
func withChecksum(body string) string { return body + checksum(body) }

func TestNewKeyTextFormat(t *testing.T) {
	r := testRandom(4)
	seen := map[string]bool{}
	for range 100 {
		k, err := newKeyText(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != KeyLen || KeyLen != 53 {
			t.Fatalf("key %q has length %d, want 53", k, len(k))
		}
		if !strings.HasPrefix(k, "aps_") {
			t.Fatalf("key %q lacks the aps_ prefix", k)
		}
		for i := len(KeyPrefix); i < len(k); i++ {
			if !strings.ContainsRune(base62, rune(k[i])) {
				t.Fatalf("key %q has non-base62 character %q", k, k[i])
			}
		}
		if err := CheckKey(k); err != nil {
			t.Fatalf("CheckKey(%q) = %v for a generated key", k, err)
		}
		if seen[k] {
			t.Fatalf("key %q generated twice", k)
		}
		seen[k] = true
	}
}

// The secret part is the 256 random bits, big-endian, in fixed-width base62,
// and the checksum is the CRC-32 of everything before it.
func TestNewKeyTextEncoding(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		want   string // the secret part
	}{
		{"zero", make([]byte, 32), strings.Repeat("0", 43)},
		{"one", append(make([]byte, 31), 1), strings.Repeat("0", 42) + "1"},
		{"sixty-two", append(make([]byte, 31), 62), strings.Repeat("0", 41) + "10"},
		{"max", []byte(strings.Repeat("\xff", 32)), maxSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := newKeyText(strings.NewReader(string(tt.secret)))
			if err != nil {
				t.Fatal(err)
			}
			if got := k[len(KeyPrefix) : KeyLen-checksumLen]; got != tt.want {
				t.Errorf("secret part = %q, want %q", got, tt.want)
			}
			if err := CheckKey(k); err != nil {
				t.Errorf("CheckKey(%q) = %v", k, err)
			}
		})
	}
	// maxSecret decodes to 2^256-1.
	n := new(big.Int)
	for _, c := range []byte(maxSecret) {
		n.Mul(n, big.NewInt(62)).Add(n, big.NewInt(int64(val62(c))))
	}
	want := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	if n.Cmp(want) != 0 {
		t.Errorf("maxSecret %s = %v, want 2^256-1", maxSecret, n)
	}
}

func TestNewKeyTextShortRandom(t *testing.T) {
	if k, err := newKeyText(strings.NewReader("too short")); err == nil {
		t.Fatalf("newKeyText with 9 random bytes = %q, nil; want an error", k)
	}
}

func TestChecksum(t *testing.T) {
	body := goodKey[:KeyLen-checksumLen]
	n := uint64(crc32.ChecksumIEEE([]byte(body)))
	var got uint64
	for _, c := range []byte(checksum(body)) {
		got = got*62 + uint64(val62(c))
	}
	if got != n || len(checksum(body)) != checksumLen {
		t.Errorf("checksum(%q) = %q (%d), want the CRC-32 %d", body, checksum(body), got, n)
	}
}

func TestKeyHint(t *testing.T) {
	if got, want := keyHint(goodKey), "aps_…"+goodKey[KeyLen-4:]; got != want {
		t.Errorf("keyHint = %q, want %q", got, want)
	}
}

func TestCheckKey(t *testing.T) {
	body := goodKey[:KeyLen-checksumLen]
	// flip changes one character of the key to another base62 character.
	flip := func(i int) string {
		c := byte('A')
		if goodKey[i] == 'A' {
			c = 'B'
		}
		return goodKey[:i] + string(c) + goodKey[i+1:]
	}
	tests := []struct {
		name string
		key  string
		err  error
	}{
		{"good", goodKey, nil},
		{"zero secret", withChecksum("aps_" + strings.Repeat("0", 43)), nil},
		{"max secret", withChecksum("aps_" + maxSecret), nil},

		{"empty", "", ErrKeyMalformed},
		{"prefix only", "aps_", ErrKeyMalformed},
		{"one short", goodKey[:KeyLen-1], ErrKeyMalformed},
		{"one long", goodKey + "0", ErrKeyMalformed},
		{"surrounding space", " " + goodKey[:KeyLen-1], ErrKeyMalformed},
		{"trailing newline", goodKey + "\n", ErrKeyMalformed},
		{"wrong prefix", "apx_" + goodKey[4:], ErrKeyMalformed},
		{"upper-case prefix", "APS_" + goodKey[4:], ErrKeyMalformed},
		{"no underscore", "aps-" + goodKey[4:], ErrKeyMalformed},
		{"dash in secret", goodKey[:10] + "-" + goodKey[11:], ErrKeyMalformed},
		{"underscore in checksum", goodKey[:KeyLen-2] + "_" + goodKey[KeyLen-1:], ErrKeyMalformed},
		{"non-ASCII byte", goodKey[:20] + "\xc3" + goodKey[21:], ErrKeyMalformed},
		{"secret above 2^256-1", withChecksum("aps_" + strings.Repeat("z", 43)), ErrKeyMalformed},
		{"secret just above max", withChecksum("aps_" + maxSecret[:42] + string(base62[val62(maxSecret[42])+1])), ErrKeyMalformed},

		{"flipped first secret character", flip(4), ErrKeyBadChecksum},
		{"flipped middle character", flip(30), ErrKeyBadChecksum},
		{"flipped first checksum character", flip(KeyLen - checksumLen), ErrKeyBadChecksum},
		{"flipped last checksum character", flip(KeyLen - 1), ErrKeyBadChecksum},
		{"swapped neighbours", body[:10] + string(body[11]) + string(body[10]) + body[12:] + goodKey[KeyLen-checksumLen:], ErrKeyBadChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "swapped neighbours" && body[10] == body[11] {
				t.Skip("neighbours are equal in this key")
			}
			err := CheckKey(tt.key)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("CheckKey(%q) = %v, want %v", tt.key, err, tt.err)
			}
			if err != nil && tt.key != "" && strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
}

// FuzzCheckKey checks that CheckKey never panics and only accepts text of
// the documented form.
func FuzzCheckKey(f *testing.F) {
	f.Add(goodKey)
	f.Add("aps_" + strings.Repeat("z", 49))
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		err := CheckKey(key)
		if err != nil {
			if !errors.Is(err, ErrKeyMalformed) && !errors.Is(err, ErrKeyBadChecksum) {
				t.Fatalf("CheckKey(%q) = %v, not a key error", key, err)
			}
			return
		}
		if len(key) != KeyLen || !strings.HasPrefix(key, KeyPrefix) {
			t.Fatalf("CheckKey accepted %q", key)
		}
		for i := len(KeyPrefix); i < len(key); i++ {
			if val62(key[i]) < 0 {
				t.Fatalf("CheckKey accepted %q with %q", key, key[i])
			}
		}
		if key[len(KeyPrefix):KeyLen-checksumLen] > maxSecret {
			t.Fatalf("CheckKey accepted %q, above 2^256-1", key)
		}
		if checksum(key[:KeyLen-checksumLen]) != key[KeyLen-checksumLen:] {
			t.Fatalf("CheckKey accepted %q with a wrong checksum", key)
		}
	})
}

func TestCRC32OfAString(t *testing.T) {
	for _, s := range []string{"", "a", goodKey, goodKey[:KeyLen-checksumLen], strings.Repeat("\xff", 100)} {
		if got, want := crc32IEEE(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32IEEE(%q) = %08x, want %08x", s, got, want)
		}
	}
}
