package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// httpVectors mirrors docs/abi-v1-http-vectors.json, the outbound envelopes every codec runs.
type httpVectors struct {
	ABIVersion int `json:"abi_version"`
	Requests   []struct {
		Name    string `json:"name"`
		Hex     string `json:"hex"`
		Decoded struct {
			TimeoutMS uint32      `json:"timeout_ms"`
			Method    string      `json:"method"`
			URL       string      `json:"url"`
			Headers   [][2]string `json:"headers"`
			BodyHex   string      `json:"body_hex"`
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

var docsDir = filepath.Join("..", "..", "..", "..", "docs")

func loadHTTP(t *testing.T) httpVectors {
	t.Helper()
	path := filepath.Join(docsDir, "abi-v1-http-vectors.json")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the shared outbound HTTP vectors: %v", err)
	}
	var v httpVectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if v.ABIVersion != Version {
		t.Fatalf("%s is for ABI v%d, this codec speaks v%d", path, v.ABIVersion, Version)
	}
	if len(v.Requests) == 0 || len(v.Responses) == 0 || len(v.Invalid) == 0 {
		t.Fatalf("%s has an empty section", path)
	}
	return v
}

func TestHTTPRequestVectors(t *testing.T) {
	for _, v := range loadHTTP(t).Requests {
		t.Run(v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			want := HTTPRequest{
				TimeoutMS: v.Decoded.TimeoutMS,
				Method:    v.Decoded.Method,
				URL:       v.Decoded.URL,
				Headers:   headers(t, v.Decoded.Headers),
				Body:      unhex(t, v.Decoded.BodyHex),
			}
			got, err := DecodeHTTPRequest(wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.TimeoutMS != want.TimeoutMS || got.Method != want.Method || got.URL != want.URL {
				t.Errorf("got %d %q %q, want %d %q %q", got.TimeoutMS, got.Method, got.URL, want.TimeoutMS, want.Method, want.URL)
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

func TestHTTPResponseVectors(t *testing.T) {
	for _, v := range loadHTTP(t).Responses {
		t.Run(v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			want := HTTPResponse{
				Status:  v.Decoded.Status,
				Headers: headers(t, v.Decoded.Headers),
				Body:    unhex(t, v.Decoded.BodyHex),
			}
			got, err := DecodeHTTPResponse(wire)
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

func TestHTTPInvalidVectors(t *testing.T) {
	for _, v := range loadHTTP(t).Invalid {
		t.Run(v.Kind+"/"+v.Name, func(t *testing.T) {
			wire := unhex(t, v.Hex)
			var err error
			switch v.Kind {
			case "request":
				_, err = DecodeHTTPRequest(wire)
			case "response":
				_, err = DecodeHTTPResponse(wire)
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

// The inbound and outbound envelopes share a layout but not their magic: neither decodes as the
// other, so a host answer can never be mistaken for a guest's own response.
func TestOutboundMagicIsItsOwn(t *testing.T) {
	resp := Response{Status: 200, Body: []byte("x")}
	if _, err := DecodeHTTPResponse(resp.Encode()); err != ErrBadMagic {
		t.Errorf("an EFS1 envelope decoded as EHS1: %v", err)
	}
	out := HTTPResponse(resp)
	if _, err := DecodeResponse(out.Encode()); err != ErrBadMagic {
		t.Errorf("an EHS1 envelope decoded as EFS1: %v", err)
	}
}

func TestEveryHTTPTruncationIsRefused(t *testing.T) {
	req := HTTPRequest{
		TimeoutMS: 1500,
		Method:    "POST",
		URL:       "https://api.example.com/v1?a=b",
		Headers:   []Header{{"x-a", []byte("1")}, {"x-a", []byte{0, 0xff}}},
		Body:      []byte("body"),
	}
	wire := req.Encode()
	for n := range len(wire) {
		if _, err := DecodeHTTPRequest(wire[:n]); err == nil {
			t.Fatalf("an outbound request cut to %d of %d bytes decoded", n, len(wire))
		}
	}
	resp := HTTPResponse{Status: 302, Headers: req.Headers, Body: req.Body}
	out := resp.Encode()
	for n := range len(out) {
		if _, err := DecodeHTTPResponse(out[:n]); err == nil {
			t.Fatalf("an outbound response cut to %d of %d bytes decoded", n, len(out))
		}
	}
}

// The error codes and their names are pinned to the table in docs/abi.md, "Host imports": every
// row is known here by the same name, and no code here is missing from it.
func TestImportErrorCodesMatchTheABIDoc(t *testing.T) {
	path := filepath.Join(docsDir, "abi.md")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(-[0-9]+)` \\| `([a-z-]+)` \\|").FindAllSubmatch(text, -1)
	if len(rows) == 0 {
		t.Fatalf("%s has no table of import error codes (rows like | `-1` | `denied` |)", path)
	}
	documented := map[int64]bool{}
	for _, row := range rows {
		code, err := strconv.ParseInt(string(row[1]), 10, 64)
		if err != nil {
			t.Fatalf("%s: code %q: %v", path, row[1], err)
		}
		documented[code] = true
		if got := ImportErrorName(code); got != string(row[2]) {
			t.Errorf("code %d: ImportErrorName says %q, %s says %q", code, got, path, row[2])
		}
	}
	for code := int64(-1); code >= -16; code-- {
		if ImportErrorName(code) != "" && !documented[code] {
			t.Errorf("code %d (%s) is not in %s", code, ImportErrorName(code), path)
		}
	}
	for _, code := range []int64{0, 1, -9, -100} {
		if name := ImportErrorName(code); name != "" {
			t.Errorf("code %d is not an error code, named %q", code, name)
		}
	}
}
