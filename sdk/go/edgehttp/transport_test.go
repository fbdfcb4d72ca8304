package edgehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// fakeHost plays the edgefn host at the ABI's level: it decodes each envelope the transport sends,
// answers through answer, and keeps docs/abi.md's pending-result rules for result_read.
type fakeHost struct {
	t *testing.T
	// answer returns the result to leave pending and the code http_send returns; code 0 means
	// success, returned as the result's length.
	answer  func(req *abi.HTTPRequest) (result []byte, code int64)
	sent    []*abi.HTTPRequest
	pending []byte
	reads   []int
}

func (h *fakeHost) send(envelope []byte) int64 {
	h.pending = nil
	req, err := abi.DecodeHTTPRequest(envelope)
	if err != nil {
		h.t.Errorf("the transport sent an envelope that does not decode: %v", err)
		h.pending = []byte("bad envelope")
		return abi.CodeInvalid
	}
	h.sent = append(h.sent, req)
	result, code := h.answer(req)
	h.pending = result
	if code == 0 {
		return int64(len(result))
	}
	return code
}

func (h *fakeHost) read(buf []byte) int32 {
	h.reads = append(h.reads, len(buf))
	if h.pending == nil || len(buf) < len(h.pending) {
		return abi.CodeInvalid
	}
	n := copy(buf, h.pending)
	h.pending = nil
	return int32(n)
}

// install makes h the host for the rest of the test.
func install(t *testing.T, answer func(req *abi.HTTPRequest) ([]byte, int64)) *fakeHost {
	t.Helper()
	h := &fakeHost{t: t, answer: answer}
	saved := imports
	imports = h
	t.Cleanup(func() { imports = saved })
	return h
}

func answerWith(status uint16, body string, headers ...string) []byte {
	e := abi.HTTPResponse{Status: status, Body: []byte(body)}
	for i := 0; i+1 < len(headers); i += 2 {
		e.Headers = append(e.Headers, abi.Header{Name: headers[i], Value: []byte(headers[i+1])})
	}
	return e.Encode()
}

func ok(body string) func(*abi.HTTPRequest) ([]byte, int64) {
	return func(*abi.HTTPRequest) ([]byte, int64) { return answerWith(200, body), 0 }
}

func fail(code int64, message string) func(*abi.HTTPRequest) ([]byte, int64) {
	return func(*abi.HTTPRequest) ([]byte, int64) { return []byte(message), code }
}

// closeTracker is a request body that remembers being closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error {
	c.closed = true
	return nil
}

