//go:build race

package server

// raceEnabled: the race detector keeps shadow memory beside the heap, so
// resident memory says nothing of the program's own.
const raceEnabled = true
