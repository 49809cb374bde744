package etcd

import (
	"context"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"apiscopes/store"
)

// CheckMedium implements store.Checker: the cluster's own view of its
// health. A member that raised a corruption alarm, or members that hold
// different data at one revision (etcd's hash of every key and version up
// to it), is a store.DamageError. A full cluster (etcd's space alarm) is
// an error too, though not damage: it refuses every write until its
// operator compacts and defragments it.
//
// The hashes cover the whole keyspace, not just the prefix, and only the
// members at the configured endpoints that answer are compared.
func (e *Engine) CheckMedium() error {
	ctx := e.ctx
	actx, cancel := e.request(ctx)
	defer cancel()
	alarms, err := e.cli.AlarmList(actx)
	if err != nil {
		return fmt.Errorf("check %s: list alarms: %w", e.name, err)
	}
	var problems []string
	full := false
	for _, a := range alarms.Alarms {
		switch a.Alarm {
		case pb.AlarmType_CORRUPT:
			problems = append(problems, fmt.Sprintf("etcd member %x raised a corruption alarm", a.MemberID))
		case pb.AlarmType_NOSPACE:
			full = true
		}
	}

	// Hash every member that answers at the lowest revision all of them
	// have applied. One that does not answer is not checked: a member down
	// is the cluster's concern, not damage.
	rev := int64(0)
	var up []string
	for _, ep := range e.cfg.Endpoints {
		sctx, cancel := e.request(ctx)
		st, err := e.cli.Status(sctx, ep)
		cancel()
		if err != nil {
			continue
		}
		up = append(up, ep)
		if rev == 0 || st.Header.Revision < rev {
			rev = st.Header.Revision
		}
	}
	if len(up) == 0 {
		return fmt.Errorf("check %s: no member answers", e.name)
	}
	type hash struct {
		ep      string
		sum     uint32
		compact int64
	}
	var hashes []hash
	var unchecked error
	for _, ep := range up {
		hctx, cancel := context.WithTimeout(ctx, max(e.cfg.RequestTimeout, 30*time.Second))
		h, err := e.cli.HashKV(hctx, ep, rev)
		cancel()
		if err != nil && refused(err) {
			// The hash covers every key, so etcd asks for its root user.
			unchecked = &store.UncheckedError{What: "whether the cluster's members hold the same data",
				Why: "etcd hashes a member's data only for its root user (check with --etcd-user root to include it)"}
			hashes = nil
			break
		}
		if err != nil {
			return fmt.Errorf("check %s: hash of %s at revision %d: %w", e.name, ep, rev, err)
		}
		hashes = append(hashes, hash{ep, h.Hash, h.CompactRevision})
	}
	for i := 1; i < len(hashes); i++ {
		h := hashes[i]
		if h.compact == hashes[0].compact && h.sum != hashes[0].sum {
			problems = append(problems, fmt.Sprintf("etcd members at %s and %s hold different data at revision %d",
				hashes[0].ep, h.ep, rev))
		}
	}
	if len(problems) > 0 {
		return &store.DamageError{Path: e.name, Problems: problems}
	}
	if full {
		return fmt.Errorf("check %s: the cluster's database is full (its space alarm is raised): "+
			"it refuses every change until it is compacted and defragmented", e.name)
	}
	return unchecked
}
