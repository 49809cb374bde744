package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"sort"

	"apiscopes/store"
)

// pageFile reads single records of a bbolt file (format version 2) with a
// few positioned reads, the way bbolt's Bucket.Get finds them, without
// mapping the file: a point lookup then costs the same in a file of any
// size. bbolt maps the whole file and touches each page it reads through
// a page fault, and unmaps it on close, which in a large file costs more
// than the lookup itself.
//
// It is a store.Snapshot for Get only. It trusts nothing it reads: every
// offset and page is checked against the file, and anything unexpected is
// errOdd, after which the caller asks bbolt itself.
type pageFile struct {
	f        *os.File
	size     int64
	pageSize uint64
	high     uint64 // the page id above every page in use
	root     uint64 // the root bucket's page
	pages    map[uint64][]byte
}

// bbolt's layout beyond the meta page's (preflight.go), from
// go.etcd.io/bbolt/internal/common: native byte order.
const (
	elementSize    = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeader   = 16 // root pgid u64, sequence u64
	branchPage     = 0x01
	leafPage       = 0x02
	bucketLeafFlag = 0x01
	maxDepth       = 64 // deeper than any real tree: a loop in a damaged file
)

var ne = binary.NativeEndian

// errOdd is a file this reader does not follow: damaged, foreign, or laid
// out in a way it does not expect. bbolt then decides.
var errOdd = errors.New("the file is not laid out as expected")

// errNoScan: the reader finds single records only.
var errNoScan = errors.New("a point lookup reads single records")

