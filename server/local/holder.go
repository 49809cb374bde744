package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"apiscopes/scopes"
	"apiscopes/store"
	"apiscopes/store/bolt"
)

// Options configure OpenStore.
type Options struct {
	// Timeout is how long one attempt waits for the file's lock (one
	// second if zero).
	Timeout time.Duration
	// ReaderWait is how long OpenStore keeps trying while only commands
	// reading the file hold it, each for a moment under a shared lock (ten
	// seconds if zero; never less than Timeout).
	ReaderWait time.Duration
	// Run runs a command line another process sent (see Call) and returns
	// its exit status; nil: the holder answers no command lines.
	Run func(ctx context.Context, c Call) int
	// Check is how much of the file is checked, and when
	// (store.WithOpenCheck): with store.CheckFirst, the default, the
	// file's pages and then its records before OpenStore returns; with
	// store.CheckBehind, both in the background once the index is loaded,
	// changes waiting for them; with store.CheckTail, what a change builds
	// on.
	Check store.OpenCheck
}

// Holder is a database opened for writing, answering local commands on the
// socket beside its file.
type Holder struct {
	eng *bolt.Engine
	st  *store.Store // set before ready is closed
	p   place

	ln        *net.UnixListener
	ino       uint64
	listenErr error

	ready   chan struct{} // closed once the store is open, or failed to
	openErr error

	run       func(context.Context, Call) int
	followers chan struct{} // a place for each command following the audit trail

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stopOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// OpenStore opens the database file at path for writing, as bolt.OpenStore
// does, and answers local commands for it until Close. It listens as soon
// as it holds the file's lock, before the file's check and the store's
// load, so that commands are never left without an answer while a large
// file opens: verify is answered from the file meanwhile, and the others
// once the store is open. A file locked by another holder fails within
// o.Timeout with a store.LockedError; one that commands are reading is
// tried again for up to o.ReaderWait. When the holder cannot listen (see
// Listening), the store works all the same.
func OpenStore(path string, o Options, opts ...store.Option) (*Holder, error) {
	e, err := lock(path, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Holder{eng: e, ready: make(chan struct{}), ctx: ctx, cancel: cancel, run: o.Run,
		followers: make(chan struct{}, MaxFollowers)}
	h.listen(path)
	fail := func(err error) (*Holder, error) {
		h.openErr = err
		close(h.ready)
		h.stop()
		e.Close()
		return nil, err
	}
	if o.Check == store.CheckFirst {
		if err := e.CheckMedium(); err != nil {
			return fail(err)
		}
	}
	beforeStore()
	opts = append([]store.Option{store.WithName(path), store.WithMigrationBackup(e.KeepCopy), store.WithOpenCheck(o.Check)}, opts...)
	st, err := store.New(e, opts...)
	if err != nil {
		return fail(err)
	}
	h.st = st
	close(h.ready)
	return h, nil
}

// beforeStore is called between the file's check and the store's opening:
// tests stop there to find a holder still opening.
var beforeStore = func() {}

// lock opens the file with its lock. A file another holder has is given
// up on after o.Timeout, as bolt.Open does; a file that commands are
// reading (under shared locks, a moment each) is tried again for up to
// o.ReaderWait, so that a stream of commands cannot keep a console out.
func lock(path string, o Options) (*bolt.Engine, error) {
	timeout, wait := o.Timeout, o.ReaderWait
	if timeout <= 0 {
		timeout = time.Second
	}
	if wait == 0 {
		wait = 10 * time.Second
	}
	wait = max(wait, timeout)
	start := time.Now()
	for {
		e, err := bolt.Open(path, bolt.Options{Timeout: time.Nanosecond, SkipPageCheck: true, MakePrivate: true})
		if !errors.Is(err, store.ErrLocked) {
			return e, err
		}
		waited := time.Since(start)
		if waited >= wait || waited >= timeout && writerHolds(path) {
			return nil, err
		}
		time.Sleep(lockRetry)
	}
}

// lockRetry is how often a writer tries the lock again.
const lockRetry = 20 * time.Millisecond

// listen binds the socket and starts answering, or notes why it cannot.
func (h *Holder) listen(path string) {
	p, err := locate(path)
	if err == nil {
		h.p = p
		h.ln, h.ino, err = listen(p)
	}
	if err != nil {
		h.listenErr = err
		return
	}
	h.wg.Add(1)
	go h.accept()
}

// Store is the open store.
func (h *Holder) Store() *store.Store { return h.st }

// MadePrivate reports the mode the file had when the holder found group or
// others let in (0 if not), and why it could not make it private (0600),
// if it could not: the caller warns about either.
func (h *Holder) MadePrivate() (was os.FileMode, err error) { return h.eng.MadePrivate() }

// Listening returns the socket local commands reach the holder on, or why
// they cannot (a folder others can write, a file system without sockets).
func (h *Holder) Listening() (string, error) {
	if h.listenErr != nil {
		return "", h.listenErr
	}
	return h.p.sock, nil
}

// Close stops answering, removes the socket and closes the store. Calling
// it again does nothing.
func (h *Holder) Close() error {
	h.closeOnce.Do(func() {
		h.stop()
		h.closeErr = h.st.Close()
	})
	return h.closeErr
}

// stop ends the accept loop and every answer in progress, and removes the
// socket while the file's lock is still held.
func (h *Holder) stop() {
	h.stopOnce.Do(func() {
		h.cancel()
		if h.ln != nil {
			h.ln.Close()
		}
		h.wg.Wait()
		if h.ln != nil {
			remove(h.p, h.ino)
		}
	})
}

func (h *Holder) accept() {
	defer h.wg.Done()
	slots := make(chan struct{}, MaxConns)
	for {
		select {
		case slots <- struct{}{}:
		case <-h.ctx.Done():
			return
		}
		c, err := h.ln.AcceptUnix()
		if err != nil {
			<-slots
			if h.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors: let answers finish
			continue
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			var once sync.Once
			release := func() { once.Do(func() { <-slots }) }
			defer release()
			defer c.Close()
			h.answer(c, release)
		}()
	}
}

// frames writes an answer's frames, each within writeTimeout; a command
// running writes from more than one goroutine.
type frames struct {
	c  *net.UnixConn
	mu *sync.Mutex
}

func (f frames) write(kind byte, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return writeFrame(f.c, kind, payload)
}

func (f frames) fail(err error) {
	f.write(frameError, mustJSON(errorBody{V: Version, Error: err.Error()}))
}

func (f frames) result(r result) {
	r.V = Version
	f.write(frameResult, mustJSON(r))
}

// Write makes frames an io.Writer of backup bytes.
func (f frames) Write(p []byte) (int, error) { return f.stream(frameBytes, p) }

// stream writes p as frames of kind, in pieces a frame holds.
func (f frames) stream(kind byte, p []byte) (int, error) {
	const chunk = 64 << 10
	n := 0
	for len(p) > 0 {
		part := p[:min(len(p), chunk)]
		if err := f.write(kind, part); err != nil {
			return n, err
		}
		n += len(part)
		p = p[len(part):]
	}
	return n, nil
}

// answer serves one command: one request, one answer. release gives up
// the command's place among MaxConns, for one that follows the trail.
func (h *Holder) answer(c *net.UnixConn, release func()) {
	out := frames{c: c, mu: new(sync.Mutex)}
	uid, err := peerUID(c)
	if err != nil || uid != uint32(os.Geteuid()) && uid != 0 {
		out.fail(errors.New("this apiscopes process answers only commands of its own user"))
		return
	}
	c.SetReadDeadline(time.Now().Add(AnswerTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(c, maxRequest), 4<<10).ReadBytes('\n')
	if err != nil {
		out.fail(errors.New("the request did not arrive whole"))
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		out.fail(errors.New("the request is not valid JSON"))
		return
	}
	if req.V != Version {
		out.fail(fmt.Errorf("this apiscopes speaks protocol version %d, the command %d: use the same version of apiscopes for both", Version, req.V))
		return
	}
	switch req.Op {
	case "run":
		h.runCommand(c, out, req, uid, release)
	case "verify", "lookup":
		h.verify(out, req)
	case "audit", "backup", "check":
		st, err := h.wait(out)
		if err != nil {
			out.fail(err)
			return
		}
		switch req.Op {
		case "audit":
			auditTo(h.ctx, out, st)
		case "backup":
			n, err := bolt.WriteBackup(st, out)
			if err != nil {
				out.fail(fmt.Errorf("backup: %w", err))
				return
			}
			out.result(result{Count: n})
		case "check":
			h.check(h.ctx, out, st)
		}
	default:
		out.fail(fmt.Errorf("unknown request %q", req.Op))
	}
}

// verify answers from the store, where the check counts as a use of the
// key; while the store is still opening, from the file. The command sends
// the key's digest, never its text.
func (h *Holder) verify(out frames, req request) {
	scope := scopes.ID(req.Scope)
	b, err := hex.DecodeString(req.Digest)
	if err != nil || len(b) != sha256.Size {
		out.fail(errors.New("the request names no key digest; use the same version of apiscopes for both"))
		return
	}
	digest := [sha256.Size]byte(b)
	var client netip.Addr
	if req.Client != "" {
		if client, err = netip.ParseAddr(req.Client); err != nil {
			out.fail(errors.New("the request's client address is not an IP address"))
			return
		}
	}
	var d store.Decision
	select {
	case <-h.ready:
		if h.openErr != nil {
			out.fail(h.openFailed())
			return
		}
		if req.Op == "lookup" {
			d = h.st.LookupDigest(digest, scope) // for reports and scans: not a use
		} else {
			d = h.st.VerifyDigest(digest, scope, client)
		}
	default:
		if d, err = bolt.ReadDecisionDigest(h.eng, digest, scope, client, time.Now()); err != nil {
			out.fail(err)
			return
		}
	}
	out.result(result{Decision: &d})
}

// wait returns the store once it is open, telling the command meanwhile
// that the answer is coming.
func (h *Holder) wait(out frames) (*store.Store, error) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-h.ready:
			if h.openErr != nil {
				return nil, h.openFailed()
			}
			return h.st, nil
		case <-h.ctx.Done():
			return nil, errClosing
		case <-t.C:
			if err := out.write(frameWait, nil); err != nil {
				return nil, err
			}
		}
	}
}

