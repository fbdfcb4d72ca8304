// Command main is an edgefn function written against net/http: an http.ServeMux, compiled to a
// wasip1 reactor. The same module runs on the edgefn host, AWS Lambda, Azure Functions and
// Cloudflare Workers.
//
// `go test` runs the handler natively with net/http/httptest; `edgefn build` makes the module;
// `edgefn serve --watch .` serves it and reloads it whenever a file changes.
package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
)

// A reactor's main never runs; package initialization does, so the handler is registered here.
func init() { nethttp.Serve(handler()) }

// handler routes below the function's name, so the same patterns match /<name>/greetings on the
// local host and Azure Functions and /greetings on Lambda and Workers.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", hello)
	mux.HandleFunc("POST /greetings", greeting)
	return nethttp.StripFunctionName(mux)
}

// hello greets whoever ?name= names.
func hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	function, platform := "this function", "its platform"
	if ctx, ok := nethttp.FromContext(r.Context()); ok {
		function, platform = ctx.FunctionName, ctx.Platform.String()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello, "+name+", from "+function+" on "+platform+"!\n")
}

// greeting answers {"name": "edge"} with {"message": "Hello, edge!"}; anything else is a 400.
func greeting(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
		http.Error(w, `send {"name": "..."}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"message": "Hello, " + in.Name + "!"})
}

func main() {}
