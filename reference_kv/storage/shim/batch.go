package main

/*
#include <stdint.h>
*/
import "C"

// Batch handles let Python stream a batch too large to pack in one buffer:
// it appends packed chunks, then commits once, atomically.

//export pbs_batch_new
func pbs_batch_new(h C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	return C.int64_t(registerBatch(&batchEntry{db: e, b: e.db.NewBatch()}))
}

// withBatch runs fn with the batch's DB read-locked and the batch locked.
func withBatch(h C.int64_t, fn func(b *batchEntry) C.int64_t) C.int64_t {
	b := lookupBatch(int64(h))
	if b == nil {
		return setErr(errBatchGone)
	}
	b.db.mu.RLock()
	defer b.db.mu.RUnlock()
	if b.db.closed {
		return setErr(errClosed)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b == nil {
		return setErr(errBatchGone)
	}
	return fn(b)
}

//export pbs_batch_add
func pbs_batch_add(h C.int64_t, ops *C.char, opsLen C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	return withBatch(h, func(b *batchEntry) C.int64_t {
		if err := decodeOps(b.b, cView(ops, opsLen)); err != nil {
			return setErr(err)
		}
		return rcOK
	})
}

// pbs_batch_commit commits and releases the batch, whatever the outcome.
//
//export pbs_batch_commit
func pbs_batch_commit(h C.int64_t, sync C.int) (rc C.int64_t) {
	defer recoverInto(&rc)
	return withBatch(h, func(b *batchEntry) C.int64_t {
		err := b.b.Commit(writeOpts(sync))
		b.b.Close()
		b.b = nil
		forgetBatch(int64(h), b)
		if err != nil {
			return setErr(err)
		}
		return rcOK
	})
}

//export pbs_batch_free
func pbs_batch_free(h C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	b := lookupBatch(int64(h))
	if b == nil {
		return rcOK
	}
	b.mu.Lock()
	if b.b != nil {
		b.b.Close()
		b.b = nil
	}
	b.mu.Unlock()
	// After unlocking: pbs_close takes the table lock before batch locks.
	forgetBatch(int64(h), b)
	return rcOK
}
