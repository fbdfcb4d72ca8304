package nethttp

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/edgefn-dev/edgefn/sdk/go"
)

// responseWriter holds what the handler answers until it returns: the envelope carries one whole
// response, so nothing can go out earlier.
type responseWriter struct {
	header http.Header
	// status is 0 until the final status is set.
	status int
	// sent is header as it was when the status was set: what the response carries.
	sent http.Header
	body []byte
}

// The interfaces a handler may look for beyond http.ResponseWriter.
var (
	_ http.Flusher    = (*responseWriter)(nil)
	_ io.StringWriter = (*responseWriter)(nil)
)

func newResponseWriter() *responseWriter {
	return &responseWriter{header: make(http.Header)}
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		logLine("nethttp: superfluous WriteHeader(" + strconv.Itoa(code) + ") ignored: the status is already " +
			strconv.Itoa(w.status))
		return
	}
	// net/http's own rule, with its panic, so a handler fails here as it would there.
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		return // an interim response; the envelope has room for the final one only
	}
	w.status = code
	w.sent = w.header.Clone()
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func (w *responseWriter) WriteString(s string) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// Flush sets the status as net/http's does (200 if none yet); the body itself goes when the handler
// returns.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
}

// bodyAllowed is net/http's rule: no body with 1xx, 204 or 304.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// errTrailers explains a refused response.
var errTrailers = errors.New("nethttp: the handler set trailers (a Trailer header or an http.TrailerPrefix key), " +
	"which an edgefn ABI v1 response cannot carry: send the values as headers or in the body")

// framing headers are the host's: it sends the body whole, with its own framing.
var framing = []string{"Content-Length", "Transfer-Encoding"}

// response is what the handler answered, as an edgefn response. Trailers are an error (a 500,
// logged by the SDK).
func (w *responseWriter) response() (*edgefn.Response, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if _, declared := w.sent["Trailer"]; declared || hasTrailerKey(w.header) {
		return nil, errTrailers
	}
	header := w.sent
	for _, name := range framing {
		delete(header, name)
	}
	if bodyAllowed(w.status) && len(w.body) > 0 {
		_, typed := header["Content-Type"]
		if !typed && header.Get("Content-Encoding") == "" {
			header.Set("Content-Type", http.DetectContentType(w.body))
		}
	}
	names := make([]string, 0, len(header))
	count := 0
	for name, values := range header {
		names = append(names, name)
		count += len(values)
	}
	slices.Sort(names)
	resp := &edgefn.Response{Status: w.status, Header: make(edgefn.Header, 0, count), Body: w.body}
	for _, name := range names {
		for _, value := range header[name] {
			resp.Header.Add(name, value)
		}
	}
	return resp, nil
}

func hasTrailerKey(h http.Header) bool {
	for name := range h {
		if strings.HasPrefix(name, http.TrailerPrefix) {
			return true
		}
	}
	return false
}
