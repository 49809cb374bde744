package authz

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// bare is the least a Check can do: answer OK without looking.
type bare struct {
	authv3.UnimplementedAuthorizationServer
}

func (bare) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(code.Code_OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// BenchmarkCheck measures Check of an allowed request, the scope from the
// routes file, as Envoy sends it (one HTTP/2 connection, requests one after
// another), against a bare gRPC server that answers OK to the same
// requests without looking at them. x-throughput is Check's requests per
// second as a share of the bare server's; the goal is 0.8 or more. The
// two are timed in alternating blocks.
func BenchmarkCheck(b *testing.B) {
	f := newFixture(b, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	keys := []string{f.key}
	for i := range 99 {
		text, _, err := f.st.CreateKey(b.Context(), admin, f.app.ID, fmt.Sprintf("key %d", i))
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, text)
	}
	reqs := make([]*authv3.CheckRequest, len(keys))
	for i, k := range keys {
		reqs[i] = envoyRequest("POST", "/models/7/versions?page=2", map[string]string{"authorization": "Bearer " + k,
			"content-type": "application/json", "accept": "*/*", "content-length": "42"}, nil)
	}

	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, bare{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bareClient := authv3.NewAuthorizationClient(conn)

	call := func(c authv3.AuthorizationClient, i int) {
		resp, err := c.Check(context.Background(), reqs[i%len(reqs)])
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatalf("%v %v", resp, err)
		}
	}
	const block = 256
	var checkTime, bareTime time.Duration
	n, nBare := 0, 0
	for b.Loop() {
		if n%block == 0 {
			b.StopTimer()
			start := time.Now()
			for i := range block {
				call(bareClient, nBare+i)
			}
			bareTime += time.Since(start)
			nBare += block
			b.StartTimer()
		}
		start := time.Now()
		call(f.client, n)
		checkTime += time.Since(start)
		n++
	}
	b.ReportMetric((float64(bareTime)/float64(nBare))/(float64(checkTime)/float64(n)), "x-throughput")
}
