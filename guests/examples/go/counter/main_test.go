package main

import (
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/edgekv"
)

func get(t *testing.T, method, uri string) *edgefn.Response {
	t.Helper()
	resp, err := handle(&edgefn.Request{Method: method, URI: uri}, edgefn.NewTestContext())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCountsPerNameAndResets(t *testing.T) {
	t.Cleanup(edgekv.UseMemory("default"))
	for _, want := range []string{"1\n", "2\n", "3\n"} {
		if got := string(get(t, "GET", "/counter").Body); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if got := string(get(t, "GET", "/counter?name=other").Body); got != "1\n" {
		t.Errorf("another name counts on its own: %q", got)
	}
	get(t, "DELETE", "/counter")
	if got := string(get(t, "GET", "/counter").Body); got != "1\n" {
		t.Errorf("after a reset: %q", got)
	}
}

func TestWithoutTheGrantTheHandlerFails(t *testing.T) {
	t.Cleanup(edgekv.UseMemory())
	if _, err := handle(&edgefn.Request{Method: "GET", URI: "/counter"}, edgefn.NewTestContext()); err == nil {
		t.Fatal("an ungranted store must fail")
	}
}
