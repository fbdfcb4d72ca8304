package edgehttp

import (
	"strconv"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// Kind is why the host did not deliver a response, by the name docs/abi.md gives its error code.
type Kind string

// The kinds of error http_send reports. Every platform reports the same kind for the same cause.
const (
	// Denied: the URL's origin is not in the function's outbound.allowed_hosts, or its address is
	// not public and allow_private_networks is off.
	Denied Kind = "denied"
	// Invalid: the request could not be sent as it is: a URL that is not absolute http or https, a
	// header the host owns, a malformed envelope.
	Invalid Kind = "invalid"
	// Limit: a per-invocation limit: too many calls, a request or response body over its cap.
	Limit Kind = "limit"
	// Timeout: no complete answer within the call's timeout (the request context's deadline, else
	// the function's outbound.timeout_ms, never past the invocation's deadline).
	Timeout Kind = "timeout"
	// Unavailable: the upstream could not be reached: name resolution, connection, TLS, a broken
	// response.
	Unavailable Kind = "unavailable"
	// Unsupported: outbound HTTP is not available here: called while the module initializes (in
	// init or package variable initializers), or in a native build.
	Unsupported Kind = "unsupported"
	// Unknown: an error code this SDK version does not know; Code and Message say more.
	Unknown Kind = "unknown"
)

// Error is an outbound call the host refused or could not complete. http.Client wraps it in a
// *url.Error; errors.As finds it through that:
//
//	var herr *edgehttp.Error
//	if errors.As(err, &herr) && herr.Kind == edgehttp.Denied { ... }
//
// It is a net.Error: Timeout() reports whether the call timed out, so os.IsTimeout and checks
// written for net/http's own transport keep working.
type Error struct {
	// Kind is the class of failure.
	Kind Kind
	// Code is the import's error code (-1 denied ... -8 unsupported), or 0 when the SDK refused the
	// request before calling the host.
	Code int
	// Message is the host's explanation (or the SDK's, when Code is 0), meant for logs.
	Message string
}

func (e *Error) Error() string {
	return "edgefn outbound HTTP: " + string(e.Kind) + ": " + e.Message
}

// Timeout reports whether the call ran out of time (net.Error).
func (e *Error) Timeout() bool { return e.Kind == Timeout }

// Temporary reports whether trying again later may succeed: a timeout or an unreachable upstream
// (net.Error; deprecated there, kept for code that still asks).
func (e *Error) Temporary() bool { return e.Kind == Timeout || e.Kind == Unavailable }

// hostError turns a negative import code and its pending message into an *Error.
func hostError(code int64, message []byte) *Error {
	kind := Unknown
	switch code {
	case abi.CodeDenied:
		kind = Denied
	case abi.CodeInvalid:
		kind = Invalid
	case abi.CodeLimit:
		kind = Limit
	case abi.CodeTimeout:
		kind = Timeout
	case abi.CodeUnavailable:
		kind = Unavailable
	case abi.CodeUnsupported:
		kind = Unsupported
	}
	msg := string(message)
	if msg == "" {
		msg = "the host gave no message"
	}
	if kind == Unknown {
		// Say which code it was: a newer host may define it, or a key-value code leaked here.
		name := abi.ImportErrorName(code)
		if name == "" {
			name = "undefined in this SDK version"
		}
		msg = "code " + strconv.FormatInt(code, 10) + " (" + name + "): " + msg
	}
	return &Error{Kind: kind, Code: int(code), Message: msg}
}
