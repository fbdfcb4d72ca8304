package edgefn

import "strconv"

// Response is what a handler answers.
type Response struct {
	// Status is the HTTP status code, 100 to 999; 0 means 200.
	Status int
	// Header holds the response's header fields in order, repeats included.
	Header Header
	// Body is the response body.
	Body []byte
}

const (
	textPlain   = "text/plain; charset=utf-8"
	octetStream = "application/octet-stream"
	contentType = "content-type"
)

func withType(body []byte, typ string) *Response {
	return &Response{Status: 200, Header: Header{{contentType, typ}}, Body: body}
}

// Text answers 200 with a text/plain; charset=utf-8 body.
func Text(body string) *Response { return withType([]byte(body), textPlain) }

// Bytes answers 200 with an application/octet-stream body.
func Bytes(body []byte) *Response { return withType(body, octetStream) }

// JSON answers 200 with an application/json body. It takes what json.Marshal returns, so a
// handler can end with
//
//	return edgefn.JSON(json.Marshal(value))
//
// and an encoding error becomes the handler's error (a bare 500, the detail logged). The SDK does
// not import encoding/json itself, so functions that never answer JSON do not carry it.
func JSON(body []byte, err error) (*Response, error) {
	if err != nil {
		return nil, err
	}
	return withType(body, "application/json"), nil
}

// Status answers a status with its code and reason as plain text, e.g. "404 Not Found\n".
func Status(code int) *Response {
	r := Text(strconv.Itoa(code) + " " + StatusText(code) + "\n")
	r.Status = code
	return r
}

// WithStatus sets the status and returns the response, for chaining.
func (r *Response) WithStatus(code int) *Response {
	r.Status = code
	return r
}

// WithHeader adds a header field and returns the response, for chaining.
func (r *Response) WithHeader(name, value string) *Response {
	r.Header.Add(name, value)
	return r
}

// StatusText returns the reason phrase of a status code ("Not Found"), or "" for a code without
// one.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 102:
		return "Processing"
	case 103:
		return "Early Hints"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 203:
		return "Non Authoritative Information"
	case 204:
		return "No Content"
	case 205:
		return "Reset Content"
	case 206:
		return "Partial Content"
	case 207:
		return "Multi-Status"
	case 208:
		return "Already Reported"
	case 226:
		return "IM Used"
	case 300:
		return "Multiple Choices"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 305:
		return "Use Proxy"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 402:
		return "Payment Required"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 410:
		return "Gone"
	case 411:
		return "Length Required"
	case 412:
		return "Precondition Failed"
	case 413:
		return "Payload Too Large"
	case 414:
		return "URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Range Not Satisfiable"
	case 417:
		return "Expectation Failed"
	case 418:
		return "I'm a teapot"
	case 421:
		return "Misdirected Request"
	case 422:
		return "Unprocessable Entity"
	case 423:
		return "Locked"
	case 424:
		return "Failed Dependency"
	case 425:
		return "Too Early"
	case 426:
		return "Upgrade Required"
	case 428:
		return "Precondition Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 451:
		return "Unavailable For Legal Reasons"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	case 506:
		return "Variant Also Negotiates"
	case 507:
		return "Insufficient Storage"
	case 508:
		return "Loop Detected"
	case 510:
		return "Not Extended"
	case 511:
		return "Network Authentication Required"
	}
	return ""
}
