package server

import (
	"fmt"

	"apiscopes/store"
)

// slots decides which sessions may open: at most max in all (0: any
// number), of which the last adminSlots only for admins, so viewers filling
// the server cannot lock admins out; and at most perUser for one person.
// Sessions that follow the audit trail (a log shipper's) have followers
// places of their own.
type slots struct {
	max, adminSlots, perUser int
	followers                int // sessions following the audit trail, beside the others
}

// refusal is why a session may not open: a reason for the log and a
// message for the user.
type refusal struct {
	reason, message string
}

func (r *refusal) Error() string { return r.message }

// admit registers o, or says why it cannot open.
func (s *SSH) admit(o *openSession) *refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, mine, followers := 0, 0, 0
	for other := range s.sessions {
		switch {
		case other.follows:
			followers++
		case other.person == o.person:
			mine++
			n++
		default:
			n++
		}
	}
	l := s.slots
	switch {
	case s.closing:
		return &refusal{RefusedClosing, "the server is shutting down; try again shortly"}
	case o.follows && followers >= l.followers:
		return &refusal{RefusedSessions, fmt.Sprintf("%d sessions already follow the audit trail, the most the server allows; end one first", followers)}
	case o.follows:
		// Followers have places of their own: they never take a console's.
	case s.overBudget(n, o.role):
		return s.memoryRefusal(n)
	case l.max > 0 && n >= l.max:
		return &refusal{RefusedSessions, fmt.Sprintf("the server is full (%d sessions open); try again later", n)}
	case l.max > 0 && o.role != store.Admin && n >= l.max-l.adminSlots:
		return &refusal{RefusedAdminSlots, fmt.Sprintf("the last %d sessions are kept for admins (%d open); try again later", l.adminSlots, n)}
	case l.perUser > 0 && mine >= l.perUser:
		return &refusal{RefusedPerUser, fmt.Sprintf("you have %d sessions open, the most one person may; close one first", mine)}
	}
	s.sessions[o] = struct{}{}
	s.running.add(1)
	return nil
}

func (s *SSH) leave(o *openSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, o)
	s.running.add(-1)
}

func (s *SSH) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// openCount is how many sessions are open, for the log.
func (s *SSH) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// OpenSessions is how many sessions are open with role, for metrics.
func (s *SSH) OpenSessions(role store.Role) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for o := range s.sessions {
		if o.role == role {
			n++
		}
	}
	return n
}
