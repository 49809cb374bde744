package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	"apiscopes/store"
)

// bbolt's file layout, as far as preflight reads it: two meta pages, each a
// 16-byte page header then the meta fields, native byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id u64, flags u16, count u16, overflow u32
	boltFreelistFlag = 0x10
	boltNoFreelist   = ^uint64(0)
	boltMetaSum      = boltPageHeader + 56 // the meta bytes its checksum covers end here
)

// preflight looks at the one page bbolt reads while opening a file: the
// freelist that the newest valid meta page names. bbolt panics on a damaged
// one while it holds the file mapped, and the mapping then keeps the file
// locked for the life of the process; so a damaged freelist is refused here,
// before bbolt sees it. Anything preflight cannot judge (a file too short, no
// valid meta page) is left to bbolt, which refuses it with an error.
func preflight(path string) error {
	f, err := openRegular(path, os.O_RDONLY, 0)
	if errors.Is(err, store.ErrNotDatabase) {
		return err
	}
	if err != nil {
		return nil // bbolt will create it, or say why it cannot
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	head := make([]byte, boltPageHeader+64)
	var best struct {
		ok                       bool
		pageSize, freelist, pgid uint64
		txid                     uint64
	}
	ne := binary.NativeEndian
	readMeta := func(off int64) {
		if _, err := f.ReadAt(head, off); err != nil {
			return
		}
		m := head[boltPageHeader:]
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
			return
		}
		h := fnv.New64a()
		h.Write(head[boltPageHeader:boltMetaSum])
		if h.Sum64() != ne.Uint64(head[boltMetaSum:]) {
			return
		}
		txid := ne.Uint64(m[48:])
		if best.ok && txid <= best.txid {
			return
		}
		best.ok, best.txid = true, txid
		best.pageSize, best.freelist, best.pgid = uint64(ne.Uint32(m[8:])), ne.Uint64(m[32:]), ne.Uint64(m[40:])
	}
	// The second meta page sits one page in: at the size the first one
	// names, or, if the first is damaged, at one of the usual sizes.
	readMeta(0)
	for _, size := range []int64{int64(best.pageSize), int64(os.Getpagesize()), 4096, 16384, 65536} {
		if size > 0 {
			readMeta(size)
		}
	}
	if !best.ok || best.freelist == boltNoFreelist || best.pageSize < 1024 {
		return nil
	}
	damaged := func(format string, a ...any) error {
		return &store.DamageError{Path: path, Problems: []string{fmt.Sprintf(format, a...)}}
	}
	ps, id := best.pageSize, best.freelist
	if id < 2 || id >= best.pgid || (id+1)*ps > uint64(fi.Size()) {
		return damaged("the freelist page %d is out of the file", id)
	}
	page := make([]byte, boltPageHeader+8)
	if _, err := f.ReadAt(page, int64(id*ps)); err != nil && err != io.EOF {
		return damaged("the freelist page %d cannot be read: %v", id, err)
	}
	if flags := ne.Uint16(page[8:]); flags != boltFreelistFlag {
		return damaged("page %d should hold the freelist but has type %#x", id, flags)
	}
	count, overflow := uint64(ne.Uint16(page[10:])), uint64(ne.Uint32(page[12:]))
	first := uint64(0)
	if count == 0xFFFF { // the real count is the first element
		count, first = ne.Uint64(page[boltPageHeader:]), 1
	}
	if (id+overflow+1)*ps > uint64(fi.Size()) || boltPageHeader+(first+count)*8 > (overflow+1)*ps {
		return damaged("the freelist page %d claims %d free pages, more than it holds", id, count)
	}
	return nil
}
