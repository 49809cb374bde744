package store

import "fmt"

// standing asks the actor's Standing, if any, whether the actor may still
// change things: an SSH session logs in once but may stay open for hours,
// and its key may be removed from the allow-list or moved to the viewers in
// the meantime. Checked on every change, so such a session writes nothing
// even before the server has ended or demoted it.
func (a Actor) standing() error {
	if a.Standing == nil {
		return nil
	}
	role, err := a.Standing()
	if err != nil {
		return fmt.Errorf("%w: %s may no longer make changes: %v", ErrPermission, a.Name, err)
	}
	if role != Admin {
		return fmt.Errorf("%w: %s is now a %s; only admins can make changes", ErrPermission, a.Name, roleName(role))
	}
	return nil
}
