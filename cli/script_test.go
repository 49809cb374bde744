package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	gossh "golang.org/x/crypto/ssh"

	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
	"apiscopes/store/etcd/etcdtest"
)

// The command scripts in testdata/script run the command line as users do,
// each as a process of its own, in four places: on a free file; on a file a
// console holds (the holder, in this test's process, runs each command);
// on an etcd cluster; and over SSH, as an admin of a server in this test's
// process. A line may be for one place only: [file], [holder], [etcd],
// [ssh] (or [!ssh], …).
func TestScripts(t *testing.T) {
	for _, mode := range []string{"file", "holder", "etcd", "ssh"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "etcd" && testing.Short() {
				t.Skip("starts an etcd member")
			}
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/script",
				RequireExplicitExec: true,
				Setup:               scriptSetup(t, mode),
				Condition: func(cond string) (bool, error) {
					switch cond {
					case "file", "holder", "etcd", "ssh":
						return cond == mode, nil
					}
					return false, fmt.Errorf("unknown condition %q", cond)
				},
			})
		})
	}
}

// scriptSetup prepares a script's database in mode.
func scriptSetup(t *testing.T, mode string) func(*testscript.Env) error {
	var member *etcdtest.Member
	var prefixes atomic.Int64
	var once sync.Once
	return func(env *testscript.Env) error {
		path := filepath.Join(env.WorkDir, "apiscopes.db")
		env.Setenv("HOME", env.WorkDir)
		env.Setenv("TZ", "UTC")
		switch mode {
		case "file":
			env.Setenv("APISCOPES_DB", path)
			st, err := bolt.OpenStore(path, bolt.Options{}) // as the console's first run leaves it
			if err != nil {
				return err
			}
			st.Close()
		case "holder":
			env.Setenv("APISCOPES_DB", path)
			h, err := local.OpenStore(path, local.Options{Run: runForHolder}, store.WithMaintenance(0))
			if err != nil {
				return err
			}
			env.Defer(func() { h.Close() })
		case "etcd":
			once.Do(func() { member = etcdtest.Start(t) })
			prefix := fmt.Sprintf("/script-%d/", prefixes.Add(1))
			env.Setenv("APISCOPES_ETCD", member.Endpoint)
			env.Setenv("APISCOPES_ETCD_PREFIX", prefix)
			st, err := etcd.OpenStore(etcd.Config{Endpoints: []string{member.Endpoint}, Prefix: prefix, MaxStaleness: -1},
				store.WithMaintenance(0)) // a new database, as the first replica leaves it
			if err != nil {
				return err
			}
			st.Close()
		case "ssh":
			addr, key, err := scriptSSHServer(env, path)
			if err != nil {
				return err
			}
			env.Setenv(scriptSSHAddr, addr)
			env.Setenv(scriptSSHKey, key)
		}
		return nil
	}
}

// The variables that make the scripts' apiscopes a client of an SSH
// server (see runOverSSH). With APISCOPES_TEST_AS=bo a command runs as
// the second admin, Bo, whose key is in the folder beside Ada's.
const (
	scriptSSHAddr = "APISCOPES_TEST_SSH_ADDR"
	scriptSSHKey  = "APISCOPES_TEST_SSH_KEY"
	scriptSSHAs   = "APISCOPES_TEST_AS"
)

// scriptSSHServer serves the database at path over SSH, in this process,
// to two admins, "Ada Admin" and "Bo Admin", whose private keys it writes
// into the script's folder (ada and bo). It returns the address and Ada's
// key's file.
func scriptSSHServer(env *testscript.Env, path string) (addr, keyFile string, err error) {
	h, err := local.OpenStore(path, local.Options{Run: runForHolder}, store.WithMaintenance(0))
	if err != nil {
		return "", "", err
	}
	env.Defer(func() { h.Close() })
	dir := filepath.Join(env.WorkDir, ".ssh-server")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", "", err
	}
	var lines string
	for _, who := range []struct{ file, name string }{{"ada", "Ada Admin"}, {"bo", "Bo Admin"}} {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", "", err
		}
		signer, err := gossh.NewSignerFromKey(priv)
		if err != nil {
			return "", "", err
		}
		block, err := gossh.MarshalPrivateKey(priv, "")
		if err != nil {
			return "", "", err
		}
		if err := os.WriteFile(filepath.Join(dir, who.file), pem.EncodeToMemory(block), 0o600); err != nil {
			return "", "", err
		}
		lines += string(bytes.TrimSpace(gossh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + who.name + "\n"
	}
	addr, stop, err := serveSSH(h.Store(), dir, lines, "")
	if err != nil {
		return "", "", err
	}
	env.Defer(stop)
	return addr, filepath.Join(dir, "ada"), nil
}

// runOverSSH is the scripts' apiscopes in SSH mode: the command line sent
// to the server with golang.org/x/crypto/ssh, as `ssh HOST CMD` sends it
// (words quoted for the server's shell-like split), stdin passed on, and
// the remote exit status as its own. A -f FILE is sent as the server wants
// it: -f - with the file on stdin.
func runOverSSH(args []string) int {
	keyFile := os.Getenv(scriptSSHKey)
	if as := os.Getenv(scriptSSHAs); as != "" {
		keyFile = filepath.Join(filepath.Dir(keyFile), as)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	signer, err := gossh.ParsePrivateKey(key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := gossh.Dial("tcp", os.Getenv(scriptSSHAddr), &gossh.ClientConfig{User: "ada",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer sess.Close()
	var stdin io.Reader = os.Stdin
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "-f" || args[i] == "--file") && args[i+1] != "-" {
			f, err := os.Open(args[i+1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			defer f.Close()
			stdin, args[i+1] = f, "-"
		}
	}
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, os.Stdout, os.Stderr
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	err = sess.Run(strings.Join(quoted, " "))
	var exit *gossh.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitStatus()
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}
