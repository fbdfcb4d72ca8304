package nethttp

import (
	"net/http"
	"net/url"
	"strings"
)

// StripFunctionName serves h with the request path's leading /<function name> segment removed
// when it has one, so that the same patterns serve every platform: for a function named shop,
// /shop/items/7 (the local host, Azure Functions) and /items/7 (Lambda, Workers) both reach h as
// /items/7, and /shop itself as /. Other paths, and requests without an edgefn context (an
// httptest request), reach h unchanged. RequestURI stays as received.
//
// Like http.StripPrefix, it changes URL.Path and URL.RawPath of a copy of the request. One path is
// ambiguous: on Lambda or Workers, /shop/x is served as /x too.
func StripFunctionName(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ec, ok := FromContext(r.Context())
		if !ok || ec.FunctionName == "" {
			h.ServeHTTP(w, r)
			return
		}
		prefix := "/" + ec.FunctionName
		path, below := belowPrefix(r.URL.Path, prefix)
		if !below {
			h.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = new(url.URL)
		*r2.URL = *r.URL
		r2.URL.Path = path
		if r.URL.RawPath != "" {
			// Function names are ASCII letters, digits, '-' and '_', so the prefix is spelled the
			// same escaped; a RawPath that spells it otherwise is dropped, and URL.EscapedPath
			// escapes Path again.
			rawPath, rawBelow := belowPrefix(r.URL.RawPath, prefix)
			if !rawBelow {
				rawPath = ""
			}
			r2.URL.RawPath = rawPath
		}
		h.ServeHTTP(w, r2)
	})
}

// belowPrefix returns path without prefix when prefix is its whole first segment ("/" when nothing
// is left).
func belowPrefix(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	if rest == "" {
		return "/", true
	}
	return rest, true
}
