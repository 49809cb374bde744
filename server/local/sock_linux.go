//go:build linux

package local

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSunPath is the longest path a unix socket address holds: 108 bytes
// with the terminating zero.
const maxSunPath = 107

// listenUnix makes a listener: tests make it fail as a file system without
// sockets does.
var listenUnix = func(addr string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
}

// fakePeer, when set, stands in for the kernel's word on who is at the
// other end of a connection: tests play another user with it.
var fakePeer atomic.Pointer[func(*net.UnixConn) (uint32, error)]

// peerUID is the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (uint32, error) {
	if f := fakePeer.Load(); f != nil {
		return (*f)(c)
	}
	return peerCred(c)
}

// peerCred is the uid of the process at the other end of c, as the kernel
// recorded it when the connection was made (SO_PEERCRED): it cannot be
// forged by the peer.
func peerCred(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// checkFolder refuses a folder in which someone other than owner (or root)
// could put a socket of their own: one group or others can write, or that
// belongs to another user.
func checkFolder(dir string, owner uint32) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafe, err)
	}
	switch {
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w: others can write its folder %s", ErrUnsafe, dir)
	case st.Uid != owner && st.Uid != 0:
		return fmt.Errorf("%w: its folder %s belongs to another user", ErrUnsafe, dir)
	}
	return nil
}

// address is a path to the socket that fits a socket address: the path
// itself, or, when that is too long, the socket's name in the folder as
// /proc/self/fd/N names it (N an open descriptor of the folder, closed by
// done once the socket is bound or connected).
func address(p place) (addr string, done func(), err error) {
	if len(p.sock) <= maxSunPath {
		return p.sock, func() {}, nil
	}
	fd, err := unix.Open(p.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("/proc/self/fd/%d/%s", fd, p.base)
	if len(addr) > maxSunPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("%w: the file name is too long for a socket beside it", ErrNoSocket)
	}
	return addr, func() { unix.Close(fd) }, nil
}

// dial connects to the socket beside the database, after checking that
// only the database's owner could have put it there and that the process
// answering is the owner's. Without a socket, or with one no process
// listens on (left by a process that was killed), it returns ErrNoHolder.
func dial(p place, timeout time.Duration) (*net.UnixConn, error) {
	if err := checkFolder(p.dir, p.owner); err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(p.sock, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, ErrNoHolder
		}
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("%w: %s is not a socket", ErrUnsafe, p.sock)
	}
	if st.Uid != p.owner {
		return nil, fmt.Errorf("%w: the socket %s belongs to another user than the database", ErrUnsafe, p.sock)
	}
	addr, done, err := address(p)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("unix", addr, timeout)
	done()
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoHolder
		}
		return nil, err
	}
	uc := c.(*net.UnixConn)
	uid, err := peerUID(uc)
	if err != nil {
		uc.Close()
		return nil, err
	}
	if uid != p.owner {
		uc.Close()
		return nil, fmt.Errorf("%w: the process at %s runs as another user than the database's owner", ErrUnsafe, p.sock)
	}
	return uc, nil
}

// listen binds the socket beside the database. It must be called while
// holding the database's lock: only then is a socket already there known
// to be stale, and removed. It returns the listener and the socket's inode,
// so that it is removed later only if it is still this one.
func listen(p place) (*net.UnixListener, uint64, error) {
	if uint32(os.Geteuid()) != p.owner {
		return nil, 0, fmt.Errorf("%w: this process runs as another user than the database's owner", ErrUnsafe)
	}
	if err := checkFolder(p.dir, p.owner); err != nil {
		return nil, 0, err
	}
	var st unix.Stat_t
	switch err := unix.Lstat(p.sock, &st); {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK:
		if err := unix.Unlink(p.sock); err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, 0, fmt.Errorf("%w: remove the stale socket: %v", ErrNoSocket, err)
		}
	case err == nil:
		return nil, 0, fmt.Errorf("%w: %s exists and is not a socket", ErrNoSocket, p.sock)
	case !errors.Is(err, unix.ENOENT):
		return nil, 0, fmt.Errorf("%w: %w", ErrNoSocket, err)
	}
	addr, done, err := address(p)
	if err != nil {
		return nil, 0, err
	}
	ln, err := listenUnix(addr)
	done()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNoSocket, err)
	}
	ln.SetUnlinkOnClose(false) // by inode, in remove: the address may be a /proc path
	if err := unix.Chmod(p.sock, 0o600); err != nil {
		ln.Close()
		unix.Unlink(p.sock)
		return nil, 0, fmt.Errorf("%w: %w", ErrNoSocket, err)
	}
	if err := unix.Lstat(p.sock, &st); err != nil {
		ln.Close()
		return nil, 0, fmt.Errorf("%w: %w", ErrNoSocket, err)
	}
	return ln, st.Ino, nil
}

// remove deletes the socket if it is still the one with inode ino.
func remove(p place, ino uint64) {
	var st unix.Stat_t
	if err := unix.Lstat(p.sock, &st); err == nil && st.Ino == ino && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		unix.Unlink(p.sock)
	}
}

// owner is the uid that owns the file described by fi.
func owner(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// writerHolds reports whether a process holds the file at path for
// writing (an exclusive lock), rather than commands reading it (shared
// locks), by trying a shared lock for a moment.
func writerHolds(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	unix.Flock(fd, unix.LOCK_UN)
	return false
}