var errClosing = errors.New("the apiscopes process holding the database is closing it; try again")

func (h *Holder) openFailed() error {
	return fmt.Errorf("the apiscopes process holding the database could not open it: %w", h.openErr)
}

func auditTo(ctx context.Context, out frames, st *store.Store) {
	var n int64
	err := st.EachEvent(ctx, func(ev store.Event) error {
		n++
		return out.write(frameEvent, mustJSON(ev))
	})
	if err != nil {
		out.fail(fmt.Errorf("audit: %w", err))
		return
	}
	out.result(result{Count: n})
}

// check runs the store's whole check, which takes a while on a large
// database, telling the command meanwhile that the answer is coming.
func (h *Holder) check(ctx context.Context, out frames, st *store.Store) {
	type outcome struct {
		apps int
		head store.AuditHead
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		err := st.Check(ctx)
		var apps []store.App
		var head store.AuditHead
		if err == nil {
			apps, err = st.Apps(ctx)
		}
		if err == nil {
			head, err = st.VerifyAudit(ctx)
		}
		done <- outcome{len(apps), head, err}
	}()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case o := <-done:
			if o.err != nil {
				out.fail(o.err)
				return
			}
			out.result(result{Apps: o.apps, Name: st.Name(), Head: &o.head})
			return
		case <-t.C:
			if err := out.write(frameWait, nil); err != nil {
				<-done
				return
			}
		}
	}
}
