package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

// maxKeyInput is the most verify reads from stdin: a key is 53 characters.
const maxKeyInput = 4 << 10

// verifyCommand is `apiscopes verify`: 0 allowed, 1 denied, 2 error.
func (inv *invocation) verifyCommand() *cobra.Command {
	var db database
	var scope, clientIP string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --scope ID < key",
		Short: "Check whether an API key may use a scope",
		Long: `Checks whether an API key may use a scope, as the services that receive it do. The key
is read from stdin (or APISCOPES_KEY), never from the command line, where other users
of the machine could see it. A check answered by the console or server holding the
file counts as a use of the key; one read from a free file does not.

` + databaseNote + `

--client-ip ADDRESS is where the key is being used from: a key with an address list
is refused from anywhere else (address_not_allowed), and without --client-ip
(address_unknown).

Exit status: 0 allowed, 1 denied, 2 error. The reason is one line on stderr: the
stable reason first (allowed, scope_not_granted, unknown_key, expired, …), then what
it means.`,
		Example: `  apiscopes verify --scope model:deploy < key.txt
  APISCOPES_KEY=$KEY apiscopes verify --scope workflow:export --json
  apiscopes verify --scope model:deploy --client-ip "$REMOTE_ADDR" < key.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef(cmd, "unexpected argument; pass the key on stdin or in APISCOPES_KEY, "+
					"never on the command line, where other users of the machine can see it")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var client netip.Addr
			if clientIP != "" {
				a, err := netip.ParseAddr(clientIP)
				if err != nil || a.Zone() != "" {
					return usagef(cmd, "--client-ip: give the IP address the key is used from, e.g. 192.0.2.7 or 2001:db8::7 (no zone)")
				}
				client = a.Unmap()
			}
			return inv.verify(cmd, db, scope, client, asJSON)
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "", "the scope ID to check, e.g. model:deploy")
	cmd.Flags().StringVar(&clientIP, "client-ip", "", "the IP address the key is used from, for keys limited to addresses")
	cmd.Flags().BoolVar(&asJSON, "json", false, "also write the decision as JSON on stdout")
	db.register(cmd)
	return cmd
}

// verify decides on the key read from stdin and says so.
func (inv *invocation) verify(cmd *cobra.Command, db database, scope string, client netip.Addr, asJSON bool) error {
	if scope == "" {
		return usagef(cmd, "which scope? pass --scope ID, one of %s", strings.Join(scopes.IDs(), ", "))
	}
	id, err := scopes.Parse(scope)
	if err != nil {
		return usagef(cmd, "%s", unknownScope(scope))
	}
	key, err := readKey(inv.stdin, inv.stderr, inv.getenv)
	if err != nil {
		return fail(ExitUsage, err)
	}
	if err := db.check(); err != nil {
		return usageError(cmd, err)
	}
	var d store.Decision
	if db.cluster() {
		// One linearizable read of the key's digest, then its record and
		// its app at that revision: no index is loaded.
		d, err = verifyOnCluster(cmd.Context(), db, key, id, client)
		if err != nil {
			return fail(ExitUsage, err)
		}
		return inv.decided(d, asJSON)
	}
	path, err := dbPath(db.path)
	if err != nil {
		return fail(ExitUsage, err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return failf(ExitUsage, "no database at %s: create apps and keys in the console first, or pass --db PATH", path)
	}
	// The process holding the file answers from its store; a free file is
	// read for this one key.
	err = local.Reach(path, func(c *local.Conn) (err error) {
		d, err = c.Verify(key, id, client)
		return err
	}, func() (err error) {
		d, err = bolt.VerifyFile(path, key, id, client, time.Now())
		return err
	})
	if errors.Is(err, store.ErrLocked) {
		return failf(ExitUsage, "%v; a running `apiscopes serve --http` answers the same question at POST /v1/verify", err)
	} else if err != nil {
		return fail(ExitUsage, err)
	}
	return inv.decided(d, asJSON)
}

// decided writes a decision as verify reports it and ends with its exit
// status: 0 allowed, 1 denied, 2 unavailable.
func (inv *invocation) decided(d store.Decision, asJSON bool) error {
	if asJSON {
		if err := writeJSONLine(inv.stdout, api.NewResponse(d)); err != nil {
			return failf(ExitUsage, "write the decision: %v", err)
		}
	}
	// The stable reason first, for scripts; then what it means, for people,
	// with the stored names and hint it quotes escaped for the terminal.
	why := strings.TrimPrefix(strings.TrimPrefix(d.String(), "denied: "), "allowed: ")
	fmt.Fprintf(inv.stderr, "%s: %s\n", d.Reason, store.SafeText(why))
	switch {
	case d.Reason.Failed():
		return exit(ExitUsage)
	case !d.Allowed:
		return exit(ExitRefused)
	}
	return nil
}

// verifyOnCluster decides on one key with a linearizable read of a
// cluster: nothing is loaded, and the check is not noted as a use.
func verifyOnCluster(ctx context.Context, db database, key string, id scopes.ID, client netip.Addr) (d store.Decision, err error) {
	eng, err := etcd.Open(db.config(-1))
	if err != nil {
		return d, err
	}
	defer eng.Close()
	err = eng.Read(ctx, func(snap store.Snapshot) (err error) {
		d, err = store.VerifySnapshot(snap, key, id, client, time.Now())
		return err
	})
	return d, err
}

// readKey takes the key from APISCOPES_KEY, or from stdin: typed without
// echo at a terminal, else the first line of what is piped in.
func readKey(stdin io.Reader, stderr io.Writer, getenv func(string) string) (string, error) {
	if k := strings.TrimSpace(getenv("APISCOPES_KEY")); k != "" {
		return k, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(f.Fd()) {
		fmt.Fprint(stderr, "API key: ")
		b, err := term.ReadPassword(f.Fd())
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read the key: %w", err)
		}
		return strings.TrimSpace(string(b)), nonEmpty(string(b))
	}
	r := bufio.NewReader(io.LimitReader(stdin, maxKeyInput+1))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the key from stdin: %w", err)
	}
	if len(line) > maxKeyInput {
		return "", fmt.Errorf("stdin holds more than a key (over %d bytes on its first line)", maxKeyInput)
	}
	return strings.TrimSpace(line), nonEmpty(line)
}

// unknownScope says that scope is not one of the scope ids, without
// repeating it: what was typed there may be a key.
func unknownScope(scope string) string {
	msg := "unknown scope; pass --scope with one of " + strings.Join(scopes.IDs(), ", ")
	if hint, ok := store.KeyShapeHint(scope); ok {
		msg = fmt.Sprintf("the scope looks like an API key (%s): pass the key on stdin or in APISCOPES_KEY; %s", hint, msg)
	}
	return msg
}

func nonEmpty(key string) error {
	if strings.TrimSpace(key) == "" {
		return errors.New("no API key: pipe it on stdin (apiscopes verify --scope ID < key.txt) or set APISCOPES_KEY")
	}
	return nil
}
