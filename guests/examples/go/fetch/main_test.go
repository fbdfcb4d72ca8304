package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go"
	"github.com/edgefn-dev/edgefn/sdk/go/edgehttp"
)

// upstream serves routes on loopback and points UPSTREAM_URL and the client at it.
func upstream(t *testing.T, path string, handler http.HandlerFunc) {
	t.Helper()
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	t.Setenv("UPSTREAM_URL", server.URL+path)
	saved := client
	client = server.Client()
	t.Cleanup(func() { client = saved })
}

func call(t *testing.T) (*edgefn.Response, map[string]any) {
	t.Helper()
	resp, err := handle(&edgefn.Request{Method: "GET", URI: "/"}, edgefn.NewTestContext())
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if got := resp.Header.Get("content-type"); got != "application/json" {
		t.Errorf("content-type %q", got)
	}
	var body map[string]any
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("the answer is not JSON: %v: %q", err, resp.Body)
	}
	return resp, body
}

func TestSummarisesTheUpstreamObject(t *testing.T) {
	var accept string
	upstream(t, "/x.json", func(w http.ResponseWriter, r *http.Request) {
		accept = r.Header.Get("Accept")
		w.Write([]byte(`{"name":"edgefn","n":1,"tags":["a"],"nested":{"k":null},"ok":true,"none":null}`))
	})
	resp, body := call(t)
	if resp.Status != 200 || accept != "application/json" {
		t.Fatalf("status %d, upstream saw Accept %q", resp.Status, accept)
	}
	if source, _ := body["source"].(string); !strings.HasPrefix(source, "http://127.0.0.1:") || !strings.HasSuffix(source, "/x.json") {
		t.Errorf("source %q", source)
	}
	delete(body, "source")
	got, _ := json.Marshal(body)
	want := `{"keys":["n","name","nested","none","ok","tags"],"status":200,` +
		`"types":{"n":"number","name":"string","nested":"object","none":"null","ok":"boolean","tags":"array"}}`
	if string(got) != want {
		t.Errorf("answer\n got %s\nwant %s", got, want)
	}
}

func TestUpstreamFailuresAre502WithTheirKind(t *testing.T) {
	for kind, handler := range map[string]http.HandlerFunc{
		"upstream-status": func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) },
		"upstream-json":   func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[1, 2]`)) },
	} {
		upstream(t, "/", handler)
		resp, body := call(t)
		if resp.Status != 502 || body["error"] != kind || len(body) != 1 {
			t.Errorf("%s: got %d %v", kind, resp.Status, body)
		}
	}
}

// Natively the edgefn transport has no host to send through: its error's kind reaches the answer.
func TestTheTransportsKindIsTheAnswer(t *testing.T) {
	t.Setenv("UPSTREAM_URL", "https://api.example.com/x.json")
	if client.Transport != edgehttp.Transport {
		t.Fatal("the function's client does not send through edgehttp.Transport")
	}
	resp, body := call(t)
	if resp.Status != 502 || body["error"] != "unsupported" {
		t.Errorf("got %d %v", resp.Status, body)
	}
}

func TestAPassedDeadlineIsATimeout(t *testing.T) {
	upstream(t, "/", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{}`)) })
	ctx := edgefn.NewTestContext()
	ctx.Deadline = time.Now().Add(deadlineMargin / 2)
	resp, err := handle(&edgefn.Request{Method: "GET", URI: "/"}, ctx)
	if err != nil || resp.Status != 502 || string(resp.Body) != `{"error":"timeout"}` {
		t.Errorf("got %v %v", resp, err)
	}
}

func TestMissingConfigurationIsAnError(t *testing.T) {
	t.Setenv("UPSTREAM_URL", "")
	if _, err := handle(&edgefn.Request{Method: "GET", URI: "/"}, edgefn.NewTestContext()); err == nil ||
		!strings.Contains(err.Error(), "UPSTREAM_URL is not set") {
		t.Errorf("got %v", err)
	}
}
