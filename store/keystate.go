package store

import "time"

// KeyState is where a key is in its life at a moment. Verify, the console
// and the command line all ask Key.State, so they never disagree.
type KeyState uint8

const (
	KeyActive    KeyState = iota // works, with no end in sight (or one more than ExpiringWithin away)
	KeyExpiring                  // works, and expires within ExpiringWithin
	KeyScheduled                 // rolled: works until its scheduled deletion (DeleteAt)
	KeyExpired                   // its expiry has passed: refused with Expired
	KeyGone                      // rolled and past its grace: refused as if deleted
)

// ExpiringWithin is how close an expiry must be for a key to be Expiring.
const ExpiringWithin = 48 * time.Hour

var keyStateNames = [...]string{"active", "expiring", "scheduled for deletion", "expired", "deleted"}

func (s KeyState) String() string { return keyStateNames[s] }

// Works reports whether a key in this state is accepted by Verify.
func (s KeyState) Works() bool { return s <= KeyScheduled }

// State is the key's state at now.
func (k Key) State(now time.Time) KeyState {
	switch {
	case k.Deleting(now):
		return KeyGone
	case k.Expired(now):
		return KeyExpired
	case !k.DeleteAt.IsZero():
		return KeyScheduled
	case !k.ExpiresAt.IsZero() && k.ExpiresAt.Sub(now) < ExpiringWithin:
		return KeyExpiring
	}
	return KeyActive
}

// Ends is when the key stops working: its scheduled deletion or its expiry,
// whichever comes first; zero if neither.
func (k Key) Ends() time.Time {
	switch {
	case k.DeleteAt.IsZero():
		return k.ExpiresAt
	case k.ExpiresAt.IsZero() || k.DeleteAt.Before(k.ExpiresAt):
		return k.DeleteAt
	}
	return k.ExpiresAt
}

// Expired reports whether the key has stopped working by its expiry at now.
func (k Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// Deleting reports whether the key's scheduled deletion is due at now: from
// then on it is refused as if it were already deleted.
func (k Key) Deleting(now time.Time) bool { return !k.DeleteAt.IsZero() && !now.Before(k.DeleteAt) }