// openPages opens the file at path under a shared lock, taken at once or
// not at all (a store.LockedError: a process holds the file for writing),
// and reads its current meta page. Close releases it.
func openPages(path string) (*pageFile, error) {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := tryLockShared(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &store.LockedError{Path: path}
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &pageFile{f: f, size: fi.Size(), pages: map[uint64][]byte{}}
	if err := p.readMeta(); err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the lock and the file.
func (p *pageFile) Close() error { return p.f.Close() }

// readMeta picks the meta page bbolt would: the valid one with the higher
// transaction id. The second meta page sits one page in, at the size the
// first one names or, if the first is damaged, at one of the usual sizes.
func (p *pageFile) readMeta() error {
	type meta struct {
		ok                   bool
		pageSize, root, high uint64
		txid                 uint64
	}
	read := func(off int64) (m meta) {
		b := make([]byte, boltPageHeader+64)
		if _, err := p.f.ReadAt(b, off); err != nil {
			return m
		}
		f := b[boltPageHeader:]
		h := fnv.New64a()
		h.Write(b[boltPageHeader:boltMetaSum])
		if ne.Uint32(f[0:]) != boltMagic || ne.Uint32(f[4:]) != boltVersion || h.Sum64() != ne.Uint64(b[boltMetaSum:]) {
			return m
		}
		return meta{true, uint64(ne.Uint32(f[8:])), ne.Uint64(f[16:]), ne.Uint64(f[40:]), ne.Uint64(f[48:])}
	}
	best := read(0)
	sizes := []int64{int64(best.pageSize)}
	if !best.ok {
		sizes = []int64{int64(os.Getpagesize()), 4096, 16384, 65536}
	}
	for _, size := range sizes {
		if m := read(size); m.ok && (!best.ok || m.txid > best.txid && m.pageSize == best.pageSize) {
			best = m
			break
		}
	}
	if !best.ok || best.pageSize < 512 || best.pageSize > 1<<20 || best.root < 2 || best.root >= best.high ||
		uint64(p.size) < 2*best.pageSize {
		return errOdd
	}
	p.pageSize, p.root, p.high = best.pageSize, best.root, best.high
	return nil
}

// page reads page id with its overflow, checking that it is what a page of
// a tree should be.
func (p *pageFile) page(id uint64) ([]byte, error) {
	if b, ok := p.pages[id]; ok {
		return b, nil
	}
	if id < 2 || id >= p.high || (id+1)*p.pageSize > uint64(p.size) {
		return nil, errOdd
	}
	b := make([]byte, p.pageSize)
	if _, err := p.f.ReadAt(b, int64(id*p.pageSize)); err != nil {
		return nil, err
	}
	if ne.Uint64(b) != id {
		return nil, errOdd
	}
	if overflow := uint64(ne.Uint32(b[12:])); overflow > 0 {
		if id+overflow >= p.high || (id+overflow+1)*p.pageSize > uint64(p.size) {
			return nil, errOdd
		}
		b = append(b, make([]byte, overflow*p.pageSize)...)
		if _, err := p.f.ReadAt(b[p.pageSize:], int64((id+1)*p.pageSize)); err != nil && err != io.EOF {
			return nil, err
		}
	}
	p.pages[id] = b
	return b, nil
}

// element is entry i of the page in b: its key, and for a branch the child
// page, for a leaf the value and flags.
func element(b []byte, i int) (key, value []byte, flags uint32, child uint64, err error) {
	at := boltPageHeader + i*elementSize
	if at+elementSize > len(b) {
		return nil, nil, 0, 0, errOdd
	}
	e := b[at:]
	switch ne.Uint16(b[8:]) {
	case branchPage:
		pos, ksize := int(ne.Uint32(e[0:])), int(ne.Uint32(e[4:]))
		if at+pos+ksize > len(b) || pos < 0 || ksize < 0 {
			return nil, nil, 0, 0, errOdd
		}
		return b[at+pos : at+pos+ksize], nil, 0, ne.Uint64(e[8:]), nil
	case leafPage:
		flags = ne.Uint32(e[0:])
		pos, ksize, vsize := int(ne.Uint32(e[4:])), int(ne.Uint32(e[8:])), int(ne.Uint32(e[12:]))
		end := at + pos + ksize + vsize
		if end > len(b) || pos < 0 || ksize < 0 || vsize < 0 {
			return nil, nil, 0, 0, errOdd
		}
		return b[at+pos : at+pos+ksize], b[at+pos+ksize : end], flags, 0, nil
	}
	return nil, nil, 0, 0, errOdd
}

// find looks key up in the tree whose root is page root, or, for an inline
// bucket, in the one leaf page inline. It returns the value and its flags,
// or a nil value if the key is not there.
func (p *pageFile) find(root uint64, inline []byte, key []byte) ([]byte, uint32, error) {
	b := inline
	for depth := 0; ; depth++ {
		if b == nil {
			var err error
			if b, err = p.page(root); err != nil {
				return nil, 0, err
			}
		}
		if depth > maxDepth || len(b) < boltPageHeader {
			return nil, 0, errOdd
		}
		count := int(ne.Uint16(b[10:]))
		var err error
		switch ne.Uint16(b[8:]) {
		case branchPage:
			if count == 0 {
				return nil, 0, errOdd
			}
			// As bbolt's Cursor.searchPage: the last element whose key
			// is not above key.
			exact := false
			i := sort.Search(count, func(i int) bool {
				k, _, _, _, e := element(b, i)
				if e != nil {
					err = e
					return true
				}
				c := bytes.Compare(k, key)
				exact = exact || c == 0
				return c != -1
			})
			if err != nil {
				return nil, 0, err
			}
			if !exact && i > 0 {
				i--
			}
			if i >= count {
				i = count - 1
			}
			if _, _, _, root, err = element(b, i); err != nil {
				return nil, 0, err
			}
			b = nil
		case leafPage:
			i := sort.Search(count, func(i int) bool {
				k, _, _, _, e := element(b, i)
				if e != nil {
					err = e
					return true
				}
				return bytes.Compare(k, key) != -1
			})
			if err != nil {
				return nil, 0, err
			}
			if i >= count {
				return nil, 0, nil
			}
			k, v, flags, _, err := element(b, i)
			if err != nil || !bytes.Equal(k, key) {
				return nil, 0, err
			}
			return v, flags, nil
		default:
			return nil, 0, errOdd
		}
	}
}

// bucket finds a top-level bucket: its root page, or its inline page.
func (p *pageFile) bucket(name string) (root uint64, inline []byte, ok bool, err error) {
	v, flags, err := p.find(p.root, nil, []byte(name))
	if err != nil || v == nil {
		return 0, nil, false, err
	}
	if flags&bucketLeafFlag == 0 || len(v) < bucketHeader {
		return 0, nil, false, errOdd
	}
	root = ne.Uint64(v)
	if root == 0 {
		if len(v) < bucketHeader+boltPageHeader {
			return 0, nil, false, errOdd
		}
		return 0, v[bucketHeader:], true, nil
	}
	return root, nil, true, nil
}

// Get implements store.Snapshot: bbolt's tx.Bucket(t).Get(key). The value
// is the caller's: pages once read are never changed or reused.
func (p *pageFile) Get(t store.Table, key []byte) ([]byte, error) {
	root, inline, ok, err := p.bucket(string(t))
	if err != nil || !ok {
		return nil, err
	}
	v, flags, err := p.find(root, inline, key)
	if err != nil || v == nil || flags&bucketLeafFlag != 0 {
		return nil, err
	}
	return v[:len(v):len(v)], nil
}

// Revision implements store.Snapshot; a point lookup does not need it.
func (p *pageFile) Revision() uint64 { return 0 }

// Scan implements store.Snapshot: a point lookup never scans.
func (p *pageFile) Scan(store.Table, []byte, store.ScanOptions, func(k, v []byte) error) error {
	return errNoScan
}

// foreign reports a file with buckets but no meta bucket: another
// program's bbolt file.
func (p *pageFile) foreign() (bool, error) {
	if _, _, ok, err := p.bucket(string(store.TableMeta)); ok || err != nil {
		return false, err
	}
	b, err := p.page(p.root)
	if err != nil {
		return false, err
	}
	return ne.Uint16(b[10:]) > 0, nil
}
