package edgehttp

import (
	"strconv"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
	"github.com/edgefn-dev/edgefn/sdk/go/internal/hostcall"
)

// host is the pair of edgefn_v1 imports an outbound call uses: send is http_send (the envelope's
// result code), read is result_read (bytes copied into buf, or a negative code). The wasip1 build
// calls the real imports; a native build has a stand-in that answers unsupported; tests install a
// fake that keeps the ABI's pending-result rules.
type host interface {
	send(envelope []byte) int64
	read(buf []byte) int32
}

// Results beyond this cannot be held by a 32-bit guest; refusing them beats Go's fatal out of
// memory.
const maxResult = hostcall.MaxResult

// call sends one outbound request envelope and returns the host's response envelope, an *Error
// for a refused or failed call, or an error saying how the host broke the import's contract.
func call(h host, envelope []byte) ([]byte, error) {
	// One pending result per instance, shared with edgekv's calls.
	hostcall.Mu.Lock()
	defer hostcall.Mu.Unlock()
	code := h.send(envelope)
	if code < 0 {
		return nil, hostError(code, hostcall.Message(h.read))
	}
	if code >= maxResult {
		return nil, &Error{Kind: Limit, Message: "the host's response envelope is " + strconv.FormatInt(code, 10) +
			" bytes, more than a 32-bit guest can hold: lower outbound.max_response_bytes"}
	}
	// Capacity at least 1 so even an empty result has an address in memory.
	buf := make([]byte, code, max(code, 1))
	if n := h.read(buf); int64(n) != code {
		return nil, protocolError("result_read answered " + strconv.Itoa(int(n)) + " for a pending result of " +
			strconv.FormatInt(code, 10) + " bytes")
	}
	return buf, nil
}

// protocolError is the host answering outside the ABI: a bug in the host, not in the request.
func protocolError(what string) error {
	return errorString("edgefn outbound HTTP: the host broke the " + abi.ImportModule + " contract (docs/abi.md): " +
		what + "; report it with the edgefn version")
}

type errorString string

func (e errorString) Error() string { return string(e) }
