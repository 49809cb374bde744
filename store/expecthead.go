package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A head saved elsewhere is what catches a trail rewritten together with
// its head: whoever can write the database can make a chain that holds,
// but not one that passes through an event hash they cannot change.

// ErrBadHead is text that is not an audit head as `apiscopes audit
// --verify` prints it.
var ErrBadHead = errors.New(`not an audit head: give it as apiscopes audit --verify prints it, "event 4211, sha256 <64 hex digits>"`)

// headPattern is a head as AuditHead.String writes it, or as serve logs it
// ("event=4211 sha256=3d5c…").
var headPattern = regexp.MustCompile(`event(?: |=)([0-9]+),? sha256(?: |=)([0-9a-f]{64})\b`)

// ParseAuditHead reads a head saved from `apiscopes audit --verify` or
// `apiscopes check` ("event 4211, sha256 3d5c…"), or from serve's log
// ("event=4211 sha256=3d5c…"), alone or within the line that printed it;
// "empty" is the head of an empty trail.
func ParseAuditHead(text string) (AuditHead, error) {
	text = strings.TrimSpace(text)
	if text == "empty" {
		return AuditHead{}, nil
	}
	m := headPattern.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		return AuditHead{}, ErrBadHead
	}
	seq, err := strconv.ParseUint(m[0][1], 10, 64)
	if err != nil || seq == 0 {
		return AuditHead{}, ErrBadHead
	}
	return AuditHead{Seq: seq, Hash: m[0][2]}, nil
}

// ExtendError is a trail that does not extend a head saved earlier: it was
// rewritten at or before that head, or cut off before it. It matches
// ErrDamaged.
type ExtendError struct {
	Want  AuditHead // the head saved earlier
	Found string    // the trail's hash at Want.Seq; "" if it has no such event
	Head  AuditHead // the trail's head now
}

func (e *ExtendError) Error() string {
	if e.Found == "" {
		return fmt.Sprintf("the audit trail does not extend the head saved earlier (%s): it ends at %s, "+
			"so events were removed", e.Want, e.Head)
	}
	return fmt.Sprintf("the audit trail does not extend the head saved earlier (%s): its event %d has sha256 %s, "+
		"so the trail was rewritten at or before that event", e.Want, e.Want.Seq, e.Found)
}

func (e *ExtendError) Is(target error) bool { return target == ErrDamaged }

// VerifyAuditExtends is VerifyAudit for a trail that must extend want, a
// head saved earlier: it fails with a *ChainError if the chain breaks, and
// with an *ExtendError unless the trail holds want's event with want's
// hash. A trail that holds it, with any events after, extends it.
func (s *Store) VerifyAuditExtends(ctx context.Context, want AuditHead) (AuditHead, error) {
	var head AuditHead
	var err error
	var found string
	readErr := s.eng.Read(ctx, func(snap Snapshot) error {
		if head, err = verifyChain(snap); err != nil || want.Seq == 0 {
			return nil
		}
		v, rerr := snap.Get(TableAudit, itob(want.Seq))
		if rerr != nil || v == nil {
			return rerr
		}
		var ev Event
		if rerr := decode(v, &ev); rerr != nil {
			return rerr
		}
		found = ev.Hash
		return nil
	})
	switch {
	case readErr != nil:
		return head, readErr
	case err != nil:
		return head, err
	case want.Seq != 0 && found != want.Hash:
		return head, &ExtendError{Want: want, Found: found, Head: head}
	}
	return head, nil
}
