package etcd

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// Housekeeping (hot backups, deleting rolled keys after their grace,
// sweeping) is done by one replica at a time, elected through the cluster
// (concurrency.Election): two replicas would only make the same changes
// twice and race on them. The election lives beside the database's prefix,
// not under it, so its keys never reach the change stream.

// Leadership is a replica's standing in the housekeeping election.
type Leadership struct {
	held atomic.Bool
}

// Held reports whether this replica leads now.
func (l *Leadership) Held() bool { return l.held.Load() }

// leaseTTL is how long a leader that vanished (killed, cut off) keeps the
// lead: the next replica takes over within about this long.
const leaseTTL = 10 // seconds

// ElectionPrefix is where the housekeeping election keeps its keys: beside
// the database's prefix, so a cluster user for apiscopes needs both.
func (e *Engine) ElectionPrefix() string { return strings.TrimSuffix(e.prefix, "/") + ".leader/" }

// Lead campaigns, until the engine closes, to be the replica that does the
// housekeeping; Held says when it is. A lost lease (a partition) is
// campaigned for again. A campaign that fails (most often a cluster user
// without permission on ElectionPrefix) is tried again every second, and
// report, if not nil, hears of each failure unlike the one before.
func (e *Engine) Lead(report func(error)) *Leadership {
	l := &Leadership{}
	host, _ := os.Hostname()
	id := host + "/" + strconv.Itoa(os.Getpid())
	key := strings.TrimSuffix(e.ElectionPrefix(), "/")
	e.loops.Add(1)
	go func() {
		defer e.loops.Done()
		last := ""
		for e.ctx.Err() == nil {
			err := e.campaign(l, key, id)
			switch {
			case err == nil || e.ctx.Err() != nil:
				last = ""
			case err.Error() != last && report != nil:
				last = err.Error()
				report(fmt.Errorf("the housekeeping election under %s: %w", e.ElectionPrefix(), err))
			}
			select {
			case <-e.ctx.Done():
			case <-time.After(time.Second): // a failed campaign: try again shortly
			}
		}
	}()
	return l
}

// campaign holds one session: it wins the election (waiting for its turn),
// leads while the session lives, and steps down when it ends.
func (e *Engine) campaign(l *Leadership, key, id string) error {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(leaseTTL), concurrency.WithContext(e.ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, key)
	if err := el.Campaign(e.ctx, id); err != nil {
		return err
	}
	l.held.Store(true)
	defer l.held.Store(false)
	select {
	case <-sess.Done(): // the lease expired: another replica may lead now
	case <-e.ctx.Done():
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		el.Resign(ctx)
		cancel()
	}
	return nil
}
