package edgekv

// host is the edgefn_v1 key-value imports and result_read: each call's result code (>= 0: the
// size of the pending result; < 0: an error code with a pending message), and read copying the
// pending result into buf. The wasip1 build calls the real imports; a native build has a
// stand-in that answers unsupported; UseMemory installs an in-memory store.
type host interface {
	get(store, key string) int64
	set(store, key string, value []byte, ttlSeconds uint32) int64
	delete(store, key string) int64
	exists(store, key string) int64
	list(store, prefix, cursor string, limit uint32) int64
	read(buf []byte) int32
}
