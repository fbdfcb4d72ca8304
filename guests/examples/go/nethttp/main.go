// Command nethttp is an edgefn function written against net/http: an http.ServeMux with Go 1.22
// patterns and encoding/json, served through package nethttp of the Go SDK. Its routes answer like
// the SDK's own examples, so the same tests apply to both:
//
//	GET  /hello        the greeting of go-hello (guests/examples/go/hello)
//	GET  /items/{id}   a path parameter, as JSON: {"id":"7"}
//	POST /greet        JSON in, JSON out, as the Rust json example (guests/examples/json); a body
//	                   that is not the expected JSON is a 400 with a JSON error
//	any  /echo/...     the request echoed, as go-echo (guests/examples/go/echo)
//	GET  /panic        panics, to show that a panic answers 500 (a demonstration route, not one for
//	                   a real function)
//
// Paths are below the function's name: /nethttp/items/7 on the local host, /items/7 on Lambda.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
)

// A reactor's main never runs; package initialization does, so the handler is registered here.
func init() { nethttp.Serve(handler()) }

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", hello)
	mux.HandleFunc("GET /items/{id}", item)
	mux.HandleFunc("POST /greet", greet)
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/echo/", echo)
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) {
		panic("the /panic route panics on purpose")
	})
	return nethttp.StripFunctionName(mux)
}

// invocation is the edgefn context of the request; a test request without one gets a test context.
func invocation(r *http.Request) *edgefn.Context {
	if ec, ok := nethttp.FromContext(r.Context()); ok {
		return ec
	}
	return edgefn.NewTestContext()
}

// hello greets the caller, naming the function and its platform.
func hello(w http.ResponseWriter, r *http.Request) {
	ec := invocation(r)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Hello from "+ec.FunctionName+" on "+ec.Platform.String()+"!\n")
}

// item answers the {id} the path carried.
func item(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
}

// greetRequest is what /greet accepts; pointers tell a missing field from a zero one.
type greetRequest struct {
	Name  *string `json:"name"`
	Count *uint32 `json:"count"`
}

// greeting is what /greet answers.
type greeting struct {
	Message string `json:"message"`
	Length  int    `json:"length"`
}

// greet repeats a greeting count times (1 by default, 100 at most).
func greet(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "could not read the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var in greetRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return
	}
	if in.Name == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: missing field name"})
		return
	}
	count := uint32(1)
	if in.Count != nil {
		count = min(*in.Count, 100)
	}
	message := ""
	for i := range count {
		if i > 0 {
			message += " "
		}
		message += "Hello, " + *in.Name + "!"
	}
	writeJSON(w, http.StatusOK, greeting{Message: message, Length: utf8.RuneCountInString(message)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "could not encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// echo returns the request body unchanged, with the method, path and query as received and every
// request header (repeats in order; Host, which net/http keeps in r.Host, too) as response headers.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "could not read the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("X-Echo-Method", r.Method)
	path, query, hasQuery := strings.Cut(r.RequestURI, "?")
	h.Set("X-Echo-Path", path)
	if hasQuery {
		h.Set("X-Echo-Query", query)
	}
	h.Set("X-Echo-Request-Id", invocation(r).RequestID)
	if r.Host != "" {
		h.Add("X-Echo-H-Host", r.Host)
	}
	for name, values := range r.Header {
		for _, value := range values {
			h.Add("X-Echo-H-"+name, value)
		}
	}
	contentType := r.Header.Get("Content-Type")
	if _, ok := r.Header["Content-Type"]; !ok {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	w.Write(body)
}

func main() {}
