package edgefn

// Field is one header field. A repeated header is one Field per value, in order.
type Field struct {
	// Name is the field name, lower-case as it arrives from every platform and as Add and Set
	// store it.
	Name string
	// Value is the field value. It may hold any bytes except control characters (tab is allowed),
	// including bytes that are not UTF-8.
	Value string
}

// Header is an ordered list of header fields: a repeated header appears once per value, in the
// order it arrived or was added. Names compare case-insensitively. Range over it to see every
// field.
type Header []Field

// Get returns the first value of the named header, or "".
func (h Header) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the first value of the named header and whether it is present.
func (h Header) Lookup(name string) (string, bool) {
	for _, f := range h {
		if equalFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Values returns every value of the named header, in order.
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if equalFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// Add appends a field, keeping any the header already has under that name.
func (h *Header) Add(name, value string) {
	*h = append(*h, Field{toLower(name), value})
}

// Set replaces every value of the named header with one value, where the first one was, or appends
// it when the header is absent.
func (h *Header) Set(name, value string) {
	name = toLower(name)
	out := (*h)[:0]
	found := false
	for _, f := range *h {
		if equalFold(f.Name, name) {
			if found {
				continue
			}
			found = true
			f = Field{name, value}
		}
		out = append(out, f)
	}
	clear((*h)[len(out):])
	if !found {
		out = append(out, Field{name, value})
	}
	*h = out
}

// Del removes every value of the named header.
func (h *Header) Del(name string) {
	out := (*h)[:0]
	for _, f := range *h {
		if !equalFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear((*h)[len(out):])
	*h = out
}

// Header names are ASCII tokens, so ASCII case folding is all they need (and it keeps package
// strings' Unicode tables out of the module).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func toLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}

// isToken reports whether s is a valid header name or method (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s may be a header value: no control characters but tab, no DEL (the
// rule the edgefn host and the http crate apply).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
