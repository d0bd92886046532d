package main

/*
#include <stdlib.h>
#include <string.h>

// The message of the last failed call lives in C thread-local storage: a cgo
// export runs on the caller's OS thread, so each Python thread reads its own
// message and no Go pointer is ever handed out.
static __thread char *pbs_errmsg_tls = NULL;

static void pbs_set_errmsg(const char *msg, size_t n) {
	free(pbs_errmsg_tls);
	pbs_errmsg_tls = malloc(n + 1);
	if (pbs_errmsg_tls == NULL) return;
	memcpy(pbs_errmsg_tls, msg, n);
	pbs_errmsg_tls[n] = 0;
}

static const char *pbs_get_errmsg(void) {
	return pbs_errmsg_tls == NULL ? "" : pbs_errmsg_tls;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Return codes shared by every export; Python mirrors them in _ffi.py.
const (
	rcOK       = 0
	rcNotFound = -1
	rcError    = -2
	rcTooSmall = -3
)

func setErr(err error) C.int64_t {
	msg := err.Error()
	if len(msg) == 0 {
		msg = "unknown error"
	}
	b := []byte(msg)
	C.pbs_set_errmsg((*C.char)(unsafe.Pointer(&b[0])), C.size_t(len(b)))
	return rcError
}

func setErrf(format string, args ...any) C.int64_t {
	return setErr(fmt.Errorf(format, args...))
}

// recoverInto turns a panic anywhere below an export into an error code, so a
// Go bug or a Pebble invariant failure surfaces as StorageError, not a crash.
func recoverInto(rc *C.int64_t) {
	if r := recover(); r != nil {
		*rc = setErrf("pebble shim panic: %v", r)
	}
}

//export pbs_errmsg
func pbs_errmsg() *C.char {
	return C.pbs_get_errmsg()
}

//export pbs_free
func pbs_free(p unsafe.Pointer) {
	C.free(p)
}
