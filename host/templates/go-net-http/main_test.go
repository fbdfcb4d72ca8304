package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/nethttp"
)

func TestGreetsByName(t *testing.T) {
	ctx := edgefn.NewTestContext()
	ctx.FunctionName = "greet"
	r := httptest.NewRequest("GET", "/greet?name=edge", nil)
	r = r.WithContext(nethttp.NewContext(r.Context(), ctx))
	w := httptest.NewRecorder()
	handler().ServeHTTP(w, r)
	if got := w.Body.String(); w.Code != 200 || got != "Hello, edge, from greet on local!\n" {
		t.Errorf("%d %q", w.Code, got)
	}
}

func TestAnswersJSON(t *testing.T) {
	w := httptest.NewRecorder()
	handler().ServeHTTP(w, httptest.NewRequest("POST", "/greetings", strings.NewReader(`{"name":"edge"}`)))
	if got := w.Body.String(); w.Code != 200 || got != "{\"message\":\"Hello, edge!\"}\n" {
		t.Errorf("%d %q", w.Code, got)
	}
	w = httptest.NewRecorder()
	handler().ServeHTTP(w, httptest.NewRequest("POST", "/greetings", strings.NewReader(`{nope`)))
	if w.Code != 400 {
		t.Errorf("bad JSON: %d %q", w.Code, w.Body)
	}
}
