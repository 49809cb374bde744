package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"apiscopes/store"
)

// keyRef is how a command names one key: APP NAME (two arguments), id:N,
// the key's own text read from stdin (--text -), or, at a terminal only,
// its hint when exactly one key has it. A hint alone is not an identifier:
// four characters collide among many keys.
type keyRef struct {
	text   string // --text: "-" reads the key itself from stdin
	digest string // --digest: the key's SHA-256, as forward sends --text to the holder
	args   []string

	sum *[32]byte // the digest of the key read with --text
}

// register adds --text (and the hidden --digest) to cmd.
func (r *keyRef) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.text, "text", "", "name the key by its text, read from stdin (give -): the way to act on a leaked key scan found")
	cmd.Flags().StringVar(&r.digest, "digest", "", "the key's SHA-256 (hex), as a holder of the database is sent --text")
	cmd.Flags().MarkHidden("digest")
	markClientOnly(cmd, "text")
}

// refUse is the usage of a key argument, for help.
const refUse = "(APP NAME | id:N | --text -)"

// args checks the words that name the key.
func (r *keyRef) checkArgs(cmd *cobra.Command, args []string) error {
	byText := r.text != "" || r.digest != ""
	switch {
	case r.text != "" && r.text != "-":
		return usagef(cmd, "--text takes -, and reads the key from stdin: a key given on the command line is seen by other users of the machine")
	case byText && len(args) > 0:
		return usagef(cmd, "name the key one way: --text - reads it from stdin, without APP NAME or id:N")
	case !byText && len(args) == 0:
		return usagef(cmd, "which key? give APP NAME, id:N, or --text - with the key on stdin")
	case len(args) > 2:
		return usagef(cmd, "unexpected argument %q: a key is APP NAME, id:N, or --text -", args[2])
	}
	r.args = args
	return nil
}

// readText reads the key named by --text - from stdin, before the command
// asks the store anything: the key must be the only one there (a whole
// .env file is fine). A command sent to the database's holder then sends
// only the key's digest.
func (r *keyRef) readText(inv *invocation) error {
	if r.text != "-" {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(inv.stdin, maxTextInput+1))
	if err != nil {
		return failf(ExitUsage, "read the key from stdin: %v", err)
	}
	if len(data) > maxTextInput {
		return failf(ExitUsage, "stdin holds more than %d KiB: give the file or the line that holds the key", maxTextInput>>10)
	}
	// The key is found as scan finds it: however it is written (escaped, in
	// base64, UTF-16, a gzip file), so what scan reported can be piped here.
	found, err := scanReader("(stdin)", bytes.NewReader(data))
	if err != nil {
		return failf(ExitUsage, "read the key from stdin: %v", err)
	}
	var keys []string
	for _, f := range found {
		if !slices.Contains(keys, f.key) {
			keys = append(keys, f.key)
		}
	}
	switch len(keys) {
	case 0:
		if hint, ok := store.KeyShapeHint(strings.TrimSpace(string(data))); ok {
			return failf(ExitRefused, "%s is not a whole key (a wrong checksum, or cut short): nothing to act on", hint)
		}
		return failf(ExitRefused, "no API key on stdin: pipe the key, or the file scan found it in")
	case 1:
	default:
		var hints []string
		for _, k := range keys {
			h, _ := store.KeyShapeHint(k)
			hints = append(hints, h)
		}
		return failf(ExitRefused, "stdin holds %d keys (%s): give one at a time", len(keys), strings.Join(hints, ", "))
	}
	sum := store.KeyDigest(keys[0])
	r.sum = &sum
	inv.sent.flags = map[string]string{"digest": hex.EncodeToString(sum[:])}
	return nil
}

// maxTextInput is the most --text - reads: a key, or a file holding one.
const maxTextInput = 1 << 20

