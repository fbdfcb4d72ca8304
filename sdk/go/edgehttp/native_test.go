//go:build !wasip1

package edgehttp

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestANativeBuildExplainsItCannotSend(t *testing.T) {
	if _, native := imports.(*nativeHost); !native {
		t.Fatalf("imports is %T", imports)
	}
	resp, err := (&http.Client{Transport: Transport}).Get("https://a.example/")
	var herr *Error
	if resp != nil || !errors.As(err, &herr) || herr.Kind != Unsupported || !strings.Contains(herr.Message, "GOOS=wasip1") {
		t.Errorf("got %v %v", resp, err)
	}
}
