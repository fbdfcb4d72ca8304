//go:build wasip1

package edgekv

import "unsafe"

// The imports are declared here only, and only this package calls them, so a function that
// does not import edgekv imports no kv_* from edgefn_v1.

//go:wasmimport edgefn_v1 kv_get
//go:noescape
func kvGet(store unsafe.Pointer, storeLen uint32, key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport edgefn_v1 kv_set
//go:noescape
func kvSet(store unsafe.Pointer, storeLen uint32, key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, ttlSeconds uint32) int64

//go:wasmimport edgefn_v1 kv_delete
//go:noescape
func kvDelete(store unsafe.Pointer, storeLen uint32, key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport edgefn_v1 kv_exists
//go:noescape
func kvExists(store unsafe.Pointer, storeLen uint32, key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport edgefn_v1 kv_list
//go:noescape
func kvList(store unsafe.Pointer, storeLen uint32, prefix unsafe.Pointer, prefixLen uint32, cursor unsafe.Pointer, cursorLen uint32, limit uint32) int64

//go:wasmimport edgefn_v1 result_read
//go:noescape
func resultRead(ptr unsafe.Pointer, size uint32) int32

// wasmHost calls the host. The garbage collector does not move heap objects, and the host
// reads the arguments only during the call, so a pointer to their first byte is enough.
type wasmHost struct{}

func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func (wasmHost) get(store, key string) int64 {
	s, sl := str(store)
	k, kl := str(key)
	return kvGet(s, sl, k, kl)
}

func (wasmHost) set(store, key string, value []byte, ttlSeconds uint32) int64 {
	s, sl := str(store)
	k, kl := str(key)
	return kvSet(s, sl, k, kl, unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)), ttlSeconds)
}

func (wasmHost) delete(store, key string) int64 {
	s, sl := str(store)
	k, kl := str(key)
	return kvDelete(s, sl, k, kl)
}

func (wasmHost) exists(store, key string) int64 {
	s, sl := str(store)
	k, kl := str(key)
	return kvExists(s, sl, k, kl)
}

func (wasmHost) list(store, prefix, cursor string, limit uint32) int64 {
	s, sl := str(store)
	p, pl := str(prefix)
	c, cl := str(cursor)
	return kvList(s, sl, p, pl, c, cl, limit)
}

func (wasmHost) read(buf []byte) int32 {
	return resultRead(unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
}

var imports host = wasmHost{}
