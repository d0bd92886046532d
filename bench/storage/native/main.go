// Command native runs the storage benchmark's operations directly on Pebble,
// as the peer the Python binding is compared with. One run = one operation
// kind on a fresh database; it prints {"ops": N, "seconds": S} as JSON.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// key writes the benchmark's 16-byte key for index i (same layout as bench/storage/workload.py).
func key(dst []byte, i int) []byte {
	dst = append(dst[:0], "key-"...)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	dst = append(dst, fmt.Sprintf("%012x", n[2:])[:12]...)
	return dst
}

func value(i int, size int) []byte {
	v := make([]byte, size)
	for j := range v {
		v[j] = byte(i*31 + j*7)
	}
	return v
}

func writeBatches(db *pebble.DB, start, batches, perBatch, valueSize int, opts *pebble.WriteOptions) {
	var k []byte
	v := value(start, valueSize)
	for b := 0; b < batches; b++ {
		batch := db.NewBatch()
		for e := 0; e < perBatch; e++ {
			k = key(k, start+b*perBatch+e)
			if err := batch.Set(k, v, nil); err != nil {
				log.Fatal(err)
			}
		}
		if err := batch.Commit(opts); err != nil {
			log.Fatal(err)
		}
		batch.Close()
	}
}

func main() {
	dir := flag.String("dir", "", "database directory (must not exist)")
	op := flag.String("op", "", "write-sync | write-nosync | get | scan")
	count := flag.Int("count", 1000, "batches, gets or scans to time")
	perBatch := flag.Int("batch", 100, "entries per batch; entries per scan")
	valueSize := flag.Int("value-size", 100, "value bytes")
	keys := flag.Int("keys", 100000, "keys preloaded for get and scan")
	cacheBytes := flag.Int64("cache", 64<<20, "block cache bytes")
	flag.Parse()

	cache := pebble.NewCache(*cacheBytes)
	defer cache.Unref()
	db, err := pebble.Open(*dir, &pebble.Options{Cache: cache})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if *op == "get" || *op == "scan" {
		writeBatches(db, 0, *keys / *perBatch, *perBatch, *valueSize, pebble.NoSync)
		if err := db.Flush(); err != nil {
			log.Fatal(err)
		}
	}

	var k []byte
	ops := *count
	t0 := time.Now()
	switch *op {
	case "write-sync", "write-nosync":
		opts := pebble.NoSync
		if *op == "write-sync" {
			opts = pebble.Sync
		}
		writeBatches(db, 0, *count, *perBatch, *valueSize, opts)
		ops = *count * *perBatch
	case "get":
		for i := 0; i < *count; i++ {
			k = key(k, (i*7919)%*keys)
			v, closer, err := db.Get(k)
			if err != nil {
				log.Fatal(err)
			}
			_ = append([]byte(nil), v...) // the binding copies the value out too
			closer.Close()
		}
	case "scan":
		for i := 0; i < *count; i++ {
			k = key(k, (i*7919)%(*keys-*perBatch))
			it, err := db.NewIter(&pebble.IterOptions{LowerBound: k})
			if err != nil {
				log.Fatal(err)
			}
			n := 0
			for valid := it.First(); valid && n < *perBatch; valid = it.Next() {
				_ = append([]byte(nil), it.Key()...)
				_ = append([]byte(nil), it.Value()...)
				n++
			}
			it.Close()
		}
	default:
		log.Fatalf("unknown -op %q", *op)
	}
	elapsed := time.Since(t0).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]any{"ops": ops, "seconds": elapsed})
}
