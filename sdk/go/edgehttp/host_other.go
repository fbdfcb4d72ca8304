//go:build !wasip1

package edgehttp

import "github.com/edgefn-dev/edgefn/sdk/go/internal/abi"

// nativeHost stands in for the edgefn host in a native build (go test, go run): every call is
// unsupported, with a message that says what to do instead.
type nativeHost struct{ pending []byte }

const nativeMessage = "edgehttp.Transport sends through the edgefn host, which only a function built for " +
	"GOOS=wasip1 has; in a native test, give the http.Client another transport (an httptest.Server's)"

func (h *nativeHost) send([]byte) int64 {
	h.pending = []byte(nativeMessage)
	return abi.CodeUnsupported
}

func (h *nativeHost) read(buf []byte) int32 {
	if h.pending == nil || len(buf) < len(h.pending) {
		return abi.CodeInvalid
	}
	n := copy(buf, h.pending)
	h.pending = nil
	return int32(n)
}

var imports host = &nativeHost{}
