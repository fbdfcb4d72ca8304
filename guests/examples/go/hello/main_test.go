package main

import (
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

func TestGreetsWithFunctionName(t *testing.T) {
	ctx := edgefn.NewTestContext()
	ctx.FunctionName = "hello"
	resp, err := handle(&edgefn.Request{Method: "GET", URI: "/"}, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != "Hello from hello on local!\n" {
		t.Errorf("body %q", got)
	}
	if got := resp.Header.Get("content-type"); got != "text/plain; charset=utf-8" {
		t.Errorf("content-type %q", got)
	}
}
