package nethttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
)

// serve runs h through the adapter on one request, as the SDK would for an envelope.
func serve(t *testing.T, h http.Handler, req *edgefn.Request) *edgefn.Response {
	t.Helper()
	resp, err := nethttp.Adapt(h)(req, edgefn.NewTestContext())
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URI, err)
	}
	return resp
}

func fields(h edgefn.Header) []string {
	var out []string
	for _, f := range h {
		out = append(out, f.Name+": "+f.Value)
	}
	return out
}

func TestTheRequestIsWhatANetHTTPServerHandsOver(t *testing.T) {
	every := make([]byte, 256*4)
	for i := range every {
		every[i] = byte(i)
	}
	var seen *http.Request
	var seenBody []byte
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		var err error
		if seenBody, err = io.ReadAll(r.Body); err != nil {
			t.Error(err)
		}
	})
	serve(t, h, &edgefn.Request{
		Method: "PATCH",
		URI:    "/a%20b/c%2Fd?x=1&x=2&y=%F0%9F%98%80",
		Header: edgefn.Header{
			{Name: "host", Value: "example.com:8080"},
			{Name: "x-multi", Value: "one"},
			{Name: "content-type", Value: "application/octet-stream"},
			{Name: "x-multi", Value: "two"},
			{Name: "x-opaque", Value: "\x80\xff bytes"},
		},
		Body: every,
	})
	if seen == nil {
		t.Fatal("the handler was not called")
	}
	if seen.Method != "PATCH" || seen.RequestURI != "/a%20b/c%2Fd?x=1&x=2&y=%F0%9F%98%80" {
		t.Errorf("method %q, request URI %q", seen.Method, seen.RequestURI)
	}
	if seen.URL.Path != "/a b/c/d" || seen.URL.RawPath != "/a%20b/c%2Fd" || seen.URL.EscapedPath() != "/a%20b/c%2Fd" {
		t.Errorf("path %q, raw path %q", seen.URL.Path, seen.URL.RawPath)
	}
	if seen.URL.RawQuery != "x=1&x=2&y=%F0%9F%98%80" || !slices.Equal(seen.URL.Query()["x"], []string{"1", "2"}) ||
		seen.URL.Query().Get("y") != "😀" {
		t.Errorf("query %q", seen.URL.RawQuery)
	}
	if seen.Host != "example.com:8080" || seen.Header.Get("Host") != "" {
		t.Errorf("host %q, Host header %q: net/http moves it to Request.Host", seen.Host, seen.Header.Get("Host"))
	}
	if got := seen.Header.Values("X-Multi"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("repeated header %q", got)
	}
	if got := seen.Header.Get("X-Opaque"); got != "\x80\xff bytes" {
		t.Errorf("opaque header %q", got)
	}
	if _, ok := seen.Header["Content-Type"]; !ok {
		t.Errorf("names are canonical: %v", seen.Header)
	}
	if !bytes.Equal(seenBody, every) || seen.ContentLength != int64(len(every)) {
		t.Errorf("body: %d bytes read, ContentLength %d, want %d", len(seenBody), seen.ContentLength, len(every))
	}
	if seen.Proto != "HTTP/1.1" || !seen.ProtoAtLeast(1, 1) || seen.RemoteAddr != "" || seen.TLS != nil {
		t.Errorf("proto %q, remote %q", seen.Proto, seen.RemoteAddr)
	}
}

func TestAnEmptyBodyIsNoBodyAndAQuestionMarkIsAQuery(t *testing.T) {
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })
	serve(t, h, &edgefn.Request{Method: "GET", URI: "/x?"})
	if seen.Body != http.NoBody || seen.ContentLength != 0 {
		t.Errorf("body %v, length %d", seen.Body, seen.ContentLength)
	}
	if !seen.URL.ForceQuery || seen.URL.RawQuery != "" || seen.URL.RequestURI() != "/x?" {
		t.Errorf("a target ending in ? keeps it: %+v", seen.URL)
	}
	if seen.Host != "" {
		t.Errorf("no Host header, host %q", seen.Host)
	}
}

func TestTargetsNetHTTPRefusesAre400WithoutTheHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Errorf("handler called for %s", r.RequestURI) })
	for _, req := range []*edgefn.Request{
		{Method: "GET", URI: "/bad%zzescape"},
		{Method: "GET", URI: "/", Header: edgefn.Header{{Name: "host", Value: "a"}, {Name: "host", Value: "b"}}},
	} {
		resp := serve(t, h, req)
		if resp.Status != 400 || string(resp.Body) != "400 Bad Request\n" {
			t.Errorf("%s: %d %q", req.URI, resp.Status, resp.Body)
		}
	}
}

