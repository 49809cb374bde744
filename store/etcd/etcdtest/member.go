// Package etcdtest starts a one-member etcd cluster inside a test, for the
// packages that test what runs on a cluster (serve's replicas, the
// console on two replicas) without an etcd binary. store/etcd's own tests
// share a three-member cluster of their own.
package etcdtest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Member is a one-member cluster of a test, stopped when the test ends.
type Member struct {
	// Endpoint is its client URL.
	Endpoint string

	t   testing.TB
	cfg *embed.Config
	srv *embed.Etcd
}

// Start starts a member with its data in a folder of the test's.
func Start(t testing.TB) *Member {
	t.Helper()
	ports := make([]int, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	dir := t.TempDir()
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "m", filepath.Join(dir, "m")
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = "m=" + pu.String()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	m := &Member{Endpoint: cu.String(), t: t, cfg: cfg}
	m.Restart()
	t.Cleanup(m.Stop)
	return m
}

// Stop stops the member at once, as a crash does.
func (m *Member) Stop() {
	if m.srv != nil {
		m.srv.Server.HardStop()
		m.srv.Close()
		m.srv = nil
	}
}

// Restart starts the member again on its data, at its address.
func (m *Member) Restart() {
	m.t.Helper()
	srv, err := embed.StartEtcd(m.cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		srv.Close()
		m.t.Fatal("etcd was not ready within 30 s")
	}
	m.srv = srv
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
}
