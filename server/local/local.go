// Package local lets the command line's read commands (verify, audit,
// backup, check) work while a console or `apiscopes serve` holds the
// database file.
//
// A process that opens the file for writing (the holder) listens on a unix
// socket beside it, NAME.sock, bound only once it holds the file's lock;
// a socket found there before is stale and is removed under that lock. A
// command sends the holder its request and gets the answer from the
// holder's store: a verify through the socket counts as a use of the key,
// as one over HTTP does. The command sends a key's text to whatever listens
// there, so before it does it refuses a folder others can write, a socket
// that is not the database owner's, and a peer the kernel says runs as
// another user (SO_PEERCRED). A holder that does not answer within
// AnswerTimeout (a console stopped with ctrl+z) fails the command rather
// than hanging it.
//
// When no process holds the file, Reach runs the command's own read of it
// instead; verify's is bolt.VerifyFile, a point lookup that notes no use.
package local

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"apiscopes/store"
)

// Version is the protocol a command speaks to a holder. A holder answers a
// request of another version with an error frame, which every version
// reads the same way.
const Version = 2

// Timeouts and limits.
const (
	// FindTimeout is how long a command looks for a holder's socket or a
	// free file before it says the file is held by a process it cannot ask.
	FindTimeout = time.Second
	// AnswerTimeout is the longest a holder may stay silent: a holder
	// sends a frame at least every heartbeat while it works on an answer.
	AnswerTimeout = 2 * time.Second
	heartbeat     = 500 * time.Millisecond
	// MaxConns is how many commands a holder serves at once; more wait
	// their turn.
	MaxConns = 32
	// maxRequest bounds a request line: a command's words and its stdin
	// (an apply file), base64 in JSON, with room to spare.
	maxRequest = MaxRunInput*4/3 + 64<<10
	// MaxRunInput bounds the stdin a command sends with its words.
	MaxRunInput = 4 << 20
	// MaxFollowers is how many commands following the audit trail a
	// holder serves at once, beside the MaxConns others: followers never
	// take the places verify needs.
	MaxFollowers = 8
	// maxFrame bounds one frame's payload.
	maxFrame = 1 << 20
	// writeTimeout is how long a holder waits for a command to take a
	// frame; a command that stops reading is dropped.
	writeTimeout = 5 * time.Second
)

// Errors of reaching a holder.
var (
	// ErrNoHolder: no process listens beside the file.
	ErrNoHolder = errors.New("no apiscopes process answers for the database")
	// ErrUnsafe: a socket is there, but a key will not be sent to it.
	ErrUnsafe = errors.New("local commands will not use the socket")
	// ErrNoSocket: a holder cannot listen beside this file.
	ErrNoSocket = errors.New("no socket beside the database")
	// ErrNoAnswer: the holder went silent (stopped, or stuck).
	ErrNoAnswer = errors.New("the apiscopes process holding the database did not answer")
)

// place is where a database and its socket are.
type place struct {
	db    string // the database file, symbolic links resolved
	dir   string
	base  string // the socket's name in dir
	sock  string
	owner uint32 // uid of the database's owner
}

// SocketPath is the socket beside the database file at path.
func SocketPath(path string) string { return path + ".sock" }

// locate resolves the database at path (it must exist) and its socket.
func locate(path string) (place, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return place{}, err
	}
	if real, err = filepath.Abs(real); err != nil {
		return place{}, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return place{}, err
	}
	sock := SocketPath(real)
	return place{db: real, dir: filepath.Dir(sock), base: filepath.Base(sock), sock: sock, owner: owner(fi)}, nil
}

// request is what a command asks, as one JSON line.
type request struct {
	V      int    `json:"v"`
	Op     string `json:"op"`               // verify, lookup, audit, backup, check, run
	Digest string `json:"digest,omitempty"` // verify, lookup: the key's SHA-256, hex; never its text
	Scope  string `json:"scope,omitempty"`
	Client string `json:"client,omitempty"` // verify: the address the key is used from, if known

	// run: a command line for the holder to run (see RunRequest).
	Args     []string `json:"args,omitempty"`
	Stdin    []byte   `json:"stdin,omitempty"`
	Terminal bool     `json:"terminal,omitempty"`
	TZ       string   `json:"tz,omitempty"`
	Follow   bool     `json:"follow,omitempty"`
}

// The answer is a sequence of frames: a kind byte, a big-endian 32-bit
// length, the payload. It ends with a result or an error frame.
const (
	frameWait   = 'w' // still working (no payload)
	frameBytes  = 'b' // a piece of a backup
	frameEvent  = 'e' // an audit event, JSON
	frameResult = 'r' // the answer, JSON: the last frame
	frameError  = 'x' // the request failed, JSON errorBody: the last frame

	// run: the command's output, and what it needs of the caller.
	frameStdout = 'o' // a piece of its stdout
	frameStderr = 'E' // a piece of its stderr
	frameAsk    = 'q' // a question for the caller's terminal; the caller answers with frameAnswer
	frameKey    = 'k' // output holding a new key; the caller answers with frameTaken

	// Sent by the caller while a command runs.
	frameAnswer = 'a' // the line typed at the question
	frameTaken  = 'K' // the key's output was written (empty), or why not
)

// result is the payload of a result frame.
type result struct {
	V        int              `json:"v"`
	Decision *store.Decision  `json:"decision,omitempty"` // verify
	Count    int64            `json:"count,omitempty"`    // audit: events; backup: bytes
	Apps     int              `json:"apps,omitempty"`     // check
	Name     string           `json:"name,omitempty"`
	Head     *store.AuditHead `json:"head,omitempty"` // check: the audit trail's newest event
	Exit     *int             `json:"exit,omitempty"` // run: the command's exit status
}

type errorBody struct {
	V     int    `json:"v"`
	Error string `json:"error"`
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	// One write for the frame: a frame of no payload must not add a write
	// of nothing, which fails on a connection its peer has just closed.
	b := make([]byte, 5+len(payload))
	b[0] = kind
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	copy(b[5:], payload)
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader, buf []byte) (kind byte, payload []byte, err error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("a frame of %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return head[0], buf, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("local: encode %T: %v", v, err))
	}
	return b
}
