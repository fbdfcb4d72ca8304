package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

func TestEchoesBodyAndRepeatedHeaders(t *testing.T) {
	req := &edgefn.Request{
		Method: "POST",
		URI:    "/echo/x?a=1",
		Header: edgefn.Header{{Name: "x-k", Value: "1"}, {Name: "x-k", Value: "2"}},
		Body:   []byte{0x00, 0x01},
	}
	resp, err := handle(req, edgefn.NewTestContext())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Body, []byte{0x00, 0x01}) {
		t.Errorf("body %x", resp.Body)
	}
	if got := resp.Header.Get("x-echo-query"); got != "a=1" {
		t.Errorf("query %q", got)
	}
	if got := resp.Header.Get("x-echo-path"); got != "/echo/x" {
		t.Errorf("path %q", got)
	}
	if got := resp.Header.Values("x-echo-h-x-k"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("repeated %q", got)
	}
	if got := resp.Header.Get("content-type"); got != "application/octet-stream" {
		t.Errorf("content-type %q", got)
	}
}

func TestNoQueryNoHeader(t *testing.T) {
	resp, _ := handle(&edgefn.Request{Method: "GET", URI: "/echo"}, edgefn.NewTestContext())
	if _, ok := resp.Header.Lookup("x-echo-query"); ok {
		t.Error("x-echo-query without a query")
	}
	resp, _ = handle(&edgefn.Request{Method: "GET", URI: "/echo?"}, edgefn.NewTestContext())
	if q, ok := resp.Header.Lookup("x-echo-query"); !ok || q != "" {
		t.Errorf("an empty query is still a query: %q %v", q, ok)
	}
}
