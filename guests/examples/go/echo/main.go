// Command echo echoes the request back: the body byte for byte, and what arrived in x-echo-*
// response headers, so tests can check that nothing was lost or altered on the way in. It answers
// exactly like the Rust echo guest (guests/examples/echo), so the same tests apply to both.
package main

import "github.com/edgefn-dev/edgefn/sdk/go"

func init() { edgefn.Handle(handle) }

// handle returns the request body unchanged, with the method, path, query and every request header
// (repeats included, in order) reported as response headers.
func handle(req *edgefn.Request, ctx *edgefn.Context) (*edgefn.Response, error) {
	resp := &edgefn.Response{Status: 200, Body: req.Body}
	resp.Header.Set("x-echo-method", req.Method)
	resp.Header.Set("x-echo-path", req.Path())
	if query, ok := req.RawQuery(); ok {
		resp.Header.Set("x-echo-query", query)
	}
	requestID := ctx.RequestID
	if !visibleASCII(requestID) {
		requestID = ""
	}
	resp.Header.Set("x-echo-request-id", requestID)
	for _, f := range req.Header {
		resp.Header.Add("x-echo-h-"+f.Name, f.Value)
	}
	contentType, ok := req.Header.Lookup("content-type")
	if !ok {
		contentType = "application/octet-stream"
	}
	resp.Header.Set("content-type", contentType)
	return resp, nil
}

// visibleASCII is what the Rust echo accepts for the request id header (HeaderValue::from_str):
// printable ASCII and tab.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func main() {}
