// Package hostcall is what every edgefn_v1 import call shares (docs/abi.md, "Host imports"): one
// pending result per instance, guarded so that a goroutine switch between a call and its
// result_read cannot let another call discard it, and the reading of that result. edgehttp and
// edgekv call their own imports through it.
package hostcall

import (
	"strconv"
	"sync"
)

// Mu is held from an import call until its pending result is read.
var Mu sync.Mutex

// Read is result_read: copies the pending result into buf, answering the bytes copied or a
// negative code.
type Read func(buf []byte) int32

// MaxResult is the largest result a 32-bit guest can hold; refusing larger ones beats Go's
// fatal out of memory.
const MaxResult = 1 << 31

// Error messages have no length of their own (the code takes the return value), so they are read
// with a buffer that grows while result_read answers invalid (the message stays pending in
// between): messages are a line or two, the larger read is for one that is not.
var messageReads = [...]int{1 << 10, 64 << 10}

// Message fetches the message pending after an error code; nil when the host left none.
func Message(read Read) []byte {
	for _, size := range messageReads {
		buf := make([]byte, size)
		if n := read(buf); n >= 0 && int(n) <= size {
			return buf[:n]
		}
	}
	return nil
}

// Result fetches the pending result of a call that answered size >= 0, or says how the host's
// answer could not be read.
func Result(read Read, size int64) ([]byte, string) {
	if size >= MaxResult {
		return nil, "the host's result is " + strconv.FormatInt(size, 10) + " bytes, more than a 32-bit guest can hold"
	}
	if size == 0 {
		return []byte{}, ""
	}
	buf := make([]byte, size)
	if n := read(buf); int64(n) != size {
		return nil, "result_read answered " + strconv.Itoa(int(n)) + " for a pending result of " +
			strconv.FormatInt(size, 10) + " bytes"
	}
	return buf, ""
}
