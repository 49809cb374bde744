package gateways

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"apiscopes/scopes"
	"apiscopes/server/forwardauth"
	"apiscopes/store"
)

// startNginx runs nginx with docs/gateways.md's configuration, inside the
// few lines that let it run unprivileged from a test folder.
func startNginx(t testing.TB, w *world) *gateway {
	t.Helper()
	return startNginxWith(t, w, "")
}

// startNginxWith is startNginx with more of the http block after the
// documented one: the benchmark's baseline server.
func startNginxWith(t testing.TB, w *world, more string) *gateway {
	t.Helper()
	bin := need(t, "nginx")
	dir := t.TempDir()
	gw := &gateway{name: "nginx", addr: freeAddr(t), log: filepath.Join(dir, "error.log"),
		refusedAs: map[int]int{400: 500, 500: 500, 503: 500}}
	site := docBlock(t, "nginx")
	site = replace(t, site, "listen 80;", "listen "+gw.addr+";")
	site = replace(t, site, docAPI, w.api)
	site = replace(t, site, docUpstream, w.upstream)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // its workers would otherwise be nobody, who cannot enter the test folder
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body; proxy_temp_path %[2]s/proxy; fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi; scgi_temp_path %[2]s/scgi;
%[3]s%[4]s}
`, user, dir, site, more)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, exec.Command(bin, "-p", dir+"/", "-e", gw.log, "-c", path), gw.addr, gw.log)
	return gw
}

// startCaddy runs Caddy with docs/gateways.md's configuration, behind
// global options that keep it on loopback, in the test folder and off the
// network (no automatic HTTPS).
func startCaddy(t testing.TB, w *world) *gateway {
	t.Helper()
	bin := need(t, "caddy")
	dir := t.TempDir()
	gw := &gateway{name: "caddy", addr: freeAddr(t), log: filepath.Join(dir, "caddy.log"), refusedAs: map[int]int{}}
	site := docBlock(t, "caddy")
	_, port, _ := strings.Cut(gw.addr, ":")
	site = replace(t, site, ":80 {", "http://:"+port+" {\n\tbind 127.0.0.1")
	site = replace(t, site, docAPI, w.api)
	site = replace(t, site, docUpstream, w.upstream)
	conf := fmt.Sprintf("{\n\tadmin %s\n\tauto_https off\n\tstorage file_system %s/caddy\n}\n%s", freeAddr(t), dir, site)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	start(t, cmd, gw.addr, gw.log)
	return gw
}

func TestNginx(t *testing.T) {
	w := newWorld(t)
	exercise(t, w, startNginx(t, w))
}

func TestCaddy(t *testing.T) {
	w := newWorld(t)
	gw := startCaddy(t, w)
	exercise(t, w, gw)
	// Its /models/ route names its scope with header_up, over a client's.
	t.Run("a route's own scope", func(t *testing.T) {
		r := send(t, gw.addr, "DELETE", "/models/7", "Authorization", "Bearer "+w.key, "X-Apiscopes-Scope", "guardrail:undeploy")
		if r.status != 200 || r.seen.Header["X-Apiscopes-Scope"] != nil {
			t.Errorf("%d %s", r.status, store.RedactKeys(r.body))
		}
		if _, err := w.st.SaveApp(t.Context(), admin, w.app, w.app.Name, scopes.NewSet(scopes.ModelExport)); err != nil {
			t.Fatal(err)
		}
		if r := send(t, gw.addr, "DELETE", "/models/7", "Authorization", "Bearer "+w.key, "X-Apiscopes-Scope", "model:export"); r.status != 403 {
			t.Errorf("without model:deploy: %d %s", r.status, store.RedactKeys(r.body))
		}
	})
}

// exercise checks, through a gateway, everything a gateway must hold.
func exercise(t *testing.T, w *world, gw *gateway) {
	bearer := []string{"Authorization", "Bearer " + w.key}
	hint := forwardauth.Escape("aps_…" + w.key[len(w.key)-4:])
	refused := func(status int) int {
		if s, ok := gw.refusedAs[status]; ok {
			return s
		}
		return status
	}
	check := func(t *testing.T, r reply, want int) {
		t.Helper()
		if r.status != want {
			t.Errorf("%s answered %d, want %d: %s\n%s", gw.name, r.status, want, store.RedactKeys(r.body), readLogs(gw.log))
		}
	}
	// noHit runs f and fails if the request reached the upstream.
	noHit := func(t *testing.T, f func()) {
		t.Helper()
		before := w.hits.Load()
		f()
		if w.hits.Load() != before {
			t.Errorf("a refused request reached the upstream")
		}
	}

	t.Run("allowed", func(t *testing.T) {
		r := send(t, gw.addr, "GET", "/workflows/42?x=1", append(bearer,
			"X-Apiscopes-App", "Forged", "X-Apiscopes-App-Id", "99", "X-Apiscopes-Key", "aps_…XXXX")...)
		check(t, r, 200)
		h := r.seen.Header
		want := map[string]string{"X-Apiscopes-App-Id": fmt.Sprint(w.app.ID), "X-Apiscopes-App": "Risk%20%26%20Compliance", "X-Apiscopes-Key": hint}
		for name, v := range want {
			if got := h[name]; len(got) != 1 || got[0] != v {
				t.Errorf("the upstream saw %s = %q, want only %q", name, got, v)
			}
		}
		if h["Authorization"] != nil || strings.Contains(r.body, w.key) {
			t.Errorf("the key reached the upstream: %s", store.RedactKeys(fmt.Sprint(h)))
		}
		r = send(t, gw.addr, "GET", "/workflows", "X-API-Key", w.key)
		check(t, r, 200)
		if r.seen.Header["X-Api-Key"] != nil || strings.Contains(r.body, w.key) {
			t.Errorf("the key reached the upstream: %s", store.RedactKeys(fmt.Sprint(r.seen.Header)))
		}
	})
	t.Run("wrong scope", func(t *testing.T) {
		noHit(t, func() {
			check(t, send(t, gw.addr, "POST", "/workflows/deploy", bearer...), 403)
			check(t, send(t, gw.addr, "GET", "/admin/users", bearer...), 403)
			check(t, send(t, gw.addr, "PATCH", "/workflows", bearer...), 403) // no route
		})
	})
	t.Run("unknown, malformed and missing keys", func(t *testing.T) {
		noHit(t, func() {
			check(t, send(t, gw.addr, "GET", "/workflows", "Authorization", "Bearer "+w.unknown), 401)
			check(t, send(t, gw.addr, "GET", "/workflows", "Authorization", "Bearer aps_0123456789"), 401)
			check(t, send(t, gw.addr, "GET", "/workflows", "X-API-Key", "not-a-key"), 401)
			check(t, send(t, gw.addr, "GET", "/workflows"), 401)
		})
	})
	t.Run("a forged scope is ignored", func(t *testing.T) {
		noHit(t, func() {
			check(t, send(t, gw.addr, "POST", "/workflows/deploy", append(bearer, "X-Apiscopes-Scope", "workflow:export")...), 403)
			check(t, send(t, gw.addr, "GET", "/admin", append(bearer, "X-Apiscopes-Scope", "model:export")...), 403)
		})
	})
	t.Run("a forged original request is not taken", func(t *testing.T) {
		noHit(t, func() {
			for _, h := range [][]string{{"X-Original-URI", "/workflows", "X-Original-Method", "GET"},
				{"X-Forwarded-Uri", "/workflows", "X-Forwarded-Method", "GET"}} {
				if r := send(t, gw.addr, "GET", "/admin", append(bearer, h...)...); r.status == 200 {
					t.Errorf("%v reached the upstream", h)
				}
			}
		})
	})
	t.Run("path tricks never reach a weaker route", func(t *testing.T) {
		noHit(t, func() {
			for _, p := range []string{"/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin", "/public%2Fadmin",
				"/public%2fadmin", "//admin", "/./admin", "/%61dmin", "/admin;x=1", "/public/..;/admin", "/public%5Cadmin"} {
				if r := send(t, gw.addr, "GET", p, bearer...); r.status == 200 {
					t.Errorf("%s reached the upstream through %s", p, gw.name)
				}
			}
		})
	})
	t.Run("fails closed", func(t *testing.T) {
		w.current.Store(false)
		waitFor(t, "the store to fail closed", func() bool { return !w.st.Ready() })
		noHit(t, func() { check(t, send(t, gw.addr, "GET", "/workflows", bearer...), refused(503)) })
		w.current.Store(true)
		waitFor(t, "the store to be current", w.st.Ready)
		check(t, send(t, gw.addr, "GET", "/workflows", bearer...), 200)
	})
	t.Run("the next request after a change", func(t *testing.T) {
		var err error
		if w.app, err = w.st.SaveApp(t.Context(), admin, w.app, w.app.Name, scopes.NewSet(scopes.ModelExport, scopes.ModelDeploy)); err != nil {
			t.Fatal(err)
		}
		noHit(t, func() { check(t, send(t, gw.addr, "GET", "/workflows", bearer...), 403) })
		check(t, send(t, gw.addr, "GET", "/reports", bearer...), 200)
		keys, _ := w.st.Keys(t.Context(), w.app.ID)
		if err := w.st.DeleteKey(t.Context(), admin, keys[0].ID); err != nil {
			t.Fatal(err)
		}
		noHit(t, func() { check(t, send(t, gw.addr, "GET", "/reports", bearer...), 401) })
		var text string
		text, _, err = w.st.CreateKey(t.Context(), admin, w.app.ID, "next")
		if err != nil {
			t.Fatal(err)
		}
		w.key, bearer = text, []string{"Authorization", "Bearer " + text}
	})
}
