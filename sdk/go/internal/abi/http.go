package abi

// The outbound HTTP import of ABI v1 (docs/abi.md, "Host imports" and "Outbound HTTP"): the
// guest sends an EHQ1 envelope with http_send and reads the host's EHS1 answer, or an error
// message, with result_read.

// Names of the import module, its functions and the outbound envelopes' magic bytes.
const (
	ImportModule      = "edgefn_v1"
	HTTPSendImport    = "http_send"
	ResultReadImport  = "result_read"
	HTTPRequestMagic  = "EHQ1"
	HTTPResponseMagic = "EHS1"
)

// The error codes an import returns (negative), each with a UTF-8 message as the pending result.
const (
	CodeDenied      = -1
	CodeNotFound    = -2
	CodeInvalid     = -3
	CodeLimit       = -4
	CodeTimeout     = -5
	CodeUnavailable = -6
	CodeRateLimited = -7
	CodeUnsupported = -8
)

// ImportErrorName returns the short name docs/abi.md gives an import error code ("denied",
// "timeout", ...), or "" for a code this version does not define.
func ImportErrorName(code int64) string {
	switch code {
	case CodeDenied:
		return "denied"
	case CodeNotFound:
		return "not-found"
	case CodeInvalid:
		return "invalid"
	case CodeLimit:
		return "limit"
	case CodeTimeout:
		return "timeout"
	case CodeUnavailable:
		return "unavailable"
	case CodeRateLimited:
		return "rate-limited"
	case CodeUnsupported:
		return "unsupported"
	}
	return ""
}

// HTTPRequest is an outbound request envelope (guest to host, http_send).
type HTTPRequest struct {
	// TimeoutMS is the call's time limit in milliseconds; 0 means the function's default.
	TimeoutMS uint32
	Method    string
	// URL is absolute (http or https), percent-encoded, without a fragment.
	URL     string
	Headers []Header
	Body    []byte
}

// HTTPResponse is an outbound response envelope (host to guest). Its layout is Response's with
// the magic EHS1.
type HTTPResponse Response

// EncodedLen is the size in bytes of the encoded outbound request envelope.
func (r *HTTPRequest) EncodedLen() int {
	return len(HTTPRequestMagic) + lenSize + 2*lenSize + len(r.Method) + len(r.URL) +
		headersLen(r.Headers) + lenSize + len(r.Body)
}

// Encode returns the encoded outbound request envelope.
func (r *HTTPRequest) Encode() []byte {
	w := writer{make([]byte, 0, r.EncodedLen())}
	w.out = append(w.out, HTTPRequestMagic...)
	w.u32(int(r.TimeoutMS))
	w.str(r.Method)
	w.str(r.URL)
	w.headers(r.Headers)
	w.bytes(r.Body)
	return w.out
}

// DecodeHTTPRequest decodes an outbound request envelope (the host's side; the SDK's tests use
// it to see what the transport sent). Header values and the body share memory with b.
func DecodeHTTPRequest(b []byte) (*HTTPRequest, error) {
	r := reader{b}
	if err := r.magic(HTTPRequestMagic); err != nil {
		return nil, err
	}
	timeout, err := r.u32()
	if err != nil {
		return nil, err
	}
	req := &HTTPRequest{TimeoutMS: uint32(timeout)}
	if req.Method, err = r.str(); err != nil {
		return nil, err
	}
	if req.URL, err = r.str(); err != nil {
		return nil, err
	}
	if req.Headers, err = r.headers(); err != nil {
		return nil, err
	}
	if req.Body, err = r.bytes(); err != nil {
		return nil, err
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return req, nil
}

// EncodedLen is the size in bytes of the encoded outbound response envelope.
func (r *HTTPResponse) EncodedLen() int { return (*Response)(r).EncodedLen() }

// Encode returns the encoded outbound response envelope (the host's side; for tests).
func (r *HTTPResponse) Encode() []byte { return encodeResponse(HTTPResponseMagic, (*Response)(r)) }

// DecodeHTTPResponse decodes an outbound response envelope. Header values and the body share
// memory with b.
func DecodeHTTPResponse(b []byte) (*HTTPResponse, error) {
	resp, err := decodeResponse(HTTPResponseMagic, b)
	return (*HTTPResponse)(resp), err
}
