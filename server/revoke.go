package server

import (
	"context"
	"maps"
	"slices"
	"time"

	"apiscopes/store"
)

// defaultPollEvery is how often the allow-lists are read for open
// sessions. A change is put in force once two reads a second apart agree,
// so an edit reaches open sessions within three seconds (first read up to
// a second after it, put in force one or two ticks later).
const defaultPollEvery = time.Second

// watch reads the allow-lists every pollEvery until stop, and applies the
// list in force (and the clock, for expiry-time) to the open sessions.
func (s *SSH) watch(stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		changed, problems := s.cfg.Allow.Poll()
		s.logAllowList(changed, problems, nil)
		s.enforce()
	}
}

// Reload reads the allow-lists at once and applies them to open sessions,
// as SIGHUP asks. When the files cannot be used, the list in force stays
// and the error says why.
func (s *SSH) Reload() error {
	changed, problems, err := s.cfg.Allow.Reload()
	if err == nil && !changed {
		s.cfg.Log.Info("allow-list unchanged")
	}
	s.logAllowList(changed, problems, err)
	s.enforce()
	return err
}

func (s *SSH) logAllowList(changed bool, problems []error, err error) {
	if err != nil {
		s.cfg.Log.Error("allow-list not reloaded", "err", err)
	}
	if changed {
		admins, viewers := s.cfg.Allow.Size()
		s.cfg.Log.Info("allow-list reloaded", "admins", admins, "viewers", viewers)
	}
	for _, p := range problems { // a refused line leaves its key out; the others count
		s.cfg.Log.Warn("allow-list", "problem", p)
	}
}

// enforce ends the sessions whose keys lost their standing and reopens
// read-only those of admins who are now viewers.
func (s *SSH) enforce() {
	s.mu.Lock()
	open := slices.Collect(maps.Keys(s.sessions))
	s.mu.Unlock()
	for _, o := range open {
		role, err := s.cfg.Allow.Standing(o.key, o.remote, o.gen, o.entry)
		switch {
		case err != nil:
			if o.revoke(err.Error()) {
				s.cfg.Log.Warn("session ended: access revoked", "user", o.person, "remote", o.remote.String(), "why", err)
				s.recordSession(context.Background(), store.ActionSessionRevoked, o, err.Error(), 0)
			}
		case role != store.Admin:
			if o.demote() {
				s.cfg.Log.Warn("session made read-only: now a viewer", "user", o.person, "remote", o.remote.String())
			}
		}
	}
}

// standing is a session's role now, for the store to ask on every write: a
// revoked or demoted session writes nothing even before enforce reaches it.
func (s *SSH) standing(o *openSession) (store.Role, error) {
	role, err := s.cfg.Allow.Standing(o.key, o.remote, o.gen, o.entry)
	if err != nil {
		return "", err
	}
	if now, _, _, _ := o.state(); now != store.Admin {
		return now, nil // a viewer stays one until they log in again
	}
	return role, nil
}

// recordSession writes a session event to the audit trail. A failure is
// logged, not passed on: logins and revocations go ahead whatever the disk
// says.
func (s *SSH) recordSession(ctx context.Context, action store.Action, o *openSession, reason string, unrecorded int) {
	info := store.SessionInfo{User: o.person, Role: o.entry.Role, Remote: o.remote.String(), Key: o.fp,
		Reason: reason, Unrecorded: unrecorded}
	if err := s.st.RecordSession(ctx, action, info); err != nil {
		s.cfg.Log.Error("audit", "action", action, "user", o.person, "err", err)
	}
}
