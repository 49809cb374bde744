package etcd

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The change stream and the confirmations that it is current go through
// one member, over a client of their own: the stream's member. A member
// that stops answering without closing its connections (stopped with
// SIGSTOP, a network that drops packets) ends no watch and fails no
// request; gRPC notices only when its keepalive gives up, seconds past the
// staleness bound, and every replica attached to it meanwhile fails closed
// though the others answer. So a confirmation that gets no answer within
// half a round moves the stream at once to whichever other member answers
// a linearizable read first; the followers resume their watches there from
// where they were, and the next confirmation, a linearizable read through
// the new member, says when they have caught up. The bound is never
// raised: until then, the last confirmation through the old member counts,
// and ages as usual.

// streamMember is the member the change stream uses, and its client.
type streamMember struct {
	cli      *clientv3.Client
	endpoint string
	own      bool          // cli is the stream's own, not the engine's: closed when the stream moves
	moved    chan struct{} // closed when the stream moves off this member
}

// member is the stream's member now.
func (e *Engine) member() *streamMember {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stream
}

// memberClient is a client of endpoint alone, as the engine's own client
// is configured.
func (e *Engine) memberClient(endpoint string) (*clientv3.Client, error) {
	cfg := e.clientCfg
	cfg.Endpoints = []string{endpoint}
	return clientv3.New(cfg)
}

// answering is a member of endpoints that answers a linearizable read
// within d, the first to answer; it is nil with the first error when none
// does. It asks each of them at once, through a client of its own, and
// closes the others' clients as they finish (a client stuck connecting to
// a silent member does not hold it up).
func (e *Engine) answering(endpoints []string, d time.Duration) (*streamMember, error) {
	ctx, cancel := context.WithTimeout(e.ctx, d)
	type answer struct {
		m   *streamMember
		err error
	}
	answers := make(chan answer, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			cli, err := e.memberClient(ep)
			if err == nil {
				if _, err = cli.Get(ctx, e.prefix, clientv3.WithCountOnly()); err != nil {
					cli.Close()
				}
			}
			if err != nil {
				answers <- answer{err: err}
				return
			}
			answers <- answer{m: &streamMember{cli: cli, endpoint: ep, own: true, moved: make(chan struct{})}}
		}()
	}
	var firstErr error
	for i := range endpoints {
		a := <-answers
		if a.m == nil {
			if firstErr == nil {
				firstErr = a.err
			}
			continue
		}
		cancel() // the others need not go on
		left := len(endpoints) - i - 1
		e.loops.Add(1)
		go func() {
			defer e.loops.Done()
			for range left {
				if late := <-answers; late.m != nil {
					late.m.cli.Close()
				}
			}
		}()
		return a.m, nil
	}
	cancel()
	if firstErr == nil {
		firstErr = errors.New("no endpoint")
	}
	return nil, firstErr
}

// move puts the change stream on another member that answers within d,
// and reports whether it did. The followers resume there at once.
func (e *Engine) move(d time.Duration) bool {
	old := e.member()
	if !old.own {
		return false // through every endpoint: the client balances them
	}
	var others []string
	for _, ep := range e.cfg.Endpoints {
		if ep != old.endpoint {
			others = append(others, ep)
		}
	}
	if len(others) == 0 {
		return false
	}
	m, err := e.answering(others, d)
	if err != nil {
		return false
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		m.cli.Close()
		return false
	}
	e.stream = m
	e.moves++
	e.mu.Unlock()
	close(old.moved)
	if old.own {
		// Closing ends the watches on the silent member; it must not hold
		// up the move.
		e.loops.Add(1)
		go func() {
			defer e.loops.Done()
			old.cli.Close()
		}()
	}
	return true
}
