package edgefn

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// captureStderr runs f and returns what it wrote to os.Stderr.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	defer func() { os.Stderr = saved }()
	f()
	w.Close()
	return <-done
}

func roundTrip(t *testing.T, req abi.Request, h HandlerFunc) (*abi.Response, string) {
	t.Helper()
	var out []byte
	logged := captureStderr(t, func() { out = serve(req.Encode(), h) })
	resp, err := abi.DecodeResponse(out)
	if err != nil {
		t.Fatalf("the SDK wrote an invalid response envelope: %v", err)
	}
	return resp, logged
}

func header(resp *abi.Response, name string) []string {
	var out []string
	for _, h := range resp.Headers {
		if h.Name == name {
			out = append(out, string(h.Value))
		}
	}
	return out
}

func TestEnvelopeRoundTripThroughAHandler(t *testing.T) {
	req := abi.Request{
		Context: []abi.Pair{
			{Key: "request-id", Value: "r-9"},
			{Key: "platform", Value: "aws-lambda"},
			{Key: "function-name", Value: "fn"},
			{Key: "deadline-ms", Value: "1767225600000"},
			{Key: "cold-start", Value: "true"},
			{Key: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			{Key: "future-key", Value: "ignored"},
		},
		Method:  "PATCH",
		URI:     "/a/b?c=d",
		Headers: []abi.Header{{Name: "x-a", Value: []byte("1")}, {Name: "X-B", Value: []byte{0x80, 0xff}}, {Name: "x-a", Value: []byte("2")}},
		Body:    []byte{0x00, 0xff},
	}
	var seen *Request
	var seenCtx *Context
	resp, _ := roundTrip(t, req, func(r *Request, c *Context) (*Response, error) {
		seen, seenCtx = r, c
		return Text(r.Method + " " + r.URI + " " + c.RequestID + " " + c.Platform.String()), nil
	})
	if resp.Status != 200 || string(resp.Body) != "PATCH /a/b?c=d r-9 aws-lambda" {
		t.Fatalf("got %d %q", resp.Status, resp.Body)
	}
	if got := header(resp, "content-type"); !slices.Equal(got, []string{"text/plain; charset=utf-8"}) {
		t.Errorf("content-type %q", got)
	}
	if !bytes.Equal(seen.Body, []byte{0x00, 0xff}) {
		t.Errorf("body %x", seen.Body)
	}
	if got := seen.Header.Values("x-a"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("repeated header %q", got)
	}
	if seen.Header[1].Name != "x-b" || seen.Header.Get("x-b") != "\x80\xff" {
		t.Errorf("names are lower-cased, values kept byte for byte: %q", seen.Header)
	}
	want := Context{
		RequestID:    "r-9",
		FunctionName: "fn",
		Platform:     PlatformAWSLambda,
		Deadline:     time.UnixMilli(1767225600000),
		ColdStart:    true,
		Traceparent:  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	if *seenCtx != want {
		t.Errorf("context %+v, want %+v", *seenCtx, want)
	}
}

func TestMissingContextGetsNeutralValues(t *testing.T) {
	var ctx *Context
	roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(_ *Request, c *Context) (*Response, error) {
		ctx = c
		return nil, nil
	})
	if ctx.RequestID != "" || ctx.FunctionName != "" || ctx.Platform != PlatformLocal || ctx.ColdStart || ctx.Traceparent != "" {
		t.Errorf("context %+v", *ctx)
	}
	if left := ctx.Remaining(); left < 29*time.Second || left > 30*time.Second {
		t.Errorf("remaining %v, want about 30 s", left)
	}
}

func TestGarbageEnvelopeIsA400NotAPanic(t *testing.T) {
	for _, envelope := range [][]byte{[]byte("EFQ1\xff\xff"), nil, []byte("EFS1")} {
		var out []byte
		logged := captureStderr(t, func() { out = serve(envelope, nil) })
		resp, err := abi.DecodeResponse(out)
		if err != nil || resp.Status != 400 || string(resp.Body) != "400 Bad Request\n" {
			t.Errorf("%q: got %v %v", envelope, resp, err)
		}
		if !strings.Contains(logged, "could not read the request envelope") {
			t.Errorf("log %q", logged)
		}
	}
	// Valid envelope, invalid HTTP: what the Rust SDK refuses, this one refuses too.
	for _, req := range []abi.Request{
		{Method: "GE T", URI: "/"},
		{Method: "GET", URI: "no-slash"},
		{Method: "GET", URI: "/", Headers: []abi.Header{{Name: "bad name", Value: []byte("v")}}},
		{Method: "GET", URI: "/", Headers: []abi.Header{{Name: "x", Value: []byte("a\nb")}}},
	} {
		if resp, _ := roundTrip(t, req, nil); resp.Status != 400 {
			t.Errorf("%+v: status %d", req, resp.Status)
		}
	}
}

func TestHandlerErrorIsABare500(t *testing.T) {
	resp, logged := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(*Request, *Context) (*Response, error) {
		return Text("partial"), errors.New("database password is hunter2")
	})
	if resp.Status != 500 || string(resp.Body) != "500 Internal Server Error\n" {
		t.Fatalf("got %d %q", resp.Status, resp.Body)
	}
	if !strings.Contains(logged, "handler error: database password is hunter2") {
		t.Errorf("the detail belongs in the log: %q", logged)
	}
}

