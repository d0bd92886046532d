package main

import (
	"errors"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Python only ever holds integer handles; the Go objects stay in these tables.
type dbEntry struct {
	// mu is held shared by every operation and exclusively by close, so a
	// close racing with reads waits for them instead of freeing under them.
	mu      sync.RWMutex
	db      *pebble.DB
	closed  bool
	iters   map[int64]*iterEntry
	batches map[int64]*batchEntry
}

type iterEntry struct {
	mu      sync.Mutex // Pebble iterators are single-threaded
	db      *dbEntry
	it      *pebble.Iterator
	reverse bool
	started bool
	done    bool
}

type batchEntry struct {
	mu sync.Mutex
	db *dbEntry
	b  *pebble.Batch
}

var (
	tableMu sync.RWMutex
	nextID  int64 = 1
	dbs           = map[int64]*dbEntry{}
	iters         = map[int64]*iterEntry{}
	batches       = map[int64]*batchEntry{}
)

var errClosed = errors.New("database is closed")

func newID() int64 {
	id := nextID
	nextID++
	return id
}

// lockDB returns the entry read-locked; callers must RUnlock it.
func lockDB(h int64) (*dbEntry, error) {
	tableMu.RLock()
	e := dbs[h]
	tableMu.RUnlock()
	if e == nil {
		return nil, errClosed
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, errClosed
	}
	return e, nil
}

func lookupIter(h int64) *iterEntry {
	tableMu.RLock()
	defer tableMu.RUnlock()
	return iters[h]
}

func lookupBatch(h int64) *batchEntry {
	tableMu.RLock()
	defer tableMu.RUnlock()
	return batches[h]
}

func registerIter(e *iterEntry) int64 {
	tableMu.Lock()
	defer tableMu.Unlock()
	id := newID()
	iters[id] = e
	e.db.iters[id] = e
	return id
}

func registerBatch(e *batchEntry) int64 {
	tableMu.Lock()
	defer tableMu.Unlock()
	id := newID()
	batches[id] = e
	e.db.batches[id] = e
	return id
}

func forgetIter(h int64, e *iterEntry) {
	tableMu.Lock()
	defer tableMu.Unlock()
	delete(iters, h)
	delete(e.db.iters, h)
}

func forgetBatch(h int64, e *batchEntry) {
	tableMu.Lock()
	defer tableMu.Unlock()
	delete(batches, h)
	delete(e.db.batches, h)
}
