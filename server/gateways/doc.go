// Package gateways holds the tests that put real gateways — nginx and
// Caddy, started as the test's own processes on loopback — in front of a
// small upstream and apiscopes's /v1/auth, with the configurations
// docs/gateways.md gives, read from that file so that the two cannot drift;
// and the benchmarks of the whole path. It has no code of its own.
package gateways