func TestPanicIsABare500WithTheDetailLogged(t *testing.T) {
	for _, value := range []any{"boom", errors.New("boom"), 42} {
		resp, logged := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(*Request, *Context) (*Response, error) {
			panic(value)
		})
		if resp.Status != 500 || strings.Contains(string(resp.Body), "boom") {
			t.Fatalf("got %d %q", resp.Status, resp.Body)
		}
		if !strings.Contains(logged, "handler panicked: ") || !strings.Contains(logged, "edgefn_test.go") {
			t.Errorf("panic value and stack belong in the log: %q", logged)
		}
	}
	// A runtime error (nil map write) is a panic like any other.
	resp, logged := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(*Request, *Context) (*Response, error) {
		var m map[string]int
		m["x"] = 1
		return nil, nil
	})
	if resp.Status != 500 || !strings.Contains(logged, "nil map") {
		t.Errorf("got %d, log %q", resp.Status, logged)
	}
}

func TestNoHandlerRegisteredExplainsItself(t *testing.T) {
	resp, logged := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, nil)
	if resp.Status != 500 || !strings.Contains(logged, "edgefn.Handle from an init function") {
		t.Errorf("got %d, log %q", resp.Status, logged)
	}
}

func TestResponsesTheHostWouldRefuseBecomeA500(t *testing.T) {
	cases := map[string]*Response{
		"status 1000":          {Status: 1000},
		"status 99":            {Status: 99},
		"header name space":    Text("x").WithHeader("bad name", "v"),
		"header value newline": Text("x").WithHeader("x-a", "1\r\nx-injected: 1"),
	}
	for name, r := range cases {
		resp, logged := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(*Request, *Context) (*Response, error) {
			return r, nil
		})
		if resp.Status != 500 || logged == "" {
			t.Errorf("%s: status %d, log %q", name, resp.Status, logged)
		}
	}
}

func TestResponseShapes(t *testing.T) {
	serveOne := func(r *Response, err error) *abi.Response {
		resp, _ := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, func(*Request, *Context) (*Response, error) {
			return r, err
		})
		return resp
	}
	if resp := serveOne(nil, nil); resp.Status != 200 || len(resp.Body) != 0 || len(resp.Headers) != 0 {
		t.Errorf("nil response: %+v", resp)
	}
	if resp := serveOne(&Response{Body: []byte("x")}, nil); resp.Status != 200 {
		t.Errorf("status 0 means 200, got %d", resp.Status)
	}
	resp := serveOne(Bytes([]byte{1, 2}).WithStatus(201).WithHeader("Set-Cookie", "a=1").WithHeader("set-cookie", "b=2"), nil)
	if resp.Status != 201 || !bytes.Equal(resp.Body, []byte{1, 2}) {
		t.Errorf("bytes: %+v", resp)
	}
	if got := header(resp, "set-cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
		t.Errorf("repeated response header %q", got)
	}
	if got := header(resp, "content-type"); !slices.Equal(got, []string{"application/octet-stream"}) {
		t.Errorf("content-type %q", got)
	}
	resp = serveOne(JSON(json.Marshal(map[string]int{"n": 1})))
	if string(resp.Body) != `{"n":1}` || header(resp, "content-type")[0] != "application/json" {
		t.Errorf("json: %+v", resp)
	}
	resp = serveOne(JSON(json.Marshal(func() {})))
	if resp.Status != 500 {
		t.Errorf("unencodable JSON: %d", resp.Status)
	}
	resp = serveOne(Status(404), nil)
	if resp.Status != 404 || string(resp.Body) != "404 Not Found\n" {
		t.Errorf("status: %d %q", resp.Status, resp.Body)
	}
}

