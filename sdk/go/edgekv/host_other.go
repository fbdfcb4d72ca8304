//go:build !wasip1

package edgekv

import "github.com/edgefn-dev/edgefn/sdk/go/internal/abi"

// nativeHost stands in for the edgefn host in a native build (go test, go run): every call is
// unsupported, with a message that says what to do instead.
type nativeHost struct{ pending []byte }

const nativeMessage = "edgekv calls the edgefn host, which only a function built for GOOS=wasip1 has; " +
	"in a native test, install an in-memory store with edgekv.UseMemory"

func (h *nativeHost) unsupported() int64 {
	h.pending = []byte(nativeMessage)
	return abi.CodeUnsupported
}

func (h *nativeHost) get(string, string) int64                  { return h.unsupported() }
func (h *nativeHost) set(string, string, []byte, uint32) int64  { return h.unsupported() }
func (h *nativeHost) delete(string, string) int64               { return h.unsupported() }
func (h *nativeHost) exists(string, string) int64               { return h.unsupported() }
func (h *nativeHost) list(string, string, string, uint32) int64 { return h.unsupported() }

func (h *nativeHost) read(buf []byte) int32 {
	if h.pending == nil || len(buf) < len(h.pending) {
		return abi.CodeInvalid
	}
	n := copy(buf, h.pending)
	h.pending = nil
	return int32(n)
}

var imports host = &nativeHost{}
