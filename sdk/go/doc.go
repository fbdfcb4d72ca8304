// Package edgefn is the Go guest SDK for edgefn: write one HTTP handler, build it to a
// wasm32-wasip1 reactor, and run the same .wasm on the edgefn host, AWS Lambda, Azure Functions and
// Cloudflare Workers. It speaks the same guest ABI (v1, docs/abi.md) as the Rust SDK, with the same
// handler shape: a request, a context, and a response or an error.
//
//	package main
//
//	import "github.com/edgefn-dev/edgefn/sdk/go"
//
//	func init() {
//		edgefn.Handle(func(req *edgefn.Request, ctx *edgefn.Context) (*edgefn.Response, error) {
//			return edgefn.Text("Hello from " + ctx.FunctionName + " on " + ctx.Platform.String() + "!\n"), nil
//		})
//	}
//
//	func main() {}
//
// Register the handler in an init function: a reactor's main is never called, only package
// initialization runs (when the host calls _initialize). Build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o fn.wasm .
//
// Output on os.Stdout and os.Stderr is logging: the host tags it with the function and request id;
// it never reaches the response. A handler that returns an error or panics answers
// "500 Internal Server Error" without detail; the detail goes to stderr.
//
// The package builds natively too, so handlers are unit-tested with go test and no Wasm: build a
// Context with NewTestContext and call the function.
//
// The SDK uses the standard library only and keeps its imports small, because every package linked
// into a function adds to its module size and to the initialization each fresh instance runs. In
// particular it does not import fmt, encoding/json or net/http; JSON takes the output of
// json.Marshal, so only functions that answer JSON link encoding/json.
//
// Outbound HTTP is in package github.com/edgefn-dev/edgefn/sdk/go/edgehttp, for the same reason: its
// Transport is an http.RoundTripper, and only functions that import it link net/http.
package edgefn
