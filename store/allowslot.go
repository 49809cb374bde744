package store

import (
	"encoding/binary"
	"net/netip"
)

// listSlot is what a key's record in the verify index (keytable.go) holds
// of its address list, in the bytes the 64-byte record has spare: whether
// the key has a list, and its first network when that is IPv4, which most
// lists' one office network is. A check from inside that network reads no
// more memory than a key without a list; any other reads the key's whole
// list.
type listSlot struct {
	list  listKind
	bits4 uint8   // the first network's length, when it is IPv4
	net4  [4]byte // the first network's address, when it is IPv4
}

// listKind says what a key's record holds of its list.
type listKind uint8

const (
	listNone   listKind = iota // no list: every address
	listOnly4                  // one IPv4 network, held in the record
	listFirst4                 // an IPv4 network held in the record, and more in the key
	listOther                  // a list whose first network is IPv6: in the key
)

// newListSlot is the record's part of a key's (normalised) list.
func newListSlot(list []netip.Prefix) listSlot {
	if len(list) == 0 {
		return listSlot{}
	}
	first := list[0]
	if !first.Addr().Is4() {
		return listSlot{list: listOther}
	}
	s := listSlot{list: listFirst4, bits4: uint8(first.Bits()), net4: first.Addr().As4()}
	if len(list) == 1 {
		s.list = listOnly4
	}
	return s
}

// allows reports whether the key k, whose record this is, may be used
// from client.
func (s *listSlot) allows(k *Key, client netip.Addr) bool {
	if s.list == listOnly4 || s.list == listFirst4 {
		if a := client.Unmap(); a.Is4() {
			mask := ^uint32(0) << (32 - uint32(s.bits4))
			if b := a.As4(); binary.BigEndian.Uint32(b[:])&mask == binary.BigEndian.Uint32(s.net4[:])&mask {
				return true
			}
			if s.list == listOnly4 {
				return false
			}
		} else if s.list == listOnly4 {
			return false
		}
	}
	return k.Allows(client)
}

// keyWithList is a key of the index with its address list in the same
// allocation, right after the slice that points to it (AllowFrom is the
// Key's last field): a check beyond the list's first network reads the
// list from the key's last cache line and the next, not from a third
// place in memory. Lists of up to four networks, most of them, fit.
type keyWithList struct {
	key  Key
	nets [4]netip.Prefix
}

// indexKey is k as the index keeps it: with its list beside it when it
// has a short one.
func indexKey(k Key) *Key {
	if n := len(k.AllowFrom); n > 0 && n <= 4 {
		kl := &keyWithList{key: k}
		copy(kl.nets[:], k.AllowFrom)
		kl.key.AllowFrom = kl.nets[:n:n]
		return &kl.key
	}
	return &k
}
