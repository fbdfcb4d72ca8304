package abi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// vectors mirrors docs/abi-v1-vectors.json, shared by every implementation of the codec.
type vectors struct {
	ABIVersion int `json:"abi_version"`
	Requests   []struct {
		Name    string `json:"name"`
		Hex     string `json:"hex"`
		Decoded struct {
			Context [][2]string `json:"context"`
			Method  string      `json:"method"`
			URI     string      `json:"uri"`
			Headers [][2]string `json:"headers"`
			BodyHex string      `json:"body_hex"`
		} `json:"decoded"`
	} `json:"requests"`
	Responses []struct {
		Name    string `json:"name"`
		Hex     string `json:"hex"`
		Decoded struct {
			Status  uint16      `json:"status"`
			Headers [][2]string `json:"headers"`
			BodyHex string      `json:"body_hex"`
		} `json:"decoded"`
	} `json:"responses"`
	Invalid []struct {
		Kind  string `json:"kind"`
		Name  string `json:"name"`
		Hex   string `json:"hex"`
		Error string `json:"error"`
	} `json:"invalid"`
}

func load(t *testing.T) vectors {
	t.Helper()
	path := filepath.Join("..", "..", "..", "..", "docs", "abi-v1-vectors.json")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the shared test vectors: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if v.ABIVersion != Version {
		t.Fatalf("vectors are for ABI v%d, this codec speaks v%d", v.ABIVersion, Version)
	}
	if len(v.Requests) == 0 || len(v.Responses) == 0 || len(v.Invalid) == 0 {
		t.Fatalf("vectors file has an empty section")
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}

// Vector headers carry their values as text; compare them as bytes.
func headers(t *testing.T, pairs [][2]string) []Header {
	t.Helper()
	out := []Header{}
	for _, p := range pairs {
		out = append(out, Header{p[0], []byte(p[1])})
	}
	return out
}

func sameHeaders(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func TestRequestVectors(t *testing.T) {
	for _, v := range load(t).Requests {
		t.Run(v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			want := Request{
				Context: []Pair{},
				Method:  v.Decoded.Method,
				URI:     v.Decoded.URI,
				Headers: headers(t, v.Decoded.Headers),
				Body:    unhex(t, v.Decoded.BodyHex),
			}
			for _, p := range v.Decoded.Context {
				want.Context = append(want.Context, Pair{p[0], p[1]})
			}

			got, err := DecodeRequest(wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got.Context) != len(want.Context) {
				t.Fatalf("context: got %q, want %q", got.Context, want.Context)
			}
			for i := range got.Context {
				if got.Context[i] != want.Context[i] {
					t.Errorf("context[%d]: got %q, want %q", i, got.Context[i], want.Context[i])
				}
			}
			if got.Method != want.Method || got.URI != want.URI {
				t.Errorf("got %q %q, want %q %q", got.Method, got.URI, want.Method, want.URI)
			}
			if !sameHeaders(got.Headers, want.Headers) {
				t.Errorf("headers: got %q, want %q", got.Headers, want.Headers)
			}
			if !bytes.Equal(got.Body, want.Body) {
				t.Errorf("body: got %x, want %x", got.Body, want.Body)
			}

			if encoded := want.Encode(); !bytes.Equal(encoded, wire) {
				t.Errorf("encode:\n got %x\nwant %x", encoded, wire)
			}
			if want.EncodedLen() != len(wire) {
				t.Errorf("EncodedLen %d, want %d", want.EncodedLen(), len(wire))
			}
		})
	}
}

func TestResponseVectors(t *testing.T) {
	for _, v := range load(t).Responses {
		t.Run(v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			want := Response{
				Status:  v.Decoded.Status,
				Headers: headers(t, v.Decoded.Headers),
				Body:    unhex(t, v.Decoded.BodyHex),
			}
			got, err := DecodeResponse(wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Status != want.Status {
				t.Errorf("status %d, want %d", got.Status, want.Status)
			}
			if !sameHeaders(got.Headers, want.Headers) {
				t.Errorf("headers: got %q, want %q", got.Headers, want.Headers)
			}
			if !bytes.Equal(got.Body, want.Body) {
				t.Errorf("body: got %x, want %x", got.Body, want.Body)
			}
			if encoded := want.Encode(); !bytes.Equal(encoded, wire) {
				t.Errorf("encode:\n got %x\nwant %x", encoded, wire)
			}
			if want.EncodedLen() != len(wire) {
				t.Errorf("EncodedLen %d, want %d", want.EncodedLen(), len(wire))
			}
		})
	}
}

func TestInvalidVectors(t *testing.T) {
	for _, v := range load(t).Invalid {
		t.Run(v.Kind+"/"+v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			var err error
			switch v.Kind {
			case "request":
				_, err = DecodeRequest(wire)
			case "response":
				_, err = DecodeResponse(wire)
			default:
				t.Fatalf("unknown kind %q", v.Kind)
			}
			var decodeErr *Error
			if !errors.As(err, &decodeErr) {
				t.Fatalf("decoded without error (%v); want %s", err, v.Error)
			}
			if decodeErr.Name != v.Error {
				t.Errorf("error %s (%v), want %s", decodeErr.Name, err, v.Error)
			}
		})
	}
}

// A count that claims more pairs than the bytes could hold fails before allocating for them.
func TestHugeCountsDoNotAllocate(t *testing.T) {
	wire := []byte("EFQ1\xff\xff\xff\x7f")
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := DecodeRequest(wire); err != ErrTruncated {
			t.Fatalf("got %v, want truncated", err)
		}
	})
	if allocs > 0 {
		t.Errorf("%v allocations for a hostile count", allocs)
	}
}

func TestEveryTruncationIsRefused(t *testing.T) {
	req := Request{
		Context: []Pair{{KeyRequestID, "r-1"}, {KeyPlatform, "local"}},
		Method:  "POST",
		URI:     "/a?b=c",
		Headers: []Header{{"x-a", []byte("1")}, {"x-a", []byte{0, 0xff}}},
		Body:    []byte("body"),
	}
	wire := req.Encode()
	for n := range len(wire) {
		if _, err := DecodeRequest(wire[:n]); err == nil {
			t.Fatalf("a request cut to %d of %d bytes decoded", n, len(wire))
		}
	}
	resp := Response{Status: 200, Headers: req.Headers, Body: req.Body}
	out := resp.Encode()
	for n := range len(out) {
		if _, err := DecodeResponse(out[:n]); err == nil {
			t.Fatalf("a response cut to %d of %d bytes decoded", n, len(out))
		}
	}
}

func TestPackPtrLen(t *testing.T) {
	packed := PackPtrLen(0xdeadbeef, 0x01020304)
	if packed != 0xdeadbeef_01020304 {
		t.Fatalf("packed %x", packed)
	}
	if ptr, n := UnpackPtrLen(packed); ptr != 0xdeadbeef || n != 0x01020304 {
		t.Fatalf("unpacked %x %x", ptr, n)
	}
}
