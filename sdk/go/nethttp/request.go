package nethttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

// newRequest builds the *http.Request a net/http server would hand a handler for req, or says why
// a net/http server would have answered 400 instead.
func newRequest(ctx context.Context, req *edgefn.Request) (*http.Request, string) {
	// What net/http's server parses a request target with (origin form, or "*").
	u, err := url.ParseRequestURI(req.URI)
	if err != nil {
		return nil, "the request target does not parse: " + err.Error()
	}
	header := make(http.Header, len(req.Header))
	var hosts []string
	for _, f := range req.Header {
		key := http.CanonicalHeaderKey(f.Name)
		if key == "Host" {
			hosts = append(hosts, f.Value)
			continue
		}
		header[key] = append(header[key], f.Value)
	}
	if len(hosts) > 1 {
		return nil, "the request has several Host headers"
	}
	r := &http.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          body(req.Body),
		ContentLength: int64(len(req.Body)),
		RequestURI:    req.URI,
	}
	if len(hosts) == 1 {
		r.Host = hosts[0]
	}
	return r.WithContext(ctx), ""
}

// body is the request body as a server request has it: http.NoBody when empty.
func body(b []byte) io.ReadCloser {
	if len(b) == 0 {
		return http.NoBody
	}
	return io.NopCloser(bytes.NewReader(b))
}
