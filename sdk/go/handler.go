package edgefn

import (
	"os"
	"runtime/debug"
	"strconv"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// HandlerFunc serves one request. Return a response, or an error for a bare 500 (the error is
// logged, never sent). A nil response with a nil error answers 200 with no body.
type HandlerFunc func(req *Request, ctx *Context) (*Response, error)

var handler HandlerFunc

// Handle registers the function's handler. Call it from an init function of package main: a
// reactor module runs package initialization when the host instantiates it, but never calls main.
// A later call replaces the handler.
func Handle(h HandlerFunc) {
	if h == nil {
		panic("edgefn.Handle: nil handler")
	}
	handler = h
}

// serve is the whole guest path on plain bytes: decode the request envelope, call the handler,
// encode the response envelope. The ABI exports call it; tests call it natively.
func serve(envelope []byte, h HandlerFunc) []byte {
	req, ctx, err := decodeRequest(envelope)
	if err != nil {
		logLine("edgefn: could not read the request envelope: " + err.Error())
		return encodeResponse(Status(400))
	}
	return encodeResponse(call(h, req, ctx))
}

func decodeRequest(envelope []byte) (*Request, *Context, error) {
	e, err := abi.DecodeRequest(envelope)
	if err != nil {
		return nil, nil, err
	}
	if !isToken(e.Method) {
		return nil, nil, errorString("invalid method " + strconv.Quote(e.Method))
	}
	if !validURI(e.URI) {
		return nil, nil, errorString("invalid request target " + strconv.Quote(e.URI))
	}
	req := &Request{Method: e.Method, URI: e.URI, Body: e.Body, Header: make(Header, 0, len(e.Headers))}
	for _, h := range e.Headers {
		value := string(h.Value)
		if !isToken(h.Name) || !validValue(value) {
			return nil, nil, errorString("invalid header " + strconv.Quote(h.Name))
		}
		req.Header = append(req.Header, Field{toLower(h.Name), value})
	}
	return req, contextFromPairs(e.Context), nil
}

// validURI accepts an origin-form target: it starts with "/" (or is "*") and holds no spaces or
// control characters.
func validURI(uri string) bool {
	if uri == "" || (uri[0] != '/' && uri != "*") {
		return false
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// call runs the handler; an error or a panic becomes a bare 500 with the detail on stderr.
func call(h HandlerFunc, req *Request, ctx *Context) (resp *Response) {
	if h == nil {
		logLine("edgefn: no handler is registered: call edgefn.Handle from an init function of package main (a reactor's main never runs)")
		return Status(500)
	}
	defer func() {
		if v := recover(); v != nil {
			logLine("edgefn: handler panicked: " + describe(v) + "\n" + string(debug.Stack()))
			resp = Status(500)
		}
	}()
	resp, err := h(req, ctx)
	if err != nil {
		logLine("edgefn: handler error: " + err.Error())
		return Status(500)
	}
	if resp == nil {
		return &Response{Status: 200}
	}
	return resp
}

// encodeResponse checks a response and encodes it. A response the host would refuse (a status
// outside 100..999, a header that is not valid HTTP) becomes a bare 500, with the reason logged
// here where the function's author can see it.
func encodeResponse(r *Response) []byte {
	status := r.Status
	if status == 0 {
		status = 200
	}
	if status < 100 || status > 999 {
		logLine("edgefn: the handler answered status " + strconv.Itoa(r.Status) + ", outside 100..999")
		return encodeResponse(Status(500))
	}
	e := abi.Response{Status: uint16(status), Body: r.Body, Headers: make([]abi.Header, 0, len(r.Header))}
	for _, f := range r.Header {
		if !isToken(f.Name) {
			logLine("edgefn: the handler answered an invalid header name " + strconv.Quote(f.Name))
			return encodeResponse(Status(500))
		}
		if !validValue(f.Value) {
			logLine("edgefn: the handler answered a control character in header " + strconv.Quote(f.Name))
			return encodeResponse(Status(500))
		}
		e.Headers = append(e.Headers, abi.Header{Name: toLower(f.Name), Value: []byte(f.Value)})
	}
	return e.Encode()
}

func logLine(s string) {
	_, _ = os.Stderr.WriteString(s + "\n")
}

type errorString string

func (e errorString) Error() string { return string(e) }

// describe renders a panic value without fmt (which would add about half a megabyte to every
// function).
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case interface{ String() string }:
		return v.String()
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	return "a value that is not a string, error or Stringer"
}
