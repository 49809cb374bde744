package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"apiscopes/store"
)

const hollowAdvice = store.HollowAdvice

// existingFile reports whether path already names a file, and refuses one
// of zero bytes: bbolt would quietly make it a new, empty database, and the
// apps and keys that an interrupted restore meant to bring back would seem
// to be gone. A missing file is not an error: a writer creates it.
func existingFile(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("open database: %w", err)
	case fi.Mode().IsRegular() && fi.Size() == 0:
		return true, fmt.Errorf("%s: %w: the file is empty (0 bytes); %s", path, store.ErrNotDatabase, hollowAdvice)
	}
	return true, nil
}

// hollowError refuses an existing bbolt file without a single bucket, which
// apiscopes would otherwise fill with empty buckets: a database is never
// made in a file that was already there.
func hollowError(path string) error {
	return fmt.Errorf("%s: %w: the file holds no data at all; %s", path, store.ErrNotDatabase, hollowAdvice)
}
