package main

/*
#include <stdint.h>
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

var errBatchGone = errors.New("batch already committed or released")
var errIterGone = errors.New("iterator already closed")

//export pbs_iter_new
func pbs_iter_new(h C.int64_t, lower *C.char, lowerLen C.int64_t, hasLower C.int,
	upper *C.char, upperLen C.int64_t, hasUpper C.int, reverse C.int) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	// Bounds are copied: Pebble reads them for the iterator's whole life.
	opts := &pebble.IterOptions{}
	if hasLower != 0 {
		opts.LowerBound = goBytes(lower, lowerLen)
	}
	if hasUpper != 0 {
		opts.UpperBound = goBytes(upper, upperLen)
	}
	it, err := e.db.NewIter(opts)
	if err != nil {
		return setErr(err)
	}
	return C.int64_t(registerIter(&iterEntry{db: e, it: it, reverse: reverse != 0}))
}

// pbs_iter_next packs up to maxItems entries as [u32 klen][u32 vlen][k][v]...
// into buf and returns the bytes used; 0 means exhausted. When not even one
// entry fits it returns rcTooSmall with the needed size as a u64 in buf.
//
//export pbs_iter_next
func pbs_iter_next(h C.int64_t, buf *C.char, bufCap C.int64_t, maxItems C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e := lookupIter(int64(h))
	if e == nil {
		return setErr(errIterGone)
	}
	e.db.mu.RLock()
	defer e.db.mu.RUnlock()
	if e.db.closed {
		return setErr(errClosed)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.it == nil {
		return setErr(errIterGone)
	}
	if e.done {
		return 0
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(bufCap))
	used, items := 0, 0
	for items < int(maxItems) {
		var valid bool
		switch {
		case !e.started && e.reverse:
			valid = e.it.Last()
		case !e.started:
			valid = e.it.First()
		default:
			// The cursor already sits on the next entry to emit (possibly
			// one that did not fit into the previous call's buffer).
			valid = e.it.Valid()
		}
		e.started = true
		if !valid {
			if err := e.it.Error(); err != nil {
				return setErr(err)
			}
			e.done = true
			break
		}
		k := e.it.Key()
		v, err := e.it.ValueAndErr()
		if err != nil {
			return setErr(err)
		}
		need := 8 + len(k) + len(v)
		if used+need > len(dst) {
			if items == 0 {
				if len(dst) >= 8 {
					le.PutUint64(dst, uint64(need))
				}
				return rcTooSmall
			}
			break
		}
		le.PutUint32(dst[used:], uint32(len(k)))
		le.PutUint32(dst[used+4:], uint32(len(v)))
		copy(dst[used+8:], k)
		copy(dst[used+8+len(k):], v)
		used += need
		items++
		if e.reverse {
			e.it.Prev()
		} else {
			e.it.Next()
		}
	}
	return C.int64_t(used)
}

//export pbs_iter_close
func pbs_iter_close(h C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e := lookupIter(int64(h))
	if e == nil {
		return rcOK // already closed, or closed with its DB
	}
	e.mu.Lock()
	var err error
	if e.it != nil {
		err = e.it.Close()
		e.it = nil
	}
	e.mu.Unlock()
	forgetIter(int64(h), e)
	if err != nil {
		return setErr(err)
	}
	return rcOK
}
