package edgehttp

import (
	"strconv"
	"sync"

	"edgefn.dev/sdk/go/edgefn/internal/abi"
)

// host is the pair of edgefn_v1 imports an outbound call uses: send is http_send (the envelope's
// result code), read is result_read (bytes copied into buf, or a negative code). The wasip1 build
// calls the real imports; a native build has a stand-in that answers unsupported; tests install a
// fake that keeps the ABI's pending-result rules.
type host interface {
	send(envelope []byte) int64
	read(buf []byte) int32
}

// A call is http_send then result_read on one pending result per instance: a goroutine switch
// between the two must not let another call discard it.
var callMu sync.Mutex

// Results beyond this cannot be held by a 32-bit guest; refusing them beats Go's fatal out of
// memory.
const maxResult = 1 << 31

// Error messages have no length of their own (the code takes the return value), so they are read
// with a buffer that grows while result_read answers invalid (the message stays pending in
// between): messages are a line or two, the larger read is for one that is not.
var messageReads = [...]int{1 << 10, 64 << 10}

// call sends one outbound request envelope and returns the host's response envelope, an *Error
// for a refused or failed call, or an error saying how the host broke the import's contract.
func call(h host, envelope []byte) ([]byte, error) {
	callMu.Lock()
	defer callMu.Unlock()
	code := h.send(envelope)
	if code < 0 {
		return nil, hostError(code, readMessage(h))
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

// readMessage fetches the message pending after an error code; nil when the host left none.
func readMessage(h host) []byte {
	for _, size := range messageReads {
		buf := make([]byte, size)
		if n := h.read(buf); n >= 0 && int(n) <= size {
			return buf[:n]
		}
	}
	return nil
}

// protocolError is the host answering outside the ABI: a bug in the host, not in the request.
func protocolError(what string) error {
	return errorString("edgefn outbound HTTP: the host broke the " + abi.ImportModule + " contract (docs/abi.md): " +
		what + "; report it with the edgefn version")
}

type errorString string

func (e errorString) Error() string { return string(e) }
