package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// placements are the places FuzzKeyNeverEchoed puts a key-bearing value:
// every member's value and name, every header a client might use, the
// path and the query, and bodies that are not JSON at all.
var placements = []func(v string) *http.Request{
	func(v string) *http.Request { return postReq(jsonObject("key", v, "scope", "model:deploy"), "") },
	func(v string) *http.Request { return postReq(jsonObject("key", v, "scope", "guardrail:deploy"), "") },
	func(v string) *http.Request { return postReq(jsonObject("scope", v), "Bearer "+v) },
	func(v string) *http.Request { return postReq(jsonObject("scope", v), "") },
	func(v string) *http.Request { return postReq(jsonObject(v, "1", "scope", "model:deploy"), "") },
	func(v string) *http.Request { return postReq(jsonObject("scope", "model:deploy", v, v), "") },
	func(v string) *http.Request { return postReq(`{"scope": "model:deploy"}`, v) },
	func(v string) *http.Request { return postReq(`{"scope": "model:deploy"}`, "Bearer "+v) },
	func(v string) *http.Request { return postReq(`{"scope": "model:deploy"}`, "Basic "+v) },
	func(v string) *http.Request {
		r := postReq(`{"scope": "model:deploy"}`, "")
		r.Header.Set("X-Api-Key", v)
		r.Header.Set(v, v)
		return r
	},
	func(v string) *http.Request { return postReq(`{"key": {"`+jsonText(v)+`": ["`+jsonText(v)+`"]}}`, "") },
	func(v string) *http.Request { return postReq(`{"key": [`+jsonString(v)+`], "scope": 7}`, "") },
	func(v string) *http.Request { return postReq(v, "") },
	func(v string) *http.Request { return postReq(`{"key": "`+v, "") },
	func(v string) *http.Request {
		return postReq(jsonObject("key", v, "key", v, "scope", "model:deploy"), "")
	},
	func(v string) *http.Request {
		return httptest.NewRequest(http.MethodPost, "/v1/verify/"+url.PathEscape(v)+"?key="+url.QueryEscape(v), nil)
	},
	func(v string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "/v1/verify?key="+url.QueryEscape(v), nil)
	},
}

// FuzzKeyNeverEchoed puts a real, issued key, with whatever the fuzzer
// adds before and after it, through every field, member name and header of
// a verify request, alone or as its secret part without the prefix.
// Whatever the request, neither the answer (body and headers) nor the log
// holds the key's text or its secret part.
func FuzzKeyNeverEchoed(f *testing.F) {
	for i := range placements {
		f.Add(uint8(i), "", "", false)
		f.Add(uint8(i), "x", "\x00", true)
	}
	f.Add(uint8(1), `"`, `\u202e`, false)
	f.Add(uint8(4), "Scope", "", false)
	fx := newFixture(f)
	secret := fx.key[4:47]
	h := fx.srv.Config.Handler
	fx.logs.Take()
	f.Fuzz(func(t *testing.T, where uint8, before, after string, bare bool) {
		v := before + fx.key + after
		if bare {
			v = before + secret + after
		}
		req := placements[int(where)%len(placements)](v)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		answer := rec.Body.String()
		for name, vals := range rec.Header() {
			answer += "\n" + name + ": " + strings.Join(vals, ", ")
		}
		logged := fx.logs.Take()
		for _, leak := range []string{fx.key, secret} {
			if strings.Contains(answer, leak) {
				t.Fatalf("the answer holds the key:\n%s", answer)
			}
			if strings.Contains(logged, leak) {
				t.Fatalf("the log holds the key:\n%s", logged)
			}
		}
	})
}

func postReq(body, auth string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/verify", strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

// jsonObject writes members in the order given, duplicates included,
// which a Go map cannot.
func jsonObject(kv ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(kv[i]) + ":" + jsonString(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonText is s as it sits between the quotes of a JSON string.
func jsonText(s string) string {
	q := jsonString(s)
	return q[1 : len(q)-1]
}
