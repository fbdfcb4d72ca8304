//go:build wasip1

package edgehttp

import "unsafe"

// The imports are declared here only, so a native build never sees them, and only this package
// calls them, so a function that does not import edgehttp does not import them.

//go:wasmimport edgefn_v1 http_send
//go:noescape
func httpSend(ptr unsafe.Pointer, size uint32) int64

//go:wasmimport edgefn_v1 result_read
//go:noescape
func resultRead(ptr unsafe.Pointer, size uint32) int32

// wasmHost calls the host. The garbage collector does not move heap objects, and the host
// touches the buffers only during the call, so a pointer to their first byte is enough.
type wasmHost struct{}

func (wasmHost) send(envelope []byte) int64 {
	return httpSend(unsafe.Pointer(unsafe.SliceData(envelope)), uint32(len(envelope)))
}

func (wasmHost) read(buf []byte) int32 {
	return resultRead(unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
}

var imports host = wasmHost{}
