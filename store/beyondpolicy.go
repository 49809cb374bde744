package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"apiscopes/scopes"
)

// BeyondPolicy is a key that outlives the key policy's maximum lifetime for
// its app: made before the policy said so. Such keys are never cut
// silently; the console's Key Policy page, `policy show` and the metric
// apiscopes_keys_beyond_policy list them until they are rolled (the new
// key fits) or deleted.
type BeyondPolicy struct {
	Key   Key
	App   string
	Max   time.Duration
	Scope scopes.ID // the scope whose maximum applies; "" for the default
}

// KeysBeyondPolicy lists the keys that work now and outlive the policy's
// maximum lifetime for their app, by app name and key id. It reads the
// policy and the verify index, not every key record.
func (s *Store) KeysBeyondPolicy(ctx context.Context) ([]BeyondPolicy, error) {
	pol, err := s.Policy(ctx)
	if err != nil || pol.DefaultMaxLifetime == 0 && len(pol.MaxLifetime) == 0 {
		return nil, err
	}
	now := s.clock.now()
	var out []BeyondPolicy
	s.ix.eachKey(func(k *Key, app *App) {
		max, by := pol.Lifetime(app.Scopes)
		if k.State(now).Works() && !Fits(*k, max) {
			out = append(out, BeyondPolicy{Key: *k, App: app.Name, Max: max, Scope: by})
		}
	})
	slices.SortFunc(out, func(a, b BeyondPolicy) int {
		return cmp.Or(cmp.Compare(FoldName(a.App), FoldName(b.App)), cmp.Compare(a.Key.ID, b.Key.ID))
	})
	return out, nil
}

// eachKey calls fn with every key the index holds and its app, under the
// index's lock: fn must not keep or change either.
func (ix *index) eachKey(fn func(k *Key, app *App)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	st := ix.cur.Load()
	for _, info := range ix.byID {
		r := st.lookup(&info.digest)
		if r == nil {
			continue
		}
		if app := r.app.app.Load(); app != nil {
			fn(r.key, app)
		}
	}
}
