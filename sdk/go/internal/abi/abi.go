// Package abi is the Go implementation of the edgefn guest ABI v1 envelopes: the bytes that carry a
// request into a guest and its response back out. The Rust crate sdk/abi is the reference
// implementation and docs/abi-v1-vectors.json holds the test vectors both run; http.go adds the
// envelopes of the outbound HTTP import (docs/abi-v1-http-vectors.json).
//
// Decoding never trusts a length: every count and size is checked against the bytes that are really
// there before anything is allocated, so a hostile envelope costs at most its own size.
package abi

import (
	"encoding/binary"
	"unicode/utf8"
)

// Names of the exports and magic bytes of ABI v1.
const (
	Version       = 1
	HandleExport  = "edgefn_v1_handle"
	AllocExport   = "edgefn_v1_alloc"
	RequestMagic  = "EFQ1"
	ResponseMagic = "EFS1"
)

// Context keys defined by v1. Readers ignore keys they do not know.
const (
	KeyRequestID    = "request-id"
	KeyFunctionName = "function-name"
	KeyPlatform     = "platform"
	KeyDeadlineMS   = "deadline-ms"
	KeyColdStart    = "cold-start"
	KeyTraceparent  = "traceparent"
)

// Error is why an envelope could not be decoded. Its Name is the stable short name the test
// vectors use.
type Error struct {
	Name    string
	message string
}

func (e *Error) Error() string { return e.message }

// The decoding errors, one per kind.
var (
	ErrBadMagic      = &Error{"bad-magic", "envelope does not start with the expected magic bytes"}
	ErrTruncated     = &Error{"truncated", "envelope is truncated: a length points past its end"}
	ErrTrailingBytes = &Error{"trailing-bytes", "envelope has bytes after its last field"}
	ErrInvalidUTF8   = &Error{"invalid-utf8", "a text field of the envelope is not UTF-8"}
	ErrBadStatus     = &Error{"bad-status", "response status is outside 100..=999"}
)

// Pair is a context entry: both sides are text.
type Pair struct {
	Key, Value string
}

// Header is one header field; a repeated header appears once per value. The name is text, the
// value arbitrary bytes.
type Header struct {
	Name  string
	Value []byte
}

// Request is a request envelope.
type Request struct {
	Context []Pair
	Method  string
	// URI is the request target in origin form: path plus "?query" when present.
	URI     string
	Headers []Header
	Body    []byte
}

// Response is a response envelope.
type Response struct {
	Status  uint16
	Headers []Header
	Body    []byte
}

// ContextValue returns the value of a context key and whether it was present.
func (r *Request) ContextValue(key string) (string, bool) {
	for _, p := range r.Context {
		if p.Key == key {
			return p.Value, true
		}
	}
	return "", false
}

const lenSize = 4

func headersLen(headers []Header) int {
	n := lenSize
	for _, h := range headers {
		n += 2*lenSize + len(h.Name) + len(h.Value)
	}
	return n
}

// EncodedLen is the size in bytes of the encoded request envelope.
func (r *Request) EncodedLen() int {
	n := len(RequestMagic) + lenSize
	for _, p := range r.Context {
		n += 2*lenSize + len(p.Key) + len(p.Value)
	}
	return n + 2*lenSize + len(r.Method) + len(r.URI) + headersLen(r.Headers) + lenSize + len(r.Body)
}

// EncodedLen is the size in bytes of the encoded response envelope.
func (r *Response) EncodedLen() int {
	return len(ResponseMagic) + 2 + 2 + headersLen(r.Headers) + lenSize + len(r.Body)
}

// Every field of an envelope is shorter than 4 GiB: a 32-bit guest cannot hold more, and the host
// refuses larger requests before they reach the guest.
type writer struct{ out []byte }

func (w *writer) u32(v int) { w.out = binary.LittleEndian.AppendUint32(w.out, uint32(v)) }
func (w *writer) str(s string) {
	w.u32(len(s))
	w.out = append(w.out, s...)
}
func (w *writer) bytes(b []byte) {
	w.u32(len(b))
	w.out = append(w.out, b...)
}
func (w *writer) headers(headers []Header) {
	w.u32(len(headers))
	for _, h := range headers {
		w.str(h.Name)
		w.bytes(h.Value)
	}
}

