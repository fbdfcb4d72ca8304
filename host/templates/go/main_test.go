package main

import (
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

func TestGreetsByName(t *testing.T) {
	ctx := edgefn.NewTestContext()
	ctx.FunctionName = "greet"
	resp, err := handle(&edgefn.Request{Method: "GET", URI: "/greet?name=edge"}, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != "Hello, edge, from greet on local!\n" {
		t.Errorf("body %q", got)
	}
}
