package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
)

// do serves one httptest request through the function's handler, natively.
func do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	handler().ServeHTTP(w, r)
	return w
}

func TestHelloNamesTheFunctionAndPlatform(t *testing.T) {
	r := httptest.NewRequest("GET", "/nethttp/hello", nil)
	ec := edgefn.NewTestContext()
	ec.FunctionName = "nethttp"
	w := do(r.WithContext(nethttp.NewContext(r.Context(), ec)))
	if w.Code != 200 || w.Body.String() != "Hello from nethttp on local!\n" {
		t.Errorf("%d %q", w.Code, w.Body)
	}
}

func TestItemsCarryTheirPathParameter(t *testing.T) {
	w := do(httptest.NewRequest("GET", "/items/a%20b", nil))
	if w.Code != 200 || w.Body.String() != `{"id":"a b"}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("%d %q %v", w.Code, w.Body, w.Header())
	}
	wrong := do(httptest.NewRequest("PUT", "/items/7", nil))
	if wrong.Code != 405 || wrong.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("PUT: %d %v", wrong.Code, wrong.Header())
	}
	if missing := do(httptest.NewRequest("GET", "/nothing", nil)); missing.Code != 404 {
		t.Errorf("unknown path: %d", missing.Code)
	}
}

func TestGreetAnswersJSONLikeTheRustExample(t *testing.T) {
	w := do(httptest.NewRequest("POST", "/greet", strings.NewReader(`{"name":"édge","count":2}`)))
	// Byte for byte what guests/examples/json answers.
	if w.Code != 200 || w.Body.String() != `{"message":"Hello, édge! Hello, édge!","length":25}` {
		t.Errorf("%d %q", w.Code, w.Body)
	}
	for body, want := range map[string]string{
		`{nope`:         "invalid JSON body: invalid character 'n'",
		`{"count":1}`:   "invalid JSON body: missing field name",
		`{"name":1}`:    "invalid JSON body: json: cannot unmarshal number",
		`{"name":"a"}x`: "invalid JSON body: invalid character 'x' after top-level value",
	} {
		w := do(httptest.NewRequest("POST", "/greet", strings.NewReader(body)))
		var answer struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || w.Code != 400 || !strings.HasPrefix(answer.Error, want) {
			t.Errorf("%s: %d %q (%v), want 400 starting %q", body, w.Code, w.Body, err, want)
		}
	}
	if w := do(httptest.NewRequest("POST", "/greet", strings.NewReader(`{"name":"a","count":1000}`))); !strings.Contains(w.Body.String(), `"length":999`) {
		t.Errorf("count is capped at 100: %q", w.Body)
	}
}

func TestEchoReturnsEveryByteAndHeader(t *testing.T) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	r := httptest.NewRequest("PATCH", "/echo/a%20b?x=1&x=2", bytes.NewReader(every))
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	w := do(r)
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), every) {
		t.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
	}
	h := w.Header()
	if h.Get("X-Echo-Method") != "PATCH" || h.Get("X-Echo-Path") != "/echo/a%20b" || h.Get("X-Echo-Query") != "x=1&x=2" {
		t.Errorf("method, path, query: %v", h)
	}
	if got := h.Values("X-Echo-H-X-Multi"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("repeated header %q", got)
	}
	if h.Get("X-Echo-H-Host") != "example.com" || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("host, content type: %v", h)
	}
	if _, ok := do(httptest.NewRequest("GET", "/echo", nil)).Header()["X-Echo-Query"]; ok {
		t.Error("x-echo-query without a query")
	}
}

func TestPanicRoutePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	do(httptest.NewRequest("GET", "/panic", nil))
}
