//go:build !unix

package server

import "io/fs"

// unixModes: elsewhere (Windows) files have no unix permission bits, and
// access is the file system's ACLs' business.
const unixModes = false

// fileOwner is unknown where files have no unix owner.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
