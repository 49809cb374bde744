package local

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
)

// Conn is a command's connection to the process holding a database. It
// carries one request.
type Conn struct {
	c    *net.UnixConn
	path string
	buf  []byte
}

// Dial connects to the process holding the database at path, through the
// socket beside it, after checking that the socket and the process are the
// database owner's (see the package's doc). It fails with ErrNoHolder when
// no process answers there, and with an error matching ErrUnsafe when one
// might but the key will not be sent.
func Dial(path string) (*Conn, error) {
	p, err := locate(path)
	if err != nil {
		return nil, err
	}
	c, err := dial(p, FindTimeout)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, path: path}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// HolderError is a request the holder refused or could not answer.
type HolderError struct{ Msg string }

func (e *HolderError) Error() string { return e.Msg }

// HeldError is a database held by a process that local commands cannot
// ask: it does not answer beside the file, or it may not be trusted with a
// key. It matches store.ErrLocked.
type HeldError struct {
	Path string
	Why  error // why its socket was not used; nil: there is none
}

func (e *HeldError) Error() string {
	msg := (&store.LockedError{Path: e.Path}).Error()
	if e.Why != nil {
		return fmt.Sprintf("%s (local commands cannot ask it: %v)", msg, e.Why)
	}
	return msg + " (it does not answer local commands beside the file)"
}

func (e *HeldError) Is(target error) bool { return target == store.ErrLocked }
func (e *HeldError) Unwrap() error        { return e.Why }

// Reach runs viaHolder with a connection to the process holding the
// database at path, or viaFile when no process answers for it. viaFile
// must not wait for the file's lock: on a held file it fails with an error
// matching store.ErrLocked, and Reach looks for the holder again (one that
// is just starting, or just stopping) for up to FindTimeout. Then it fails
// with a *HeldError.
func Reach(path string, viaHolder func(*Conn) error, viaFile func() error) error {
	deadline := time.Now().Add(FindTimeout)
	var why error
	for {
		c, err := Dial(path)
		if err == nil {
			defer c.Close()
			return viaHolder(c)
		}
		if !errors.Is(err, ErrNoHolder) && !errors.Is(err, os.ErrNotExist) {
			why = err
		}
		err = viaFile()
		if !errors.Is(err, store.ErrLocked) {
			return err
		}
		if time.Now().After(deadline) {
			return &HeldError{Path: path, Why: why}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send writes the request.
func (c *Conn) send(req request) error {
	req.V = Version
	b := append(mustJSON(req), '\n')
	c.c.SetWriteDeadline(time.Now().Add(AnswerTimeout))
	if _, err := c.c.Write(b); err != nil {
		return c.lost(err)
	}
	return nil
}

// next reads the answer's next frame that is not a heartbeat; a final
// error frame becomes a *HolderError.
func (c *Conn) next() (byte, []byte, error) {
	for {
		c.c.SetReadDeadline(time.Now().Add(AnswerTimeout))
		kind, payload, err := readFrame(c.c, c.buf)
		if err != nil {
			return 0, nil, c.lost(err)
		}
		c.buf = payload[:0]
		switch kind {
		case frameWait:
			continue
		case frameError:
			var e errorBody
			if err := json.Unmarshal(payload, &e); err != nil || e.Error == "" {
				return 0, nil, c.garbled()
			}
			return 0, nil, &HolderError{Msg: e.Error}
		}
		return kind, payload, nil
	}
}

func (c *Conn) lost(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w within %v (%s): if it is a console stopped with ctrl+z, resume it with fg, then try again",
			ErrNoAnswer, AnswerTimeout, c.path)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the apiscopes process holding %s ended the answer early; try again", c.path)
	}
	return fmt.Errorf("asking the apiscopes process holding %s: %w", c.path, err)
}

func (c *Conn) garbled() error {
	return fmt.Errorf("the apiscopes process holding %s answered in a form this apiscopes does not read: "+
		"use the same version of apiscopes for both", c.path)
}

// final reads the result frame that ends an answer.
func (c *Conn) final(kind byte, payload []byte) (result, error) {
	var r result
	if kind != frameResult || json.Unmarshal(payload, &r) != nil || r.V != Version {
		return r, c.garbled()
	}
	return r, nil
}

// Verify asks the holder whether key may use scope from client, the
// address the key is used from (the zero Addr: unknown). The holder
// answers from its store, where the check counts as a use of the key.
func (c *Conn) Verify(key string, scope scopes.ID, client netip.Addr) (store.Decision, error) {
	return c.decide("verify", key, scope, client)
}

// Lookup is Verify for reports and scans: the holder decides the same way
// but does not note the check as a use of the key. It names no address.
func (c *Conn) Lookup(key string, scope scopes.ID) (store.Decision, error) {
	return c.decide("lookup", key, scope, netip.Addr{})
}

func (c *Conn) decide(op, key string, scope scopes.ID, client netip.Addr) (store.Decision, error) {
	// A key that is not one is refused here, by the rules every verify
	// follows; the holder is sent only the digest of one that may be.
	if !scopes.Known(scope) || store.CheckKey(key) != nil {
		return store.VerifySnapshot(nil, key, scope, client, time.Now())
	}
	digest := store.KeyDigest(key)
	req := request{Op: op, Digest: hex.EncodeToString(digest[:]), Scope: string(scope)}
	if client.IsValid() {
		req.Client = client.String()
	}
	if err := c.send(req); err != nil {
		return store.Decision{}, err
	}
	kind, payload, err := c.next()
	if err != nil {
		return store.Decision{}, err
	}
	r, err := c.final(kind, payload)
	if err != nil || r.Decision == nil {
		return store.Decision{}, c.garbled()
	}
	return *r.Decision, nil
}

// Audit streams the audit trail, newest first, to each; it returns how
// many events there were.
func (c *Conn) Audit(each func(store.Event) error) (int64, error) {
	return c.stream("audit", frameEvent, "events", func(payload []byte) (int64, error) {
		var ev store.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return 0, c.garbled()
		}
		return 1, each(ev)
	})
}