func TestTheEdgefnContextAndDeadlineAreInTheRequestContext(t *testing.T) {
	ec := edgefn.NewTestContext()
	ec.RequestID = "req-7"
	ec.Deadline = time.Now().Add(5 * time.Second).Truncate(time.Millisecond)
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		got, ok := nethttp.FromContext(r.Context())
		if !ok || got != ec {
			t.Errorf("FromContext: %v %v", got, ok)
		}
		if d, ok := r.Context().Deadline(); !ok || !d.Equal(ec.Deadline) {
			t.Errorf("deadline %v %v, want %v", d, ok, ec.Deadline)
		}
		if r.Context().Err() != nil {
			t.Errorf("cancelled while the handler runs: %v", r.Context().Err())
		}
	})
	if _, err := nethttp.Adapt(h)(&edgefn.Request{Method: "GET", URI: "/"}, ec); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(seen.Context().Err(), context.Canceled) {
		t.Errorf("the context ends when the handler returns: %v", seen.Context().Err())
	}
	test := httptest.NewRequest("GET", "/", nil)
	if _, ok := nethttp.FromContext(test.Context()); ok {
		t.Error("a context without an edgefn context reports one")
	}
	test = test.WithContext(nethttp.NewContext(test.Context(), ec))
	if got, ok := nethttp.FromContext(test.Context()); !ok || got != ec {
		t.Errorf("NewContext then FromContext: %v %v", got, ok)
	}
}

func TestTheResponseIsWhatTheHandlerWrote(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("Content-Length", "999") // the host frames the body
		w.Header()["x-raw-name"] = []string{"kept"}
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-Late", "after WriteHeader, ignored")
		w.WriteHeader(http.StatusTeapot) // superfluous, ignored
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		w.Write([]byte{0, 0xff})
	})
	resp := serve(t, h, &edgefn.Request{Method: "POST", URI: "/"})
	if resp.Status != 201 {
		t.Errorf("status %d", resp.Status)
	}
	if !bytes.Equal(resp.Body, []byte("part one, \x00\xff")) {
		t.Errorf("body %q", resp.Body)
	}
	want := []string{"content-type: text/plain", "set-cookie: a=1", "set-cookie: b=2", "x-raw-name: kept"}
	if got := fields(resp.Header); !slices.Equal(got, want) {
		t.Errorf("headers %q, want %q", got, want)
	}
}

func TestNothingWrittenIs200AndAnUntypedBodyIsSniffed(t *testing.T) {
	resp := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), &edgefn.Request{Method: "GET", URI: "/"})
	if resp.Status != 200 || len(resp.Body) != 0 || len(resp.Header) != 0 {
		t.Errorf("nothing written: %d %q %q", resp.Status, resp.Body, fields(resp.Header))
	}
	for _, c := range []struct {
		name   string
		header func(http.Header)
		body   string
		want   []string
	}{
		{"html", func(http.Header) {}, "<!DOCTYPE html><p>hi", []string{"content-type: text/html; charset=utf-8"}},
		{"text", func(http.Header) {}, "plain words", []string{"content-type: text/plain; charset=utf-8"}},
		{"suppressed", func(h http.Header) { h["Content-Type"] = nil }, "plain words", nil},
		{"encoded", func(h http.Header) { h.Set("Content-Encoding", "gzip") }, "\x1f\x8b", []string{"content-encoding: gzip"}},
	} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.header(w.Header())
			io.WriteString(w, c.body)
		})
		if got := fields(serve(t, h, &edgefn.Request{Method: "GET", URI: "/"}).Header); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestBodiesAreRefusedWhereNetHTTPRefusesThem(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusNotModified} {
		var err error
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, err = w.Write([]byte("x"))
		})
		resp := serve(t, h, &edgefn.Request{Method: "GET", URI: "/"})
		if !errors.Is(err, http.ErrBodyNotAllowed) || resp.Status != status || len(resp.Body) != 0 {
			t.Errorf("%d: write error %v, answered %d %q", status, err, resp.Status, resp.Body)
		}
	}
}

func TestInformationalStatusesAreDroppedAndInvalidOnesPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
	})
	if resp := serve(t, h, &edgefn.Request{Method: "GET", URI: "/"}); resp.Status != 202 {
		t.Errorf("status %d after 103 then 202", resp.Status)
	}
	defer func() {
		if v := recover(); v != "invalid WriteHeader code 42" {
			t.Errorf("recovered %v; the panic must reach the SDK, which answers 500", v)
		}
	}()
	serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) }),
		&edgefn.Request{Method: "GET", URI: "/"})
	t.Error("no panic")
}