func TestRequestBecomesTheEnvelope(t *testing.T) {
	h := install(t, ok("{}"))
	body := &closeTracker{Reader: strings.NewReader(`{"a":1}`)}
	req, err := http.NewRequest("POST", "https://user:pa%20ss@api.example.com:8443/v1/items?x=1&x=2#frag", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Trace", "a")
	req.Header.Add("x-trace", "b")
	req.Header.Set("Content-Type", "application/json")
	// Framing and hop-by-hop headers are net/http's and the host's, never the envelope's.
	req.Header.Set("Content-Length", "7")
	req.Header.Set("Connection", "keep-alive")
	req.Header.Set("Host", "ignored.example")
	req.Header.Set("TE", "trailers")

	resp, err := Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if !body.closed {
		t.Error("the request body was not closed")
	}
	if resp.StatusCode != 200 || len(h.sent) != 1 {
		t.Fatalf("status %d after %d calls", resp.StatusCode, len(h.sent))
	}
	sent := h.sent[0]
	if sent.Method != "POST" || sent.URL != "https://api.example.com:8443/v1/items?x=1&x=2" || sent.TimeoutMS != 0 {
		t.Errorf("sent %s %s timeout %d", sent.Method, sent.URL, sent.TimeoutMS)
	}
	var got []string
	for _, f := range sent.Headers {
		got = append(got, f.Name+": "+string(f.Value))
	}
	want := []string{"content-type: application/json", "x-trace: a", "x-trace: b", "authorization: Basic dXNlcjpwYSBzcw=="}
	if !slices.Equal(got, want) {
		t.Errorf("headers\n got %q\nwant %q", got, want)
	}
	if string(sent.Body) != `{"a":1}` {
		t.Errorf("body %q", sent.Body)
	}
}

func TestAnExplicitAuthorizationWinsOverURLCredentials(t *testing.T) {
	h := install(t, ok(""))
	req, _ := http.NewRequest("GET", "http://u:p@127.0.0.1:9/", nil)
	req.Header.Set("Authorization", "Bearer t")
	if _, err := Transport.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if len(h.sent[0].Headers) != 1 || string(h.sent[0].Headers[0].Value) != "Bearer t" || h.sent[0].Method != "GET" {
		t.Errorf("sent %+v", h.sent[0])
	}
}

func TestTimeoutIsTheContextDeadlineRoundedUp(t *testing.T) {
	// The context's deadline is an hour away by the real clock, so it is not done; the timeout is
	// measured from a chosen now.
	deadline := time.Now().Add(time.Hour)
	for _, c := range []struct {
		left time.Duration
		want uint32
	}{
		{2500 * time.Millisecond, 2500},
		{2500*time.Millisecond + 300*time.Microsecond, 2501},
		{time.Microsecond, 1}, // 0 would be the function's default
		{100 * 24 * time.Hour, 4294967295},
	} {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://a.example/", nil)
		envelope, err := encodeRequest(req, deadline.Add(-c.left))
		cancel()
		if err != nil {
			t.Fatalf("%v left: %v", c.left, err)
		}
		e, err := abi.DecodeHTTPRequest(envelope)
		if err != nil || e.TimeoutMS != c.want {
			t.Errorf("%v left: timeout %d (%v), want %d", c.left, e.TimeoutMS, err, c.want)
		}
	}
}

func TestClientTimeoutReachesTheHost(t *testing.T) {
	h := install(t, ok(""))
	client := &http.Client{Transport: Transport, Timeout: 3 * time.Second}
	if _, err := client.Get("https://a.example/"); err != nil {
		t.Fatal(err)
	}
	if got := h.sent[0].TimeoutMS; got == 0 || got > 3000 {
		t.Errorf("timeout %d ms, want (0, 3000]", got)
	}
}

func TestADoneContextNeverReachesTheHost(t *testing.T) {
	h := install(t, ok(""))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for ctx, want := range map[context.Context]error{cancelled: context.Canceled, expired: context.DeadlineExceeded} {
		body := &closeTracker{Reader: strings.NewReader("x")}
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://a.example/", body)
		if _, err := Transport.RoundTrip(req); !errors.Is(err, want) {
			t.Errorf("got %v, want %v", err, want)
		}
		if !body.closed {
			t.Error("the request body was not closed on an error")
		}
	}
	if len(h.sent) != 0 {
		t.Errorf("%d calls reached the host", len(h.sent))
	}
}

func TestAHostOtherThanTheURLsIsRefusedHere(t *testing.T) {
	h := install(t, ok(""))
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	req.Host = "b.example"
	_, err := Transport.RoundTrip(req)
	var herr *Error
	if !errors.As(err, &herr) || herr.Kind != Invalid || herr.Code != 0 || !strings.Contains(herr.Message, `"b.example"`) {
		t.Errorf("got %v", err)
	}
	if len(h.sent) != 0 {
		t.Error("the host was called")
	}
}

func TestResponseBecomesAnHTTPResponse(t *testing.T) {
	install(t, func(*abi.HTTPRequest) ([]byte, int64) {
		return answerWith(201, "made", "content-type", "text/plain", "x-trace", "a", "set-cookie", "a=1", "x-trace", "b",
			"set-cookie", "b=2"), 0
	})
	req, _ := http.NewRequest("PUT", "https://a.example/x", strings.NewReader("in"))
	resp, err := Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.Status != "201 Created" || resp.Request != req || !resp.ProtoAtLeast(1, 1) {
		t.Errorf("got %d %q %p", resp.StatusCode, resp.Status, resp.Request)
	}
	if got := resp.Header["X-Trace"]; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("X-Trace %q (headers %v)", got, resp.Header)
	}
	if cookies := resp.Cookies(); len(cookies) != 2 || cookies[1].Value != "2" {
		t.Errorf("cookies %v", cookies)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "made" || resp.ContentLength != 4 || resp.Body.Close() != nil {
		t.Errorf("body %q, length %d", body, resp.ContentLength)
	}
}

func TestStatusWithoutAReasonPhrase(t *testing.T) {
	install(t, func(*abi.HTTPRequest) ([]byte, int64) { return answerWith(799, ""), 0 })
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	resp, err := Transport.RoundTrip(req)
	if err != nil || resp.Status != "799" || resp.StatusCode != 799 {
		t.Errorf("got %v %v", resp, err)
	}
}

func TestHeadKeepsTheAnnouncedLength(t *testing.T) {
	install(t, func(*abi.HTTPRequest) ([]byte, int64) { return answerWith(200, "", "content-length", "1234"), 0 })
	req, _ := http.NewRequest("HEAD", "https://a.example/", nil)
	resp, err := Transport.RoundTrip(req)
	if err != nil || resp.ContentLength != 1234 {
		t.Errorf("got %v %v", resp, err)
	}
}

// The host never follows a redirect; http.Client does, one RoundTrip (and one policy check) per
// hop, and keeps the method and body for a 307.
func TestClientFollowsRedirectsOneCallEach(t *testing.T) {
	h := install(t, func(req *abi.HTTPRequest) ([]byte, int64) {
		switch req.URL {
		case "https://a.example/start":
			return answerWith(307, "", "location", "https://b.example/next"), 0
		case "https://b.example/next":
			return answerWith(200, "there"), 0
		}
		return []byte("not allowed: " + req.URL), abi.CodeDenied
	})
	client := &http.Client{Transport: Transport}
	resp, err := client.Post("https://a.example/start", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "there" || resp.Request.URL.String() != "https://b.example/next" {
		t.Errorf("ended at %s with %q", resp.Request.URL, body)
	}
	if len(h.sent) != 2 || h.sent[1].Method != "POST" || string(h.sent[1].Body) != "payload" {
		t.Fatalf("calls %+v", h.sent)
	}
}

func TestEveryErrorCodeHasItsKind(t *testing.T) {
	for code, kind := range map[int64]Kind{
		abi.CodeDenied:      Denied,
		abi.CodeInvalid:     Invalid,
		abi.CodeLimit:       Limit,
		abi.CodeTimeout:     Timeout,
		abi.CodeUnavailable: Unavailable,
		abi.CodeUnsupported: Unsupported,
		abi.CodeNotFound:    Unknown,
		-42:                 Unknown,
	} {
		install(t, fail(code, "because "+string(kind)))
		client := &http.Client{Transport: Transport}
		_, err := client.Get("https://a.example/")
		var uerr *url.Error
		if !errors.As(err, &uerr) {
			t.Fatalf("code %d: http.Client returned %T, not a *url.Error", code, err)
		}
		var herr *Error
		if !errors.As(err, &herr) {
			t.Fatalf("code %d: no *Error in %v", code, err)
		}
		if herr.Kind != kind || herr.Code != int(code) || !strings.HasSuffix(herr.Message, "because "+string(kind)) {
			t.Errorf("code %d: got %+v, want kind %s", code, herr, kind)
		}
		if want := "edgefn outbound HTTP: " + string(kind) + ": "; !strings.HasPrefix(herr.Error(), want) {
			t.Errorf("code %d: %q does not start with %q", code, herr.Error(), want)
		}
		var nerr net.Error
		if !errors.As(err, &nerr) || nerr.Timeout() != (kind == Timeout) || os.IsTimeout(err) != (kind == Timeout) {
			t.Errorf("code %d: net.Error %v, os.IsTimeout %v", code, nerr, os.IsTimeout(err))
		}
	}
}

func TestAnUnknownCodeIsNamedInTheMessage(t *testing.T) {
	for code, want := range map[int64]string{-42: "code -42 (undefined in this SDK version): x", -7: "code -7 (rate-limited): x"} {
		install(t, fail(code, "x"))
		req, _ := http.NewRequest("GET", "https://a.example/", nil)
		_, err := Transport.RoundTrip(req)
		var herr *Error
		if !errors.As(err, &herr) || herr.Message != want {
			t.Errorf("code %d: got %v, want message %q", code, err, want)
		}
	}
}

func TestALongMessageIsReadWhole(t *testing.T) {
	long := strings.Repeat("m", 5000)
	h := install(t, fail(abi.CodeDenied, long))
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	_, err := Transport.RoundTrip(req)
	var herr *Error
	if !errors.As(err, &herr) || herr.Message != long {
		t.Fatalf("got %v", err)
	}
	if !slices.Equal(h.reads, []int{1 << 10, 64 << 10}) {
		t.Errorf("reads %v: want a short one, then a longer one", h.reads)
	}
}

func TestAMissingMessageIsSaidSo(t *testing.T) {
	// Nothing pending: every result_read answers invalid.
	install(t, func(*abi.HTTPRequest) ([]byte, int64) { return nil, abi.CodeUnavailable })
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	_, err := Transport.RoundTrip(req)
	var herr *Error
	if !errors.As(err, &herr) || herr.Kind != Unavailable || herr.Message != "the host gave no message" {
		t.Errorf("got %v", err)
	}
}

// lyingHost claims a result longer than the one it keeps.
type lyingHost struct{ fakeHost }

func (h *lyingHost) send(envelope []byte) int64 { return h.fakeHost.send(envelope) + 10 }

func TestAHostBreakingTheContractIsReportedAsSuch(t *testing.T) {
	install(t, func(*abi.HTTPRequest) ([]byte, int64) { return []byte("EFS1 is the wrong magic"), 0 })
	req, _ := http.NewRequest("GET", "https://a.example/", nil)
	_, err := Transport.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "not an EHS1 envelope (envelope does not start with the expected magic bytes)") {
		t.Errorf("got %v", err)
	}
	var herr *Error
	if errors.As(err, &herr) {
		t.Errorf("a host bug is not a policy outcome: %+v", herr)
	}

	lying := &lyingHost{fakeHost{t: t, answer: ok("x")}}
	saved := imports
	imports = lying
	defer func() { imports = saved }()
	_, err = Transport.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "result_read answered 17 for a pending result of 27 bytes") {
		t.Errorf("got %v", err)
	}
}