func TestHeader(t *testing.T) {
	var h Header
	h.Add("X-A", "1")
	h.Add("x-b", "2")
	h.Add("x-a", "3")
	if h.Get("x-a") != "1" || h.Get("X-B") != "2" || h.Get("x-c") != "" {
		t.Errorf("get: %q", h)
	}
	if _, ok := h.Lookup("x-c"); ok {
		t.Error("lookup of an absent header")
	}
	h.Set("x-a", "4")
	if want := (Header{{"x-a", "4"}, {"x-b", "2"}}); !slices.Equal(h, want) {
		t.Errorf("set keeps the first position and drops the rest: %q", h)
	}
	h.Set("x-c", "5")
	h.Del("X-B")
	if want := (Header{{"x-a", "4"}, {"x-c", "5"}}); !slices.Equal(h, want) {
		t.Errorf("del: %q", h)
	}
}

func TestRequestTarget(t *testing.T) {
	cases := []struct {
		uri, path, query string
		hasQuery         bool
	}{
		{"/", "/", "", false},
		{"/a%20b/c?x=1&x=2", "/a%20b/c", "x=1&x=2", true},
		{"/p?", "/p", "", true},
		{"/p?a?b", "/p", "a?b", true},
	}
	for _, c := range cases {
		r := &Request{URI: c.uri}
		query, ok := r.RawQuery()
		if r.Path() != c.path || query != c.query || ok != c.hasQuery {
			t.Errorf("%q: path %q query %q %v", c.uri, r.Path(), query, ok)
		}
	}
	r := &Request{URI: "/s?q=a+b%21&x=1&&x=%F0%9F%98%80&flag&bad=%zz&x=3"}
	if v, ok := r.QueryParam("q"); !ok || v != "a b!" {
		t.Errorf("q = %q %v", v, ok)
	}
	if got := r.QueryParams("x"); !slices.Equal(got, []string{"1", "😀", "3"}) {
		t.Errorf("x = %q", got)
	}
	if v, ok := r.QueryParam("flag"); !ok || v != "" {
		t.Errorf("flag = %q %v", v, ok)
	}
	if _, ok := r.QueryParam("bad"); ok {
		t.Error("a malformed escape is skipped")
	}
	if _, ok := r.QueryParam("nope"); ok {
		t.Error("absent parameter")
	}
}

func TestContextHelpers(t *testing.T) {
	ctx := NewTestContext()
	if ctx.FunctionName != "test-function" || ctx.Platform != PlatformLocal || ctx.Remaining() <= 0 {
		t.Errorf("test context %+v", *ctx)
	}
	ctx.Deadline = time.Now().Add(-time.Second)
	if ctx.Remaining() != 0 {
		t.Errorf("remaining after the deadline: %v", ctx.Remaining())
	}
	t.Setenv("EDGEFN_TEST_VAR", "v")
	if ctx.Var("EDGEFN_TEST_VAR") != "v" {
		t.Error("Var")
	}
	if _, ok := ctx.LookupVar("EDGEFN_TEST_UNSET_VAR"); ok {
		t.Error("LookupVar of an unset variable")
	}
	if c := contextFromPairs([]abi.Pair{{Key: "deadline-ms", Value: "soon"}}); c.Remaining() < 29*time.Second {
		t.Errorf("an unparsable deadline keeps the default: %v", c.Remaining())
	}
}

func TestHandleRegisters(t *testing.T) {
	defer func(saved HandlerFunc) { handler = saved }(handler)
	Handle(func(*Request, *Context) (*Response, error) { return Text("registered"), nil })
	resp, _ := roundTrip(t, abi.Request{Method: "GET", URI: "/"}, handler)
	if string(resp.Body) != "registered" {
		t.Errorf("body %q", resp.Body)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle(nil) must panic")
		}
	}()
	Handle(nil)
}
