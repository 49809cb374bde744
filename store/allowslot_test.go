package store

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The record's part of a list answers exactly as the key's whole list:
// for lists of one and more networks, IPv4 first or IPv6 first, and
// addresses inside and outside, IPv4-mapped, IPv6 and none.
func TestListSlotAgreesWithTheList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v4 := func() netip.Addr {
		return netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	v6 := func() netip.Addr {
		var b [16]byte
		b[0], b[1], b[15] = 0x20, byte(rng.IntN(3)), byte(rng.IntN(256))
		return netip.AddrFrom16(b)
	}
	for range 2000 {
		var raw []netip.Prefix
		for range 1 + rng.IntN(3) {
			if rng.IntN(3) == 0 {
				raw = append(raw, netip.PrefixFrom(v6(), rng.IntN(129)))
			} else {
				raw = append(raw, netip.PrefixFrom(v4(), rng.IntN(33)))
			}
		}
		list, err := NormalizeAllowFrom(raw)
		if err != nil {
			t.Fatal(err)
		}
		k := Key{AllowFrom: list}
		slot := newListSlot(list)
		for _, a := range []netip.Addr{v4(), v6(), netip.AddrFrom16(v4().As16()), {}, list[0].Addr()} {
			if got, want := slot.allows(&k, a), k.Allows(a); got != want {
				t.Fatalf("list %v, slot %+v, address %v: the record says %v, the list %v", list, slot, a, got, want)
			}
		}
	}
}
