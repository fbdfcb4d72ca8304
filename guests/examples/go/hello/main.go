// Command hello is the smallest edgefn function in Go: a greeting in plain text, the same as the Rust
// hello guest (guests/examples/hello).
package main

import "github.com/edgefn-dev/edgefn/sdk/go"

// A reactor's main never runs; package initialization does, so the handler is registered here.
func init() { edgefn.Handle(handle) }

// handle greets the caller, naming the function and the platform it runs on.
func handle(_ *edgefn.Request, ctx *edgefn.Context) (*edgefn.Response, error) {
	return edgefn.Text("Hello from " + ctx.FunctionName + " on " + ctx.Platform.String() + "!\n"), nil
}

func main() {}
