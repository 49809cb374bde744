package server

import (
	"io"
	"sync"
)

// inputRelay reads a session's input once and hands it to one console at
// a time. Bubble Tea cannot interrupt a read in progress on an SSH
// session, so a console that ends leaves its last read waiting and would
// swallow the next keystroke; a demoted session's reopened console must
// get every key. The relay's reader for a console that has ended returns
// EOF instead, and leaves what it was given to the next one.
type inputRelay struct {
	chunks chan []byte
	stop   chan struct{}

	mu       sync.Mutex
	leftover []byte // given to a console that had ended: the next one's
}

// newInputRelay starts reading r; stop ends it once the session is over.
func newInputRelay(r io.Reader) *inputRelay {
	in := &inputRelay{chunks: make(chan []byte), stop: make(chan struct{})}
	go func() {
		defer close(in.chunks)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case in.chunks <- append([]byte(nil), buf[:n]...):
				case <-in.stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return in
}

// close lets the relay's reading end; a read in progress ends with the
// session.
func (in *inputRelay) close() { close(in.stop) }

// reader is the input of one console, until done is closed.
func (in *inputRelay) reader(done <-chan struct{}) io.Reader {
	return &relayReader{in: in, done: done}
}

type relayReader struct {
	in   *inputRelay
	done <-chan struct{}
}

func (r *relayReader) Read(p []byte) (int, error) {
	in := r.in
	in.mu.Lock()
	if len(in.leftover) > 0 {
		n := copy(p, in.leftover)
		in.leftover = in.leftover[n:]
		in.mu.Unlock()
		return n, nil
	}
	in.mu.Unlock()
	select {
	case <-r.done:
		return 0, io.EOF
	case b, ok := <-in.chunks:
		if !ok {
			return 0, io.EOF
		}
		select {
		case <-r.done: // this console ended meanwhile: the input is the next one's
			in.mu.Lock()
			in.leftover = append(in.leftover, b...)
			in.mu.Unlock()
			return 0, io.EOF
		default:
		}
		n := copy(p, b)
		if n < len(b) {
			in.mu.Lock()
			in.leftover = append(b[n:], in.leftover...)
			in.mu.Unlock()
		}
		return n, nil
	}
}