// find is the key r names in st.
func (r *keyRef) find(ctx context.Context, inv *invocation, st *store.Store) (store.Key, error) {
	switch {
	case r.sum != nil:
		return keyByDigest(ctx, st, *r.sum)
	case r.digest != "":
		b, err := hex.DecodeString(r.digest)
		if err != nil || len(b) != 32 {
			return store.Key{}, failf(ExitUsage, "--digest: 64 hexadecimal digits")
		}
		return keyByDigest(ctx, st, [32]byte(b))
	case len(r.args) == 2:
		app, err := findApp(ctx, st, r.args[0])
		if err != nil {
			return store.Key{}, err
		}
		k, err := st.KeyNamed(ctx, app.ID, r.args[1])
		if errors.Is(err, store.ErrNotFound) {
			return k, failf(ExitRefused, "app %q has no key named %q%s", store.SafeText(app.Name), store.SafeText(r.args[1]),
				keyCandidates(ctx, st, app.ID))
		}
		return k, refusedIf(err)
	}
	arg := r.args[0]
	if n, ok := strings.CutPrefix(arg, "id:"); ok {
		var id uint64
		if _, err := fmt.Sscan(n, &id); err != nil || fmt.Sprint(id) != n {
			return store.Key{}, failf(ExitUsage, "%q: a key's id is id: and a number, e.g. id:42", arg)
		}
		k, err := st.Key(ctx, id)
		return k, refusedIf(err)
	}
	if hint, ok := hintOf(arg); ok {
		return r.byHint(ctx, inv, st, hint)
	}
	return store.Key{}, failf(ExitUsage, "%q is not a key: give APP NAME (two words), id:N, or --text - with the key on stdin", store.SafeText(arg))
}

func keyByDigest(ctx context.Context, st *store.Store, sum [32]byte) (store.Key, error) {
	k, err := st.KeyByDigest(ctx, sum)
	return k, refusedIf(err)
}

// byHint finds the one key with a hint, for a person at a terminal only.
func (r *keyRef) byHint(ctx context.Context, inv *invocation, st *store.Store, hint string) (store.Key, error) {
	if !inv.isTerminal() {
		return store.Key{}, failf(ExitUsage, "%s is a hint, not a key's name: scripts name a key by APP NAME, id:N or --text -", hint)
	}
	keys, err := st.KeysWithHint(ctx, hint)
	if err != nil {
		return store.Key{}, refused(err)
	}
	switch len(keys) {
	case 0:
		return store.Key{}, failf(ExitRefused, "no key has the hint %s", hint)
	case 1:
		return keys[0], nil
	}
	var c []string
	for _, k := range keys {
		c = append(c, keyLabel(ctx, st, k))
	}
	return store.Key{}, failf(ExitRefused, "%d keys have the hint %s: name one by id: %s", len(keys), hint, strings.Join(c, ", "))
}

// hintOf reports whether arg is a key's hint: aps_…XXXX (or aps_...XXXX).
func hintOf(arg string) (string, bool) {
	rest, ok := strings.CutPrefix(arg, store.KeyPrefix)
	if !ok {
		return "", false
	}
	for _, dots := range []string{"…", "..."} {
		if tail, ok := strings.CutPrefix(rest, dots); ok && len(tail) == 4 && isBase62(tail) {
			return store.KeyPrefix + "…" + tail, true
		}
	}
	return "", false
}

func isBase62(s string) bool {
	for _, c := range []byte(s) {
		if !isKeyByte(c) || c == '_' {
			return false
		}
	}
	return true
}

// keyLabel names a key for a list of candidates: by id, app and name, and
// its hint beside them, never alone.
func keyLabel(ctx context.Context, st *store.Store, k store.Key) string {
	app := fmt.Sprintf("app %d", k.AppID)
	if a, err := st.App(ctx, k.AppID); err == nil {
		app = fmt.Sprintf("%q", store.SafeText(a.Name))
	}
	return fmt.Sprintf("id:%d %s/%q (%s)", k.ID, app, store.SafeText(k.Name), k.Hint)
}

// keyCandidates lists an app's keys, for a name that matched none.
func keyCandidates(ctx context.Context, st *store.Store, appID uint64) string {
	keys, err := st.Keys(ctx, appID)
	if err != nil || len(keys) == 0 {
		return ": it has no keys"
	}
	var c []string
	for _, k := range keys {
		c = append(c, fmt.Sprintf("id:%d %q", k.ID, store.SafeText(k.Name)))
	}
	if len(c) > 10 {
		c = append(c[:10], fmt.Sprintf("and %d more", len(c)-10))
	}
	return "; its keys: " + strings.Join(c, ", ")
}

// refusedIf is refused for a non-nil error.
func refusedIf(err error) error {
	if err == nil {
		return nil
	}
	return refused(err)
}
