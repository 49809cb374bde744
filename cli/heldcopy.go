package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"apiscopes/server/local"
	"apiscopes/store"
)

// onHeldCopy runs fn on a consistent copy of the database that c's holder
// streams (as `apiscopes backup` does), in a private temporary file removed
// afterwards: for a read the holder cannot answer itself, such as a check
// with the public keys of signed heads, or a trail against a saved head.
func onHeldCopy(ctx context.Context, c *local.Conn, fn func(*store.Store) error) (err error) {
	f, err := os.CreateTemp("", "apiscopes-check-*.db") // private: 0600
	if err != nil {
		return fmt.Errorf("a copy to check: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := c.Backup(interruptible{ctx, f}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("a copy to check: %w", err)
	}
	st, err := openForReading(f.Name()) // checks its pages
	if err != nil {
		return fmt.Errorf("the copy the holder sent: %w", err)
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	return fn(st)
}
