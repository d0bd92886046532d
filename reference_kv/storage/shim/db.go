package main

/*
#include <stdint.h>
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

// Open flags (bit set), mirrored in pebble.py.
const (
	flagErrorIfNotExists = 1 << 0
	flagReadOnly         = 1 << 1
)

// goBytes copies C memory into Go memory: Python may free or reuse its buffer
// as soon as the call returns, and Pebble keeps some arguments (bounds).
func goBytes(p *C.char, n C.int64_t) []byte {
	if n <= 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}

// cView aliases C memory without copying, for arguments Pebble copies itself
// (batch contents, Get keys). It must not outlive the call.
func cView(p *C.char, n C.int64_t) []byte {
	if n <= 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

func writeOpts(sync C.int) *pebble.WriteOptions {
	if sync != 0 {
		return pebble.Sync
	}
	return pebble.NoSync
}

//export pbs_open
func pbs_open(path *C.char, pathLen C.int64_t, cacheBytes, memtableBytes C.int64_t, flags C.int) (rc C.int64_t) {
	defer recoverInto(&rc)
	opts := &pebble.Options{
		ErrorIfNotExists: flags&flagErrorIfNotExists != 0,
		ReadOnly:         flags&flagReadOnly != 0,
		// Pebble's default logger chats on stderr; the node owns stderr.
		Logger: quietLogger{},
	}
	if cacheBytes > 0 {
		cache := pebble.NewCache(int64(cacheBytes))
		defer cache.Unref()
		opts.Cache = cache
	}
	if memtableBytes > 0 {
		opts.MemTableSize = uint64(memtableBytes)
	}
	db, err := pebble.Open(string(goBytes(path, pathLen)), opts)
	if err != nil {
		return setErr(err)
	}
	tableMu.Lock()
	defer tableMu.Unlock()
	id := newID()
	dbs[id] = &dbEntry{db: db, iters: map[int64]*iterEntry{}, batches: map[int64]*batchEntry{}}
	return C.int64_t(id)
}

//export pbs_close
func pbs_close(h C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	tableMu.Lock()
	e := dbs[int64(h)]
	delete(dbs, int64(h))
	tableMu.Unlock()
	if e == nil {
		return rcOK // closing twice is harmless
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	// Pebble refuses to close with live iterators; Python may still hold some.
	tableMu.Lock()
	for id, it := range e.iters {
		it.mu.Lock()
		if it.it != nil {
			_ = it.it.Close()
			it.it = nil
		}
		it.mu.Unlock()
		delete(iters, id)
	}
	for id, b := range e.batches {
		b.mu.Lock()
		if b.b != nil {
			_ = b.b.Close()
			b.b = nil
		}
		b.mu.Unlock()
		delete(batches, id)
	}
	e.iters, e.batches = nil, nil
	tableMu.Unlock()
	if err := e.db.Close(); err != nil {
		return setErr(err)
	}
	return rcOK
}

// pbs_get copies the value into buf when it fits. Returns the value length
// (call again with a bigger buf when it exceeds cap), rcNotFound or rcError.
//
//export pbs_get
func pbs_get(h C.int64_t, key *C.char, keyLen C.int64_t, buf *C.char, bufCap C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	v, closer, err := e.db.Get(cView(key, keyLen))
	if err == pebble.ErrNotFound {
		return rcNotFound
	}
	if err != nil {
		return setErr(err)
	}
	defer closer.Close()
	if int64(len(v)) <= int64(bufCap) && len(v) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(v)), v)
	}
	return C.int64_t(len(v))
}

// pbs_get_many looks up count keys packed as [u32 len][key]... and returns a
// malloc'd buffer (free with pbs_free) of [i64 len or -1][value]... per key.
//
//export pbs_get_many
func pbs_get_many(h C.int64_t, keys *C.char, keysLen C.int64_t, count C.int64_t, out **C.char) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	src := cView(keys, keysLen)
	res := make([]byte, 0, 16*int(count))
	for i := 0; i < int(count); i++ {
		if len(src) < 4 {
			return setErrf("get_many: truncated key buffer")
		}
		n := int(le.Uint32(src))
		if len(src) < 4+n {
			return setErrf("get_many: truncated key buffer")
		}
		k := src[4 : 4+n]
		src = src[4+n:]
		v, closer, err := e.db.Get(k)
		if err == pebble.ErrNotFound {
			res = le.AppendUint64(res, ^uint64(0))
			continue
		}
		if err != nil {
			return setErr(err)
		}
		res = le.AppendUint64(res, uint64(len(v)))
		res = append(res, v...)
		closer.Close()
	}
	*out = (*C.char)(C.CBytes(res))
	return C.int64_t(len(res))
}

// pbs_write applies packed operations (see ops.go) as one atomic batch.
//
//export pbs_write
func pbs_write(h C.int64_t, ops *C.char, opsLen C.int64_t, sync C.int) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	b := e.db.NewBatch()
	defer b.Close()
	if err := decodeOps(b, cView(ops, opsLen)); err != nil {
		return setErr(err)
	}
	if err := b.Commit(writeOpts(sync)); err != nil {
		return setErr(err)
	}
	return rcOK
}

//export pbs_flush
func pbs_flush(h C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	if err := e.db.Flush(); err != nil {
		return setErr(err)
	}
	return rcOK
}

//export pbs_compact
func pbs_compact(h C.int64_t, start *C.char, startLen C.int64_t, end *C.char, endLen C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	if err := e.db.Compact(context.Background(), goBytes(start, startLen), goBytes(end, endLen), false); err != nil {
		return setErr(err)
	}
	return rcOK
}

// pbs_checkpoint writes a consistent, openable copy of the DB into dir (which
// must not exist), syncing the WAL first so every acknowledged write is in it.
//
//export pbs_checkpoint
func pbs_checkpoint(h C.int64_t, dir *C.char, dirLen C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	if err := e.db.Checkpoint(string(goBytes(dir, dirLen)), pebble.WithFlushedWAL()); err != nil {
		return setErr(err)
	}
	return rcOK
}

//export pbs_estimate_disk_usage
func pbs_estimate_disk_usage(h C.int64_t, start *C.char, startLen C.int64_t, end *C.char, endLen C.int64_t) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	n, err := e.db.EstimateDiskUsage(goBytes(start, startLen), goBytes(end, endLen))
	if err != nil {
		return setErr(err)
	}
	return C.int64_t(n)
}

// pbs_metrics returns a malloc'd JSON object (free with pbs_free); its length
// is the return value.
//
//export pbs_metrics
func pbs_metrics(h C.int64_t, out **C.char) (rc C.int64_t) {
	defer recoverInto(&rc)
	e, err := lockDB(int64(h))
	if err != nil {
		return setErr(err)
	}
	defer e.mu.RUnlock()
	m := e.db.Metrics()
	total := m.Total()
	levels := make([]map[string]int64, 0, len(m.Levels))
	for _, l := range m.Levels {
		levels = append(levels, map[string]int64{"files": l.TablesCount, "size": l.TablesSize})
	}
	doc := map[string]any{
		"disk_space_usage":         m.DiskSpaceUsage(),
		"memtable_size":            m.MemTable.Size,
		"memtable_count":           m.MemTable.Count,
		"wal_files":                m.WAL.Files,
		"wal_size":                 m.WAL.Size,
		"wal_physical_size":        m.WAL.PhysicalSize,
		"wal_bytes_in":             m.WAL.BytesIn,
		"wal_bytes_written":        m.WAL.BytesWritten,
		"flush_count":              m.Flush.Count,
		"compaction_count":         m.Compact.Count,
		"compaction_debt":          m.Compact.EstimatedDebt,
		"compactions_in_progress":  m.Compact.NumInProgress,
		"read_amp":                 m.ReadAmp(),
		"sstable_count":            total.TablesCount,
		"sstable_size":             total.TablesSize,
		"bytes_flushed":            total.TableBytesFlushed,
		"bytes_compacted":          total.TableBytesCompacted,
		"block_cache_size":         m.BlockCache.Size,
		"block_cache_hits":         m.BlockCache.Hits,
		"block_cache_misses":       m.BlockCache.Misses,
		"tombstone_count":          m.Keys.TombstoneCount,
		"levels":                   levels,
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return setErr(err)
	}
	*out = (*C.char)(C.CBytes(js))
	return C.int64_t(len(js))
}

func main() {}
