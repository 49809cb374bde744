package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// A server's memory limit is Go's: the collector works harder as the heap
// nears it, instead of letting garbage double the process (the default,
// GOGC=100). serve takes it from --memory-limit, else GOMEMLIMIT, else
// from the memory.max of its cgroup (systemd's MemoryMax=, a container's
// limit), of which it keeps a tenth for memory Go does not manage (the
// database file's pages, thread stacks); sessions are then admitted only
// within it (see SessionsWithin).

// cgroupShare is the part of a cgroup's memory.max that Go's memory limit
// takes.
const cgroupShare = 0.90

// Where a memory limit came from.
const (
	LimitFromOption = "--memory-limit"
	LimitFromEnv    = "GOMEMLIMIT"
	LimitFromCgroup = "cgroup memory.max"
)

// SetMemoryLimit sets Go's memory limit and returns it (0: none) and where
// it came from: explicit, when above 0; else GOMEMLIMIT, which the runtime
// has set already; else 90% of the cgroup's memory.max.
func SetMemoryLimit(explicit int64) (limit int64, from string, err error) {
	return setMemoryLimit(explicit, os.Getenv("GOMEMLIMIT"), CgroupMemoryMax, debug.SetMemoryLimit)
}

func setMemoryLimit(explicit int64, env string, cgroupMax func() (int64, error), set func(int64) int64) (int64, string, error) {
	switch {
	case explicit > 0:
		set(explicit)
		return explicit, LimitFromOption, nil
	case env != "" && env != "off":
		return set(-1), LimitFromEnv, nil // the runtime read it at start
	}
	max, err := cgroupMax()
	if err != nil || max <= 0 {
		return 0, "", err
	}
	limit := int64(float64(max) * cgroupShare)
	set(limit)
	return limit, LimitFromCgroup, nil
}

// CgroupMemoryMax is the memory limit of this process's cgroup (v2): the
// least memory.max from its cgroup up to the root. It is 0 without one: no
// cgroup v2, or "max" all the way up.
func CgroupMemoryMax() (int64, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	return cgroupMemoryMax("/sys/fs/cgroup", self)
}

// cgroupMemoryMax reads the memory.max files under root (where cgroup v2 is
// mounted) for the cgroup that /proc/self/cgroup's "0::PATH" line names.
func cgroupMemoryMax(root string, self []byte) (int64, error) {
	var dir string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			dir, found = path.Clean("/"+p), true
		}
	}
	if !found {
		return 0, nil // cgroup v1 only: not read
	}
	var least int64
	for {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dir), "memory.max"))
		switch {
		case err == nil:
			v := strings.TrimSpace(string(b))
			if v != "max" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: %q is not a memory limit", filepath.Join(root, dir, "memory.max"), v)
				}
				if least == 0 || n < least {
					least = n
				}
			}
		case !errors.Is(err, os.ErrNotExist):
			return 0, err
		}
		if dir == "/" {
			return least, nil
		}
		dir = path.Dir(dir)
	}
}

// ParseMemory reads a memory size as systemd's MemoryMax= and GOMEMLIMIT
// write it: a number of bytes, or one with K, M, G or T (KiB, MiB, GiB,
// TiB; powers of 1024) after it; "0" or "none" is no limit.
func ParseMemory(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "none") {
		return 0, nil
	}
	num := strings.TrimRight(t, "KMGTBikmgtb")
	unit := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(t[len(num):], "B"), "b"))
	shift, ok := map[string]uint{"": 0, "K": 10, "KI": 10, "M": 20, "MI": 20, "G": 30, "GI": 30, "T": 40, "TI": 40}[unit]
	n, err := strconv.ParseUint(num, 10, 63)
	if !ok || err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a memory size: give bytes, or a number with K, M, G or T, e.g. 900M or 1G (or none)", s)
	}
	return int64(n) << shift, nil
}