// Backup streams a consistent copy of the database to w and returns its
// size. The copy is whole only if the error is nil: check it before
// keeping it (bolt.CheckFile).
func (c *Conn) Backup(w io.Writer) (int64, error) {
	return c.stream("backup", frameBytes, "bytes", func(payload []byte) (int64, error) {
		n, err := w.Write(payload)
		return int64(n), err
	})
}

// stream asks for op and hands each frame of kind to take, which says how
// much it counted, until the final answer; that answer's count must match
// what was taken, or the stream was cut short.
func (c *Conn) stream(op string, kind byte, unit string, take func(payload []byte) (int64, error)) (int64, error) {
	if err := c.send(request{Op: op}); err != nil {
		return 0, err
	}
	var n int64
	for {
		k, payload, err := c.next()
		if err != nil {
			return n, err
		}
		if k != kind {
			r, err := c.final(k, payload)
			if err == nil && r.Count != n {
				err = fmt.Errorf("the apiscopes process holding %s sent %d of %d %s; try again", c.path, n, r.Count, unit)
			}
			return n, err
		}
		m, err := take(payload)
		n += m
		if err != nil {
			return n, err
		}
	}
}

// Check has the holder check its database from end to end (store.Check),
// and returns the database's name, how many apps it has and the head of
// its audit trail.
func (c *Conn) Check() (name string, apps int, head store.AuditHead, err error) {
	if err := c.send(request{Op: "check"}); err != nil {
		return "", 0, head, err
	}
	kind, payload, err := c.next()
	if err != nil {
		return "", 0, head, err
	}
	r, err := c.final(kind, payload)
	if r.Head != nil {
		head = *r.Head
	}
	return r.Name, r.Apps, head, err
}

// RunRequest is a command line for the holder to run on its store, as its
// own user's (see Call).
type RunRequest struct {
	Args     []string // the command's words, without the database flags
	Stdin    []byte   // at most MaxRunInput
	Terminal bool     // whether this process's stdin is a terminal
	TZ       string   // the zone times are shown in
	Follow   bool     // it follows the audit trail until ended
}

// RunIO is where a command run by the holder writes, and how it reaches
// the person who ran it.
type RunIO struct {
	Stdout, Stderr io.Writer
	// Ask asks the person at this terminal a question and returns the line
	// typed.
	Ask func(question string) (string, error)
	// Deliver writes output holding a new key's text where the command was
	// asked to put it; an error makes the holder delete the key.
	Deliver func(out []byte) error
}

// Run has the holder run req and returns the command's exit status. The
// command ends when ctx does: the connection closes, and the holder stops
// it.
func (c *Conn) Run(ctx context.Context, req RunRequest, rio RunIO) (int, error) {
	if len(req.Stdin) > MaxRunInput {
		return 0, fmt.Errorf("the input is over %d MiB: more than a command may send the process holding %s", MaxRunInput>>20, c.path)
	}
	stop := context.AfterFunc(ctx, func() { c.c.Close() })
	defer stop()
	err := c.send(request{Op: "run", Args: req.Args, Stdin: req.Stdin, Terminal: req.Terminal, TZ: req.TZ, Follow: req.Follow})
	for err == nil {
		var kind byte
		var payload []byte
		kind, payload, err = c.next()
		if err != nil {
			break
		}
		switch kind {
		case frameStdout:
			_, err = rio.Stdout.Write(payload)
		case frameStderr:
			_, err = rio.Stderr.Write(payload)
		case frameAsk:
			var line string
			if line, err = rio.Ask(string(payload)); err == nil {
				err = c.reply(frameAnswer, []byte(line))
			}
		case frameKey:
			var why []byte
			if werr := rio.Deliver(payload); werr != nil {
				why = []byte(werr.Error())
				if len(why) == 0 {
					why = []byte("not written")
				}
			}
			err = c.reply(frameTaken, why)
		default:
			r, ferr := c.final(kind, payload)
			if ferr != nil || r.Exit == nil {
				return 0, c.garbled()
			}
			return *r.Exit, nil
		}
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return 0, err
}

// reply sends the holder a frame while a command runs.
func (c *Conn) reply(kind byte, payload []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(AnswerTimeout))
	if err := writeFrame(c.c, kind, payload); err != nil {
		return c.lost(err)
	}
	return nil
}
