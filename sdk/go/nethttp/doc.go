// Package nethttp serves a net/http handler as an edgefn function: each request envelope becomes
// an *http.Request, the handler answers through an http.ResponseWriter, and what it wrote becomes
// the response envelope. An http.ServeMux with Go 1.22 patterns, middleware and anything else
// written against net/http's server side works unchanged:
//
//	package main
//
//	import (
//		"net/http"
//
//		"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
//	)
//
//	func init() {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
//			w.Write([]byte("item " + r.PathValue("id") + "\n"))
//		})
//		nethttp.Serve(nethttp.StripFunctionName(mux))
//	}
//
//	func main() {}
//
// As with edgefn.Handle, register in an init function: a reactor's main never runs.
//
// It is a package of its own, apart from package edgefn, because net/http more than doubles a Go
// module (2.2 MB to 5.4 MB for a hello) and adds its initialization to every fresh instance:
// functions written against edgefn.Request link none of it (bench/README.md, "Frameworks", has
// the numbers).
//
// # Requests
//
// The handler sees what a net/http server would give it for the same request:
//
//   - Method; URL parsed from the request target as received (URL.Path decoded, URL.RawPath
//     when the encoding is not the default one, URL.RawQuery still encoded, URL.ForceQuery for
//     a target ending in "?"); RequestURI the target itself; Proto HTTP/1.1.
//   - Header with canonical names, each name's values in arrival order. The Host header is moved
//     to Host, as net/http does; a request with several is answered 400.
//   - Body holding the whole body (http.NoBody when it is empty) and ContentLength its length.
//   - RemoteAddr is empty: ABI v1 does not carry the client's address. Headers a platform adds
//     (x-forwarded-for, Workers' cf-connecting-ip) are in Header like any other.
//   - Context carries the invocation's edgefn.Context (FromContext) and its deadline, and is
//     cancelled when the handler returns.
//
// A target that net/http would refuse (an invalid percent escape in the path) is answered 400
// without calling the handler.
//
// # Responses
//
// The ResponseWriter keeps the status, headers and body in memory and the host sends them when the
// handler returns; nothing reaches the client before that:
//
//   - WriteHeader sets the status once (a later call is ignored, with a log line); a status
//     outside 100..999 panics, as in net/http. Informational statuses (1xx but 101) are
//     dropped: an envelope carries one response. Nothing written answers 200 with no body.
//   - Headers are those of Header() when WriteHeader ran (or the first Write); later changes do not
//     count. They go in name order, each name's values in order, names lower-cased.
//   - A body without a Content-Type gets one from http.DetectContentType, unless it has a
//     Content-Encoding or the handler set Header()["Content-Type"] = nil, as in net/http.
//   - Content-Length and Transfer-Encoding are dropped: the host frames the body it gets.
//   - Write after 101, 204 or 304 answers http.ErrBodyNotAllowed.
//   - Flush is accepted and does nothing (the body goes when the handler returns), so handlers and
//     http.ResponseController that flush keep working. Hijack, deadlines and full-duplex are not
//     supported (http.ResponseController answers http.ErrNotSupported).
//   - Trailers are refused: a response that declares a Trailer header or sets an
//     http.TrailerPrefix key answers 500, with the reason in the log, since ABI v1 responses
//     cannot carry them.
//   - Header names and values are checked as edgefn.Response's are: a name that is not a token or
//     a control character in a value answers 500, with the reason in the log.
//
// A panic in the handler (http.ErrAbortHandler included) answers a bare 500, with the panic value
// and stack in the log, as for any edgefn handler.
//
// # Paths
//
// The same module sees different paths on different platforms: a function named shop is reached
// at /shop/items/7 on the local host and Azure Functions, and at /items/7 on Lambda and Workers.
// Serve hands the handler the path as received; StripFunctionName removes the leading
// /<function name> segment when there is one, so one set of patterns serves both.
//
// # Tests
//
// Test the handler as any net/http handler, with net/http/httptest and no Wasm. For handlers that
// read the edgefn context, NewContext puts one into a test request's context.
package nethttp
