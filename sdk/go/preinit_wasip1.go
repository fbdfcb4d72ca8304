//go:build wasip1 && edgefn_preinit

package edgefn

import (
	"os"
	"unsafe"
)

// Pre-initialization (docs/go-sdk.md, "Starting from a snapshot"). Built with
// `-tags edgefn_preinit -ldflags=-checklinkname=0`, the module exports edgefn_v1_init, so the host
// runs the Go runtime's start-up and every package's init once, at deploy, and snapshots the
// result. Two things the runtime read while starting must then be read again in each instance,
// because Go promises them per program run:
//   - its random state (math/rand, math/rand/v2, map seeds and iteration order, select order),
//     re-seeded from random_get through the runtime's own mrandinit, reached by linkname (hence
//     -checklinkname=0; edgefn_v1_init checks at deploy that the layout is the expected one);
//   - its environment (the function's configured variables, which the deploy-time init did not
//     have), set again with os.Setenv.

// runtimeGlobalRand mirrors runtime.globalRand (runtime/rand.go, Go 1.22 to 1.27): the state an M
// is seeded from (runtime.mrandinit), itself seeded by runtime.randinit at start-up.
//
//go:linkname runtimeGlobalRand runtime.globalRand
var runtimeGlobalRand struct {
	lock  struct{ key uintptr }
	seed  [32]byte
	state struct {
		buf     [32]uint64
		seed    [4]uint64
		i, n, c uint32
	}
	init bool
}

//go:linkname runtimeMrandinit runtime.mrandinit
func runtimeMrandinit(mp unsafe.Pointer)

//go:linkname runtimeAcquirem runtime.acquirem
func runtimeAcquirem() unsafe.Pointer

//go:linkname runtimeReleasem runtime.releasem
func runtimeReleasem(mp unsafe.Pointer)

//go:wasmimport wasi_snapshot_preview1 random_get
func randomGet(buf unsafe.Pointer, size uint32) uint32

//go:wasmimport wasi_snapshot_preview1 environ_sizes_get
func environSizesGet(count, size unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 environ_get
func environGet(pointers, buf unsafe.Pointer) uint32

//go:wasmimport edgefn_v1 snapshot_decline
//go:noescape
func snapshotDecline(reason unsafe.Pointer, size uint32) int32

// resumePending is true in the snapshot (edgefn_v1_init sets it) and false once the instance has
// resumed, so a warm instance pays for it once.
var resumePending bool

// snapshotDeclined is set by DeclineSnapshot: the instance runs its init itself, so it has nothing
// to resume from.
var snapshotDeclined bool

// DeclineSnapshot keeps this module's initialized state from being snapshotted at deploy, for a
// package init that sets up something a snapshot would freeze wrongly (a goroutine that must
// see live time, a value that must differ per instance and cannot be drawn again later). Call it
// from an init function. The host then logs reason and runs the Go runtime's start-up and every
// init in each instance (slower, about 0.2 ms for a small function), on every platform.
func DeclineSnapshot(reason string) {
	snapshotDeclined = true
	if reason == "" {
		reason = "no reason given"
	}
	snapshotDecline(unsafe.Pointer(unsafe.StringData(reason)), uint32(len(reason)))
}

//go:wasmexport edgefn_v1_init
func abiInit() {
	// After randinit, init is true, the seed has been cleared and the chunk counters are in range:
	// if the mirror does not see that, this Go release lays the state out differently, and the
	// instances of a snapshot could not be re-seeded: decline it.
	g := &runtimeGlobalRand
	if !g.init || g.seed != [32]byte{} || g.state.n > 32 || g.state.i > g.state.n {
		DeclineSnapshot("this Go release's runtime random state is not laid out as the edgefn SDK expects, so instances of a snapshot could not get random state of their own; update the SDK to start from a snapshot again")
	}
	if snapshotDeclined {
		return
	}
	warmAllocator()
	resumePending = true
}

// warmSink keeps warmAllocator's allocations from being optimized away.
var warmSink []any

// warmAllocator allocates (and drops) objects of the small size classes, with and without
// pointers, so the snapshot holds spans cached for them: otherwise every instance's first
// allocations fetch new spans and help finish the collection init started, the same work in each
// (about 2 µs of go-hello's fresh start).
func warmAllocator() {
	for size := 8; size <= 4096; size += size / 2 {
		warmSink = append(warmSink, make([]byte, size), make([]*byte, size/8+1))
	}
	warmSink = nil
}

// resumeAfterSnapshot gives an instance started from a snapshot its own random state and its
// environment, before the first handler runs.
func resumeAfterSnapshot() {
	if !resumePending {
		return
	}
	resumePending = false
	// Wasm has one M and no preemption: nothing else runs while the state is replaced. Eight
	// fresh words at the head of the global state's buffer are what mrandinit draws: four become
	// the M's seed and four the global state's own reseed, so both leave the snapshot's sequence.
	g := &runtimeGlobalRand
	var fresh [8]uint64
	if randomGet(unsafe.Pointer(&fresh), uint32(unsafe.Sizeof(fresh))) != 0 {
		panic("edgefn: random_get failed, so this instance cannot get random state of its own")
	}
	copy(g.state.buf[:], fresh[:])
	g.state.i, g.state.n = 0, uint32(len(fresh))
	mp := runtimeAcquirem()
	runtimeMrandinit(mp)
	runtimeReleasem(mp)
	loadEnvironment()
}

// loadEnvironment sets the variables WASI gives this instance; the snapshot's environment is the
// deploy-time one, which is empty.
func loadEnvironment() {
	var count, size uint32
	if environSizesGet(unsafe.Pointer(&count), unsafe.Pointer(&size)) != 0 || count == 0 {
		return
	}
	pointers := make([]uint32, count)
	buf := make([]byte, size)
	if environGet(unsafe.Pointer(&pointers[0]), unsafe.Pointer(&buf[0])) != 0 {
		logLine("edgefn: could not read the function's environment (environ_get failed)")
		return
	}
	base := uint32(uintptr(unsafe.Pointer(&buf[0])))
	for _, p := range pointers {
		entry := buf[p-base:]
		for i, c := range entry {
			if c == 0 {
				entry = entry[:i]
				break
			}
		}
		for i, c := range entry {
			if c == '=' {
				_ = os.Setenv(string(entry[:i]), string(entry[i+1:]))
				break
			}
		}
	}
}
