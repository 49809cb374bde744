package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"

	"apiscopes/scopes"
	"apiscopes/server/api"
	"apiscopes/server/local"
	"apiscopes/store"
	"apiscopes/store/bolt"
	"apiscopes/store/etcd"
)

const verifyUsage = `Usage: apiscopes verify --scope ID [--json] [--db PATH] < key

Checks whether an API key may use a scope, as the services that receive it
do. The key is read from stdin (or APISCOPES_KEY), never from the command
line, where other users of the machine could see it.

Exit status: 0 allowed, 1 denied, 2 error. The reason is one line on stderr.

  --scope ID   the scope to check, e.g. model:deploy (env APISCOPES_SCOPE)
  --json       also write the decision as JSON on stdout (env APISCOPES_JSON)
  --db PATH    database file (env APISCOPES_DB)
`

// maxKeyInput is the most verify reads from stdin: a key is 53 characters.
const maxKeyInput = 4 << 10

// verifyCommand is `apiscopes verify`: 0 allowed, 1 denied, 2 error.
func verifyCommand(args []string, db database, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apiscopes verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db.register(fs)
	scope := fs.String("scope", os.Getenv("APISCOPES_SCOPE"), "scope id")
	asJSON := fs.Bool("json", false, "write JSON")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "apiscopes verify: "+format+"\n", a...)
		return 2
	}
	if v := os.Getenv("APISCOPES_JSON"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fail("APISCOPES_JSON=%q: use true or false", v)
		}
		*asJSON = b
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, verifyUsage)
			return 0
		}
		fmt.Fprintf(stderr, "apiscopes verify: %v\n\n%s", err, verifyUsage)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument; pass the key on stdin or in APISCOPES_KEY, " +
			"never on the command line, where other users of the machine can see it")
	}
	if *scope == "" {
		return fail("which scope? pass --scope ID, one of %s", strings.Join(scopes.IDs(), ", "))
	}
	id, err := scopes.Parse(*scope)
	if err != nil {
		return fail("%s", unknownScope(*scope))
	}
	key, err := readKey(stdin, stderr)
	if err != nil {
		return fail("%v", err)
	}

	if err := db.check(); err != nil {
		return fail("%v", err)
	}
	var d store.Decision
	if db.cluster() {
		// One linearizable read of the key's digest, then its record and
		// its app at that revision: no index is loaded.
		d, err = verifyOnCluster(db, key, id)
		if err != nil {
			return fail("%v", err)
		}
		return decided(d, *asJSON, stdout, stderr)
	}
	path, err := dbPath(db.path)
	if err != nil {
		return fail("%v", err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fail("no database at %s: create apps and keys in the console first, or pass --db PATH", path)
	}
	// The process holding the file answers from its store; a free file is
	// read for this one key.
	err = local.Reach(path, func(c *local.Conn) (err error) {
		d, err = c.Verify(key, id)
		return err
	}, func() (err error) {
		d, err = bolt.VerifyFile(path, key, id, time.Now())
		return err
	})
	if errors.Is(err, store.ErrLocked) {
		return fail("%v; a running `apiscopes serve --http` answers the same question at POST /v1/verify", err)
	} else if err != nil {
		return fail("%v", err)
	}
	return decided(d, *asJSON, stdout, stderr)
}

// decided writes a decision as verify reports it and returns the exit
// status: 0 allowed, 1 denied, 2 unavailable.
func decided(d store.Decision, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		if err := writeJSONLine(stdout, api.NewResponse(d)); err != nil {
			fmt.Fprintf(stderr, "apiscopes verify: write the decision: %v\n", err)
			return 2
		}
	}
	// The stable reason first, for scripts; then what it means, for people,
	// with the stored names and hint it quotes escaped for the terminal.
	why := strings.TrimPrefix(strings.TrimPrefix(d.String(), "denied: "), "allowed: ")
	fmt.Fprintf(stderr, "%s: %s\n", d.Reason, store.SafeText(why))
	switch {
	case d.Reason == store.Unavailable:
		return 2
	case !d.Allowed:
		return 1
	}
	return 0
}

// verifyOnCluster decides on one key with a linearizable read of a
// cluster: nothing is loaded, and the check is not noted as a use.
func verifyOnCluster(db database, key string, id scopes.ID) (d store.Decision, err error) {
	eng, err := etcd.Open(db.config(-1))
	if err != nil {
		return d, err
	}
	defer eng.Close()
	err = eng.Read(context.Background(), func(snap store.Snapshot) (err error) {
		d, err = store.VerifySnapshot(snap, key, id, time.Now())
		return err
	})
	return d, err
}

// readKey takes the key from APISCOPES_KEY, or from stdin: typed without
// echo at a terminal, else the first line of what is piped in.
func readKey(stdin io.Reader, stderr io.Writer) (string, error) {
	if k := strings.TrimSpace(os.Getenv("APISCOPES_KEY")); k != "" {
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
