package main

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

var le = binary.LittleEndian

// Packed batch format, one record per operation, all integers little-endian:
// [u8 op][u32 len a][u32 len b][a][b]. set: a=key b=value; delete: a=key,
// b empty; delete_range: a=start b=end. Packing a whole batch into one buffer
// makes a batch of 100 writes one foreign call instead of 100.
const (
	opSet         = 1
	opDelete      = 2
	opDeleteRange = 3
	opHeader      = 9
)

func decodeOps(b *pebble.Batch, src []byte) error {
	for len(src) > 0 {
		if len(src) < opHeader {
			return fmt.Errorf("packed batch: truncated header")
		}
		op := src[0]
		la, lb := int(le.Uint32(src[1:])), int(le.Uint32(src[5:]))
		src = src[opHeader:]
		if len(src) < la+lb {
			return fmt.Errorf("packed batch: truncated record")
		}
		a, v := src[:la], src[la:la+lb]
		src = src[la+lb:]
		var err error
		switch op {
		case opSet:
			err = b.Set(a, v, nil)
		case opDelete:
			err = b.Delete(a, nil)
		case opDeleteRange:
			err = b.DeleteRange(a, v, nil)
		default:
			err = fmt.Errorf("packed batch: unknown op %d", op)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	// Pebble calls Fatalf on unrecoverable corruption; the panic is recovered
	// by the export and reported instead of exiting the Python process.
	panic(fmt.Sprintf(format, args...))
}