// Encode returns the encoded request envelope.
func (r *Request) Encode() []byte {
	w := writer{make([]byte, 0, r.EncodedLen())}
	w.out = append(w.out, RequestMagic...)
	w.u32(len(r.Context))
	for _, p := range r.Context {
		w.str(p.Key)
		w.str(p.Value)
	}
	w.str(r.Method)
	w.str(r.URI)
	w.headers(r.Headers)
	w.bytes(r.Body)
	return w.out
}

// Encode returns the encoded response envelope.
func (r *Response) Encode() []byte { return encodeResponse(ResponseMagic, r) }

// encodeResponse writes the layout shared by the response envelope and the outbound one (EHS1),
// which differ only in their magic.
func encodeResponse(magic string, r *Response) []byte {
	w := writer{make([]byte, 0, r.EncodedLen())}
	w.out = append(w.out, magic...)
	w.out = binary.LittleEndian.AppendUint16(w.out, r.Status)
	w.out = append(w.out, 0, 0) // reserved
	w.headers(r.Headers)
	w.bytes(r.Body)
	return w.out
}

type reader struct{ rest []byte }

func (r *reader) take(n int) ([]byte, error) {
	if n > len(r.rest) {
		return nil, ErrTruncated
	}
	head := r.rest[:n:n]
	r.rest = r.rest[n:]
	return head, nil
}

func (r *reader) u16() (uint16, error) {
	b, err := r.take(2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

func (r *reader) u32() (int, error) {
	b, err := r.take(lenSize)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

func (r *reader) bytes() ([]byte, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

func (r *reader) str() (string, error) {
	b, err := r.bytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", ErrInvalidUTF8
	}
	return string(b), nil
}

func (r *reader) magic(magic string) error {
	if len(r.rest) < len(magic) || string(r.rest[:len(magic)]) != magic {
		return ErrBadMagic
	}
	r.rest = r.rest[len(magic):]
	return nil
}

// pairCount reads a count of pairs; each pair needs at least two lengths, which bounds the
// allocation that follows.
func (r *reader) pairCount() (int, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if n > len(r.rest)/(2*lenSize) {
		return 0, ErrTruncated
	}
	return n, nil
}

func (r *reader) headers() ([]Header, error) {
	n, err := r.pairCount()
	if err != nil {
		return nil, err
	}
	out := make([]Header, 0, n)
	for range n {
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		value, err := r.bytes()
		if err != nil {
			return nil, err
		}
		out = append(out, Header{name, value})
	}
	return out, nil
}

func (r *reader) finish() error {
	if len(r.rest) != 0 {
		return ErrTrailingBytes
	}
	return nil
}

// DecodeRequest decodes a request envelope. Header values and the body share memory with b; text
// fields are copied.
func DecodeRequest(b []byte) (*Request, error) {
	r := reader{b}
	if err := r.magic(RequestMagic); err != nil {
		return nil, err
	}
	n, err := r.pairCount()
	if err != nil {
		return nil, err
	}
	req := &Request{Context: make([]Pair, 0, n)}
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		value, err := r.str()
		if err != nil {
			return nil, err
		}
		req.Context = append(req.Context, Pair{key, value})
	}
	if req.Method, err = r.str(); err != nil {
		return nil, err
	}
	if req.URI, err = r.str(); err != nil {
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

// DecodeResponse decodes a response envelope. Header values and the body share memory with b.
func DecodeResponse(b []byte) (*Response, error) { return decodeResponse(ResponseMagic, b) }

// decodeResponse reads the layout shared by the response envelope and the outbound one (EHS1).
func decodeResponse(magic string, b []byte) (*Response, error) {
	r := reader{b}
	if err := r.magic(magic); err != nil {
		return nil, err
	}
	status, err := r.u16()
	if err != nil {
		return nil, err
	}
	if status < 100 || status > 999 {
		return nil, ErrBadStatus
	}
	// Reserved: writers put zero, readers ignore it so a later minor revision can use it.
	if _, err := r.u16(); err != nil {
		return nil, err
	}
	resp := &Response{Status: status}
	if resp.Headers, err = r.headers(); err != nil {
		return nil, err
	}
	if resp.Body, err = r.bytes(); err != nil {
		return nil, err
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return resp, nil
}

// PackPtrLen packs a response location into the i64 that edgefn_v1_handle returns.
func PackPtrLen(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// UnpackPtrLen splits the i64 that edgefn_v1_handle returns into (ptr, len).
func UnpackPtrLen(packed uint64) (ptr, length uint32) { return uint32(packed >> 32), uint32(packed) }
