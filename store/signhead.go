package store

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// Signed heads: `serve --audit-signing-key` signs the audit head every hour
// with an ed25519 key kept outside the database's folder, and keeps the
// signed head in the database. Whoever can write the database but not
// read the key cannot rewrite the trail, its head or the state behind a
// signed head without `check --audit-public-key` naming it; the public
// key alone verifies.

// SignedHead is the audit head as signed at a moment: the newest event's
// number and hash, the digest of the state the head commits to, when, and
// which key signed it.
type SignedHead struct {
	Seq   uint64    `json:"seq"`
	Hash  string    `json:"hash"`
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Key   string    `json:"key"`           // the public key's fingerprint, SHA256:…, as ssh-keygen -l shows it
	Sig   []byte    `json:"sig,omitempty"` // ed25519 signature of the head's message
}

// Message is the text the signature covers:
//
//	apiscopes audit head LF seq N LF hash HEX LF state HEX LF at RFC3339NANO LF
func (h SignedHead) Message() []byte {
	return fmt.Appendf(nil, "apiscopes audit head\nseq %d\nhash %s\nstate %s\nat %s\n",
		h.Seq, h.Hash, h.State, h.At.UTC().Format(time.RFC3339Nano))
}

// Verify reports whether pub made the signature.
func (h SignedHead) Verify(pub ed25519.PublicKey) bool {
	return len(h.Sig) == ed25519.SignatureSize && ed25519.Verify(pub, h.Message(), h.Sig)
}

// KeyFingerprint is an ed25519 public key's fingerprint as ssh-keygen -l
// shows it: "SHA256:" and the base64 of the SHA-256 of its SSH encoding.
func KeyFingerprint(pub ed25519.PublicKey) string {
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

// SignHead signs the audit head as it is now with key and keeps the signed
// head in the database, under the head's number (a head signed again
// replaces its earlier signature). It is the store's own work, recorded in
// no event: serve calls it every hour.
func (s *Store) SignHead(ctx context.Context, key ed25519.PrivateKey) (SignedHead, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PrivateKeySize {
		return SignedHead{}, fmt.Errorf("%w: not an ed25519 private key", ErrSigningKey)
	}
	var sh SignedHead
	err := s.commitRule(ctx, Actor{}, func(t *txn) error {
		if err := t.loadHead(); err != nil {
			return err
		}
		sh = SignedHead{Seq: t.head.Seq, Hash: t.head.Hash, State: t.head.state(), At: t.at, Key: KeyFingerprint(pub)}
		sh.Sig = ed25519.Sign(key, sh.Message())
		t.put(TableSigned, itob(sh.Seq), encode(sh))
		return nil
	})
	if err != nil {
		return SignedHead{}, err
	}
	return sh, nil
}

// KeepHeads reports the audit head once at once and then every interval
// until ctx ends, for serve's metric and log line: with a key it signs and
// keeps the head first (SignHead) and reports the signed head; without one,
// or while leads says another replica does the housekeeping (nil: this one
// does), it reports the head as kept (Head), unsigned. A failure is
// reported and tried again at the next interval.
func (s *Store) KeepHeads(ctx context.Context, every time.Duration, key ed25519.PrivateKey, leads func() bool,
	report func(SignedHead, error)) {
	once := func() {
		var h SignedHead
		var err error
		if key != nil && (leads == nil || leads()) {
			h, err = s.SignHead(ctx, key)
		} else {
			var head AuditHead
			head, err = s.Head(ctx)
			h = SignedHead{Seq: head.Seq, Hash: head.Hash, State: head.State, At: s.clock.now().UTC()}
		}
		if ctx.Err() != nil { // ended while it read: nothing to report
			return
		}
		report(h, err)
	}
	once()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			once()
		}
	}
}

// NewestSignedHead is the signed head of the highest event number, and
// false if no head was signed.
func (s *Store) NewestSignedHead(ctx context.Context) (SignedHead, bool, error) {
	var sh SignedHead
	found := false
	err := s.eng.Read(ctx, func(snap Snapshot) error {
		return snap.Scan(TableSigned, nil, ScanOptions{Reverse: true}, func(_, v []byte) error {
			found = true
			if err := decode(v, &sh); err != nil {
				return err
			}
			return ErrStop
		})
	})
	if errors.Is(err, ErrStop) {
		err = nil
	}
	return sh, found, err
}

// signedHeads: each signed head decodes under its own number, names an
// event the trail holds with the hash and state it signed, and, given the
// public keys, was signed by one of them; given keys, at least one head was
// signed.
func (c *checker) signedHeads() error {
	var head auditHead
	if v, err := c.snap.Get(TableMeta, metaAuditHead); err != nil {
		return err
	} else if v != nil && decode(v, &head) != nil {
		return nil // reported by the audit step
	}
	byKey := map[string]ed25519.PublicKey{}
	for _, pub := range c.opts.auditKeys {
		byKey[KeyFingerprint(pub)] = pub
	}
	n := 0
	err := c.snap.Scan(TableSigned, nil, ScanOptions{}, func(k, v []byte) error {
		var sh SignedHead
		if err := decode(v, &sh); err != nil {
			return c.addf("signed head %s: %v", recordID(k), err)
		}
		if len(k) != 8 || btoi(k) != sh.Seq {
			return c.addf("the head signed for event %d is stored under %x", sh.Seq, k)
		}
		n++
		when := sh.At.UTC().Format(time.RFC3339)
		if sh.Seq > 0 {
			raw, err := c.snap.Get(TableAudit, k)
			if err != nil {
				return err
			}
			if raw == nil {
				return c.addf("the head signed at %s names event %d, which the trail no longer holds: events were removed",
					when, sh.Seq)
			}
			var ev Event
			if decode(raw, &ev) != nil {
				return nil // reported by the audit step
			}
			if ev.Hash != sh.Hash {
				return c.addf("the head signed at %s names event %d with sha256 %s, but the trail's event %d has %s: "+
					"the trail was rewritten at or before it", when, sh.Seq, sh.Hash, sh.Seq, ev.Hash)
			}
			state := ev.State
			if state == "" && sh.Seq == head.Seq {
				state = head.state() // an event older than schema 3, still the head
			}
			if state != "" && state != sh.State {
				return c.addf("the head signed at %s commits to another state than event %d does: "+
					"the head or the state was rewritten", when, sh.Seq)
			}
		}
		if len(byKey) == 0 {
			return nil
		}
		pub, ok := byKey[sh.Key]
		switch {
		case !ok:
			return c.addf("the head signed at %s for event %d was signed by key %s, not by a key given", when, sh.Seq, sh.Key)
		case !sh.Verify(pub):
			return c.addf("the signature of the head signed at %s for event %d does not hold: it was made without "+
				"the signing key, or altered", when, sh.Seq)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(byKey) > 0 && n == 0 {
		return c.addf("no signed audit head was found to verify: serve signs one every hour with --audit-signing-key")
	}
	return nil
}
