package api

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNoRequestValueEchoed: a key sent in the wrong place (as the scope, as
// a member name, in another header, in the path) and any other value the
// server did not recognise is never repeated in the answer or the log. A
// key-shaped value is named by its hint, so the sender can tell which one.
func TestNoRequestValueEchoed(t *testing.T) {
	f := newFixture(t)
	secret := f.key[4:47]
	hint := "aps_…" + f.key[len(f.key)-4:]
	const canary = "canary-7f3a"
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		header   [2]string
		status   int
		wantHint bool
	}{
		{"key as scope", "POST", "/v1/verify", `{"key": "` + f.key + `", "scope": "` + f.key + `"}`, [2]string{}, 400, true},
		{"key as scope, bearer", "POST", "/v1/verify", `{"scope": "` + f.key + `"}`, [2]string{"Authorization", "Bearer " + f.key}, 400, true},
		{"secret as scope", "POST", "/v1/verify", body(f.key, secret), [2]string{}, 400, false},
		{"key as member name", "POST", "/v1/verify", `{"` + f.key + `": 1, "scope": "model:deploy"}`, [2]string{}, 400, true},
		{"unknown scope", "POST", "/v1/verify", body(f.key, canary), [2]string{}, 400, false},
		{"unknown member", "POST", "/v1/verify", `{"` + canary + `": 1, "scope": "model:deploy"}`, [2]string{}, 400, false},
		{"key with a tail", "POST", "/v1/verify", body(f.key+canary, "model:deploy"), [2]string{}, 403, false},
		{"key in another scheme", "POST", "/v1/verify", `{"scope": "model:deploy"}`, [2]string{"Authorization", "Token " + f.key}, 401, false},
		{"key in another header", "POST", "/v1/verify", `{"scope": "model:deploy"}`, [2]string{"X-Api-Key", f.key}, 401, false},
		{"key as a number's place", "POST", "/v1/verify", `{"key": ["` + f.key + `"], "scope": "model:deploy"}`, [2]string{}, 400, false},
		{"key in the path", "POST", "/v1/verify/" + f.key, "", [2]string{}, 404, false},
		{"key in the query", "GET", "/v1/verify?key=" + f.key, "", [2]string{}, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.logs.String())
			req, err := http.NewRequest(tt.method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.header[0] != "" {
				req.Header.Set(tt.header[0], tt.header[1])
			}
			a := do(t, req)
			logged := f.logs.String()[before:]
			if a.status != tt.status {
				t.Errorf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			for _, leak := range []string{f.key, secret, canary} {
				if strings.Contains(a.raw, leak) || strings.Contains(logged, leak) {
					t.Errorf("%q was repeated:\nanswer %s\nlog %s", leak, a.raw, logged)
				}
				for name, v := range a.header {
					if strings.Contains(strings.Join(v, " "), leak) {
						t.Errorf("header %s repeats %q", name, leak)
					}
				}
			}
			if tt.wantHint && !strings.Contains(a.raw, hint) {
				t.Errorf("a key-shaped value is not named by its hint: %s", a.raw)
			}
		})
	}
}

// TestMalformedRequestsAreNotEchoed: requests net/http refuses before the
// handler runs (a broken request line, header or Host) get an answer that
// repeats none of what was sent, and nothing of them reaches the log.
func TestMalformedRequestsAreNotEchoed(t *testing.T) {
	f := newFixture(t)
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	for _, raw := range []string{
		"POST /v1/verify " + f.key + "\r\nHost: x\r\n\r\n",
		f.key + " /v1/verify HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"POST /v1/verify HTTP/1.1\r\nHost: " + f.key + "/\r\nConnection: close\r\n\r\n",
		"POST /v1/verify HTTP/1.1\r\nHost: x\r\n" + f.key + "\r\n\r\n",
		"POST /v1/verify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + f.key + "\x01\r\n\r\n",
		"POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + f.key + "\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// Only a guard against a hang if the server ever kept such a
		// connection open; every answer here comes at once.
		conn.SetDeadline(time.Now().Add(time.Minute))
		if _, err := conn.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		var answer strings.Builder
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			answer.WriteString(line)
			if err != nil {
				break
			}
		}
		conn.Close()
		if !strings.HasPrefix(answer.String(), "HTTP/1.1 4") && !strings.HasPrefix(answer.String(), "HTTP/1.1 5") {
			t.Errorf("%q answered %q", raw, answer.String())
		}
		if strings.Contains(answer.String(), f.key[4:47]) {
			t.Errorf("%q: the answer repeats the key: %q", raw, answer.String())
		}
	}
	if strings.Contains(f.logs.String(), f.key[4:47]) {
		t.Errorf("the log repeats the key:\n%s", f.logs.String())
	}
}
