package forwardauth

import (
	"strconv"

	"apiscopes/store"
)

// Classify is the outcome of the store's decision.
func Classify(d store.Decision) Outcome {
	switch d.Reason {
	case store.Allowed:
		if d.Allowed {
			return Allow
		}
	case store.ScopeNotGranted:
		return InsufficientScope
	case store.Malformed, store.BadChecksum, store.UnknownKey, store.Expired:
		return InvalidToken
	case store.UnknownScope:
		return NoScope
	case store.AddressNotAllowed, store.AddressUnknown:
		return Forbidden
	}
	return Unavailable // fails closed on anything else
}

// Upstream is the headers an allowed request carries upstream, in order:
// the app's id, its name and the key's hint, both percent-encoded.
func Upstream(d store.Decision) [3][2]string {
	app, key := d.App(), d.Key()
	return [3][2]string{
		{HeaderAppID, strconv.FormatUint(app.ID, 10)},
		{HeaderApp, Escape(app.Name)},
		{HeaderKey, Escape(key.Hint)},
	}
}