func TestTrailersAreRefused(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"declared": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("body"))
			w.Header().Set("X-Sum", "1")
		},
		"prefix": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("body"))
			w.Header().Set(http.TrailerPrefix+"X-Sum", "1")
		},
	} {
		_, err := nethttp.Adapt(h)(&edgefn.Request{Method: "GET", URI: "/"}, edgefn.NewTestContext())
		if err == nil || !strings.Contains(err.Error(), "trailers") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAPanicReachesTheSDK(t *testing.T) {
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v", v)
		}
	}()
	serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }),
		&edgefn.Request{Method: "GET", URI: "/"})
}

// A ServeMux with Go 1.22 patterns, under StripFunctionName, as a function uses it.
func mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "root") })
	m.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "item "+r.PathValue("id")+" raw "+r.URL.EscapedPath())
	})
	m.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		var item struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&item); err != nil {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]string{"created": item.Name})
	})
	m.HandleFunc("/files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "file "+r.PathValue("path"))
	})
	return nethttp.StripFunctionName(m)
}

func TestServeMuxPatternsBelowTheFunctionName(t *testing.T) {
	h := mux()
	for _, c := range []struct{ method, uri, body string }{
		{"GET", "/test-function", "root"},
		{"GET", "/test-function/", "root"},
		{"GET", "/", "root"},
		{"GET", "/test-function/items/7", "item 7 raw /items/7"},
		{"GET", "/items/7", "item 7 raw /items/7"},
		{"GET", "/test-function/items/a%2Fb", "item a/b raw /items/a%2Fb"},
		{"DELETE", "/test-function/files/a/b.txt", "file a/b.txt"},
	} {
		resp := serve(t, h, &edgefn.Request{Method: c.method, URI: c.uri})
		if resp.Status != 200 || string(resp.Body) != c.body {
			t.Errorf("%s %s: %d %q, want %q", c.method, c.uri, resp.Status, resp.Body, c.body)
		}
	}
	// A name that only starts like the function's is a path of its own.
	if resp := serve(t, h, &edgefn.Request{Method: "GET", URI: "/test-functionx/items/7"}); resp.Status != 404 {
		t.Errorf("/test-functionx: %d %q", resp.Status, resp.Body)
	}
	wrong := serve(t, h, &edgefn.Request{Method: "PUT", URI: "/test-function/items/7"})
	if wrong.Status != 405 || wrong.Header.Get("allow") != "GET, HEAD" {
		t.Errorf("PUT: %d %q", wrong.Status, fields(wrong.Header))
	}
}

func TestJSONRoundTripsThroughTheMux(t *testing.T) {
	h := mux()
	created := serve(t, h, &edgefn.Request{Method: "POST", URI: "/test-function/items", Body: []byte(`{"name":"lamp ✓"}`)})
	if created.Status != 201 || created.Header.Get("content-type") != "application/json" {
		t.Errorf("created: %d %q", created.Status, fields(created.Header))
	}
	var got map[string]string
	if err := json.Unmarshal(created.Body, &got); err != nil || got["created"] != "lamp ✓" {
		t.Errorf("body %q: %v", created.Body, err)
	}
	bad := serve(t, h, &edgefn.Request{Method: "POST", URI: "/items", Body: []byte(`{nope`)})
	if bad.Status != 400 || !strings.HasPrefix(string(bad.Body), "bad JSON: invalid character") {
		t.Errorf("bad JSON: %d %q", bad.Status, bad.Body)
	}
	if got := bad.Header.Get("x-content-type-options"); got != "nosniff" {
		t.Errorf("http.Error's headers are kept: %q", fields(bad.Header))
	}
}

func TestStripFunctionNameLeavesRequestsWithoutAContextAlone(t *testing.T) {
	var path string
	h := nethttp.StripFunctionName(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { path = r.URL.Path }))
	r, _ := http.NewRequest("GET", "http://x/test-function/a", nil)
	h.ServeHTTP(nil, r)
	if path != "/test-function/a" {
		t.Errorf("path %q", path)
	}
}

func TestResponseControllerFlushesAndRefusesWhatTheEnvelopeCannotDo(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Second)); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		if _, _, err := rc.Hijack(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Hijack: %v", err)
		}
		io.WriteString(w, "after the flush")
	})
	resp := serve(t, h, &edgefn.Request{Method: "GET", URI: "/"})
	if resp.Status != 200 || string(resp.Body) != "after the flush" {
		t.Errorf("%d %q", resp.Status, resp.Body)
	}
}
