// Command main is an edgefn function: one HTTP handler, compiled to a wasip1 reactor. The same
// module runs on the edgefn host, AWS Lambda, Azure Functions and Cloudflare Workers.
//
// `go test` runs the handler natively; `edgefn build` makes the module; `edgefn serve --watch .`
// serves it and reloads it whenever a file changes.
package main

import "github.com/edgefn-dev/edgefn/sdk/go"

// A reactor's main never runs; package initialization does, so the handler is registered here.
func init() { edgefn.Handle(handle) }

// handle greets whoever ?name= names.
func handle(req *edgefn.Request, ctx *edgefn.Context) (*edgefn.Response, error) {
	name, ok := req.QueryParam("name")
	if !ok {
		name = "world"
	}
	return edgefn.Text("Hello, " + name + ", from " + ctx.FunctionName + " on " + ctx.Platform.String() + "!\n"), nil
}

func main() {}
