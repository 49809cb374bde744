package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"apiscopes/store"
)

// Call is a command line another process sent the holder to run on its
// store: the changes of app, key and apply, and the reads and follows of
// audit and usage. The holder takes the person from the kernel's word on
// the caller (SO_PEERCRED), never from anything the caller sends: the
// database's owner is an admin; root, who may read every file, is a
// viewer.
type Call struct {
	Store *store.Store
	Actor store.Actor

	Args     []string  // the command's words, without the database flags
	Stdin    io.Reader // what the caller sent with them (an apply file), at most MaxRunInput
	Terminal bool      // whether the caller's stdin is a terminal
	TZ       string    // the zone the caller shows times in

	Stdout, Stderr io.Writer // the caller's, through the socket
	// Ask puts a question to the caller's terminal and returns the line
	// typed.
	Ask func(question string) (string, error)
	// Deliver hands the caller output holding a new key's text, and
	// reports whether the caller wrote it where it asked (its stdout or
	// its --out file). An error means the key did not arrive.
	Deliver func(out []byte) error
}

// How long a running command waits for its caller.
const (
	// answerWait bounds a question put to a person at a terminal.
	answerWait = 10 * time.Minute
	// takenWait bounds the caller's word that it wrote a new key.
	takenWait = 30 * time.Second
)

// runCommand runs a command line for the caller on c: its output goes
// back as frames while the caller answers questions and confirms that a
// new key arrived; the last frame is its exit status. A caller that goes
// away cancels the command.
func (h *Holder) runCommand(c *net.UnixConn, out frames, req request, uid uint32, release func()) {
	if h.run == nil {
		out.fail(errors.New("this apiscopes process does not run commands for others; use the same version of apiscopes for both"))
		return
	}
	if req.Follow {
		select {
		case h.followers <- struct{}{}:
			defer func() { <-h.followers }()
			release() // a follower does not keep a place verify needs
		default:
			out.fail(fmt.Errorf("%d commands already follow the audit trail here; end one, or follow through apiscopes serve over SSH", MaxFollowers))
			return
		}
	}
	st, err := h.wait(out)
	if err != nil {
		out.fail(err)
		return
	}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	answers := make(chan []byte, 1)
	taken := make(chan []byte, 1)
	c.SetReadDeadline(time.Time{}) // the caller speaks only when asked, a person perhaps slowly
	go func() {
		defer cancel() // the caller went away, or broke the protocol
		for {
			kind, payload, err := readFrame(c, nil)
			if err != nil {
				return
			}
			to := answers
			switch kind {
			case frameAnswer:
			case frameTaken:
				to = taken
			default:
				return
			}
			select {
			case to <- payload:
			case <-ctx.Done():
				return
			}
		}
	}()
	stop := h.heartbeat(ctx, out, cancel)
	defer stop()

	call := Call{
		Store: st, Actor: peerActor(uid), Args: req.Args, Stdin: bytes.NewReader(req.Stdin),
		Terminal: req.Terminal, TZ: req.TZ,
		Stdout: frameWriter{out, frameStdout}, Stderr: frameWriter{out, frameStderr},
		Ask: func(q string) (string, error) {
			if err := out.write(frameAsk, []byte(q)); err != nil {
				return "", err
			}
			select {
			case a := <-answers:
				return string(a), nil
			case <-ctx.Done():
				return "", errors.New("the command's caller went away")
			case <-time.After(answerWait):
				return "", fmt.Errorf("no answer within %v", answerWait)
			}
		},
		Deliver: func(p []byte) error {
			if err := out.write(frameKey, p); err != nil {
				return err
			}
			select {
			case why := <-taken:
				if len(why) > 0 {
					return errors.New(string(why))
				}
				return nil
			case <-ctx.Done():
				return errors.New("the command's caller went away")
			case <-time.After(takenWait):
				return fmt.Errorf("the caller did not say within %v that it wrote the key", takenWait)
			}
		},
	}
	code := h.run(ctx, call)
	stop()
	out.result(result{Exit: &code})
}

// heartbeat tells the caller every heartbeat that the command still runs,
// and cancels it when the caller no longer takes frames; stop ends it.
func (h *Holder) heartbeat(ctx context.Context, out frames, cancel func()) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := out.write(frameWait, nil); err != nil {
					cancel()
					return
				}
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// frameWriter is a command's stdout or stderr, sent as frames of kind.
type frameWriter struct {
	out  frames
	kind byte
}

func (w frameWriter) Write(p []byte) (int, error) { return w.out.stream(w.kind, p) }

// peerActor is the person the kernel says is at the other end: the
// database's owner (the holder's own user) as an admin, root as a viewer.
func peerActor(uid uint32) store.Actor {
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil && u.Username != "" {
		name = u.Username
	}
	role := store.Admin
	if uid != uint32(os.Geteuid()) {
		role = store.Viewer
	}
	return store.Actor{Name: name, Role: role, Origin: "local"}
}
