package store

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ErrSigningKey is an audit signing key or public key that cannot be used:
// the message says why and what to do.
var ErrSigningKey = errors.New("unusable audit signing key")

// maxKeyFile bounds what is read of a key file: an ed25519 key in any of
// its formats is well under a kilobyte, a list of public keys a few.
const maxKeyFile = 64 << 10

// LoadSigningKey reads the ed25519 private key that signs audit heads, in
// OpenSSH format (ssh-keygen -t ed25519) or PKCS #8 PEM (openssl genpkey
// -algorithm ed25519). It refuses a key that others may read, one that is
// not a regular file, one protected by a passphrase, and one inside dbDir,
// the database's folder ("" for a cluster): whoever can write the database
// must not find the key beside it. Links are followed to the real file,
// and where that is decides.
func LoadSigningKey(path, dbDir string) (ed25519.PrivateKey, error) {
	data, real, err := readKeyFile(path, true)
	if err != nil {
		return nil, err
	}
	if dbDir != "" {
		dir, err := filepath.EvalSymlinks(dbDir)
		if err != nil {
			dir = dbDir // not made yet
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSigningKey, err)
		}
		if rel, err := filepath.Rel(dir, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("%w %s: it is inside the database's folder %s, where whoever can change the "+
				"database could read it too: keep it in a folder of its own", ErrSigningKey, path, dbDir)
		}
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("%w %s: it is protected by a passphrase, which serve cannot type; "+
			"keep a copy without one (ssh-keygen -p -N '' -f FILE) where only serve's user can read it", ErrSigningKey, path)
	case err != nil:
		return nil, fmt.Errorf("%w %s: not a private key (%v); make one with ssh-keygen -t ed25519 -N '' -f FILE",
			ErrSigningKey, path, err)
	}
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	}
	return nil, fmt.Errorf("%w %s: a %T, not an ed25519 key; make one with ssh-keygen -t ed25519 -N '' -f FILE",
		ErrSigningKey, path, raw)
}

// LoadAuditPublicKeys reads the public keys that `check` verifies signed
// heads with: lines of OpenSSH public keys (the signing key's .pub file, or
// several, one a line, when the key was replaced), or PEM "PUBLIC KEY"
// blocks. Only ed25519 keys are taken; any other is an error.
func LoadAuditPublicKeys(path string) ([]ed25519.PublicKey, error) {
	data, _, err := readKeyFile(path, false)
	if err != nil {
		return nil, err
	}
	var keys []ed25519.PublicKey
	rest := data
	for {
		block, after := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = after
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w %s: it holds %q, not a public key; give the signing key's .pub file",
				ErrSigningKey, path, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrSigningKey, path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w %s: a %T, not an ed25519 public key", ErrSigningKey, path, k)
		}
		keys = append(keys, pub)
	}
	for len(strings.TrimSpace(string(rest))) > 0 {
		k, _, _, after, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			return nil, fmt.Errorf("%w %s: not an OpenSSH public key (%v); give the signing key's .pub file", ErrSigningKey, path, err)
		}
		rest = after
		ck, ok := k.(ssh.CryptoPublicKey)
		pub, isEd := ed25519.PublicKey(nil), false
		if ok {
			pub, isEd = ck.CryptoPublicKey().(ed25519.PublicKey)
		}
		if !isEd {
			return nil, fmt.Errorf("%w %s: a %s key, not ed25519", ErrSigningKey, path, k.Type())
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w %s: it holds no public key; give the signing key's .pub file", ErrSigningKey, path)
	}
	return keys, nil
}

// readKeyFile reads a key file, through links, judged by the file it
// opened: a regular file, and for a private key, one no other user may
// read. It returns the contents and the real path.
func readKeyFile(path string, private bool) ([]byte, string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSigningKey, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSigningKey, err)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSigningKey, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSigningKey, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%w %s: not a regular file", ErrSigningKey, path)
	}
	if perm := fi.Mode().Perm(); private && runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, "", fmt.Errorf("%w %s: others may read it (mode %04o); make it private: chmod 600 %s",
			ErrSigningKey, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrSigningKey, err)
	}
	if len(data) > maxKeyFile {
		return nil, "", fmt.Errorf("%w %s: larger than any key file (%d bytes at most)", ErrSigningKey, path, maxKeyFile)
	}
	return data, real, nil
}
