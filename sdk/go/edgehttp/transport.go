// Package edgehttp is outbound HTTP for edgefn functions written in Go: an http.RoundTripper that
// sends each request through the edgefn host (the edgefn_v1 http_send import, docs/abi.md), so
// http.Client, and libraries built on net/http, work unchanged inside a function:
//
//	client := &http.Client{Transport: edgehttp.Transport}
//	resp, err := client.Get("https://api.example.com/v1/items")
//
// The host calls only what the function is granted (outbound.allowed_hosts in the manifest,
// docs/manifest.md) and applies the same policy on every platform; a refusal or failure is an
// *Error with a Kind.
//
// It is a package of its own, apart from package edgefn, because net/http more than doubles a Go
// module (2.2 MB to 4.8 MB for hello) and adds its initialization to every fresh instance:
// functions that do not call out do not link it, nor its edgefn_v1 imports.
package edgehttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// Transport sends requests through the edgefn host. It is safe for concurrent use; calls run one
// at a time, each until its answer is complete.
//
// What it does with a request:
//   - The URL goes as req.URL.String() without its fragment or user info (credentials become
//     a basic Authorization header unless the request has one, as http.Client does).
//   - Headers go in name order, each name's values in order (repeats kept). Those the host owns
//     and net/http sets itself (Host, Content-Length, Transfer-Encoding, Connection, Keep-Alive,
//     Proxy-Connection, TE, Trailer) are left out: the host sets host from the URL and frames the
//     body. A req.Host other than the URL's host is refused (Invalid).
//   - The body is read whole and closed.
//   - The time limit is the request context's deadline (http.Client.Timeout sets one), else the
//     function's outbound.timeout_ms; never past the invocation's deadline. A context cancelled
//     without a deadline cannot interrupt a call in progress.
//
// The host never follows redirects: a 3xx is the response. http.Client follows them itself, each
// hop a new RoundTrip that the host checks against the allow-list again.
//
// The response has the upstream's status and headers (names canonicalised), the whole body in
// memory (ContentLength is its length), and Proto HTTP/1.1 whatever the upstream spoke.
var Transport http.RoundTripper = transport{}

type transport struct{}

// ownedHeaders are left out of the envelope: the host refuses them and sets or frames them
// itself. Upgrade is not here: a request that wants one cannot have it, and the host says so.
var ownedHeaders = []string{
	"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer",
}

func (transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	envelope, err := encodeRequest(req, time.Now())
	if err != nil {
		return nil, err
	}
	result, err := call(imports, envelope)
	if err != nil {
		return nil, err
	}
	return decodeResponse(req, result)
}

// encodeRequest turns req into an outbound request envelope, reading its body; now is the clock
// the context's deadline is measured against.
func encodeRequest(req *http.Request, now time.Time) ([]byte, error) {
	if req.URL == nil {
		return nil, &Error{Kind: Invalid, Message: "the request has no URL"}
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var timeoutMS uint32
	if deadline, ok := ctx.Deadline(); ok {
		left := deadline.Sub(now)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		// Rounded up: 0 would mean the function's default, not "almost none".
		timeoutMS = uint32(min((left+time.Millisecond-1)/time.Millisecond, math.MaxUint32))
	}
	if req.Host != "" && req.Host != req.URL.Host {
		return nil, &Error{Kind: Invalid, Message: "the request's Host " + strconv.Quote(req.Host) +
			" differs from its URL's host " + strconv.Quote(req.URL.Host) +
			": the edgefn host sets the host header from the URL, so put the host in the URL"}
	}

	u := *req.URL
	u.Fragment, u.RawFragment, u.User = "", "", nil
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	e := abi.HTTPRequest{TimeoutMS: timeoutMS, Method: method, URL: u.String()}

	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		if !slices.Contains(ownedHeaders, http.CanonicalHeaderKey(name)) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		lower := strings.ToLower(name)
		for _, v := range req.Header[name] {
			e.Headers = append(e.Headers, abi.Header{Name: lower, Value: []byte(v)})
		}
	}
	if user := req.URL.User; user != nil && req.Header.Get("Authorization") == "" {
		password, _ := user.Password()
		credentials := base64.StdEncoding.EncodeToString([]byte(user.Username() + ":" + password))
		e.Headers = append(e.Headers, abi.Header{Name: "authorization", Value: []byte("Basic " + credentials)})
	}

	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, errorString("edgefn outbound HTTP: reading the request body for " + e.URL + ": " + err.Error())
		}
		e.Body = body
	}
	return e.Encode(), nil
}

// decodeResponse turns the host's response envelope into the *http.Response to req.
func decodeResponse(req *http.Request, result []byte) (*http.Response, error) {
	e, err := abi.DecodeHTTPResponse(result)
	if err != nil {
		return nil, protocolError("its http_send result is not an EHS1 envelope (" + err.Error() + ")")
	}
	header := make(http.Header, len(e.Headers))
	for _, h := range e.Headers {
		name := http.CanonicalHeaderKey(h.Name)
		header[name] = append(header[name], string(h.Value))
	}
	status := int(e.Status)
	resp := &http.Response{
		Status:        strings.TrimSpace(strconv.Itoa(status) + " " + http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(e.Body)),
		ContentLength: int64(len(e.Body)),
		Request:       req,
	}
	// A HEAD response has no body, and its Content-Length describes the GET's, as net/http has it.
	if req.Method == http.MethodHead {
		resp.ContentLength = -1
		if n, err := strconv.ParseInt(header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	return resp, nil
}
