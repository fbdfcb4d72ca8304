//go:build wasip1

package edgefn

import (
	"unsafe"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// The ABI v1 entry points (docs/abi.md). The host calls edgefn_v1_alloc for room to write the
// request envelope, writes it there, then calls edgefn_v1_handle with the same location and reads
// the response envelope at the location it returns.
//
// Both envelopes are held by package variables: the request buffer from alloc until handle returns,
// the response buffer from handle's return until the next alloc, so the garbage collector neither
// frees them while the host reads or writes them (it never moves heap objects) nor keeps one
// request's memory alive into the next when an instance serves several.
var (
	requestBuf  []byte
	responseBuf []byte
)

// Larger requests are refused with 0 rather than attempted: Go cannot recover from running out of
// memory, and a 32-bit guest cannot hold them anyway.
const maxRequestBytes = 1 << 31

//go:wasmexport edgefn_v1_alloc
func abiAlloc(size uint32) uint32 {
	requestBuf, responseBuf = nil, nil
	if size >= maxRequestBytes {
		return 0
	}
	// Capacity at least 1 so the buffer has an address even for an empty request.
	requestBuf = make([]byte, size, max(size, 1))
	return address(requestBuf)
}

//go:wasmexport edgefn_v1_handle
func abiHandle(ptr, size uint32) uint64 {
	resumeAfterSnapshot()
	request := requestBuf
	var out []byte
	if request == nil || address(request) != ptr || uint32(len(request)) != size {
		logLine("edgefn: the host passed a request buffer that edgefn_v1_alloc did not hand out")
		out = encodeResponse(Status(500))
	} else {
		out = serve(request, handler)
	}
	requestBuf = nil
	responseBuf = out
	return abi.PackPtrLen(address(out), uint32(len(out)))
}

// address is where a buffer starts in linear memory. Wasm pointers are linear-memory offsets, and
// wasm32 memory is below 4 GiB.
func address(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
