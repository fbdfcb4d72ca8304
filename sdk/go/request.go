package edgefn

// Request is the request a handler receives: method, target, headers and the whole body.
type Request struct {
	// Method is the HTTP method, e.g. "GET".
	Method string
	// URI is the request target as received, in origin form: the path plus "?query" when there is
	// one, still percent-encoded.
	URI string
	// Header holds the request's header fields in arrival order, repeats included.
	Header Header
	// Body is the whole request body, byte for byte.
	Body []byte
}

// Path returns the path part of the URI, still percent-encoded ("/" when empty).
func (r *Request) Path() string {
	path := r.URI
	if i := indexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return "/"
	}
	return path
}

// RawQuery returns the query part of the URI, still percent-encoded, and whether the URI has one
// (a URI ending in "?" has an empty query).
func (r *Request) RawQuery() (string, bool) {
	if i := indexByte(r.URI, '?'); i >= 0 {
		return r.URI[i+1:], true
	}
	return "", false
}

// QueryParam returns the first value of a query parameter, decoded (percent escapes and "+" as a
// space, as in HTML forms), and whether the parameter is present.
func (r *Request) QueryParam(name string) (string, bool) {
	var value string
	found := false
	r.eachParam(func(k, v string) bool {
		if k == name {
			value, found = v, true
			return false
		}
		return true
	})
	return value, found
}

// QueryParams returns every value of a query parameter, decoded, in order.
func (r *Request) QueryParams(name string) []string {
	var out []string
	r.eachParam(func(k, v string) bool {
		if k == name {
			out = append(out, v)
		}
		return true
	})
	return out
}

// eachParam calls f with each decoded key and value of the query until f returns false.
// Parameters whose escapes are malformed are skipped.
func (r *Request) eachParam(f func(k, v string) bool) {
	query, _ := r.RawQuery()
	for query != "" {
		param := query
		if i := indexByte(query, '&'); i >= 0 {
			param, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		if param == "" {
			continue
		}
		key, value := param, ""
		if i := indexByte(param, '='); i >= 0 {
			key, value = param[:i], param[i+1:]
		}
		k, okKey := unescape(key)
		v, okValue := unescape(value)
		if okKey && okValue && !f(k, v) {
			return
		}
	}
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// unescape decodes %XX escapes and "+" (a space in query strings).
func unescape(s string) (string, bool) {
	if indexByte(s, '%') < 0 && indexByte(s, '+') < 0 {
		return s, true
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, okHi := unhex(s[i+1])
			lo, okLo := unhex(s[i+2])
			if !okHi || !okLo {
				return "", false
			}
			out = append(out, hi<<4|lo)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
