package edgefn

import (
	"os"
	"time"

	"github.com/edgefn-dev/edgefn/sdk/go/internal/abi"
)

// Platform is the platform a function runs on, by its ABI name.
type Platform string

// The platforms edgefn runs on. A platform this SDK version does not know arrives by its ABI name.
const (
	// PlatformLocal is the edgefn host (edgefn serve or edgefn invoke).
	PlatformLocal Platform = "local"
	// PlatformAWSLambda is AWS Lambda, through the edgefn custom runtime.
	PlatformAWSLambda Platform = "aws-lambda"
	// PlatformAzureFunctions is Azure Functions, as a custom handler.
	PlatformAzureFunctions Platform = "azure-functions"
	// PlatformCloudflareWorkers is Cloudflare Workers, through the JavaScript shim.
	PlatformCloudflareWorkers Platform = "cloudflare-workers"
)

// Platforms lists every platform this SDK version knows, in the order of docs/host-contract.json.
var Platforms = []Platform{PlatformLocal, PlatformAWSLambda, PlatformAzureFunctions, PlatformCloudflareWorkers}

// String returns the ABI name (local, aws-lambda, azure-functions, cloudflare-workers).
func (p Platform) String() string { return string(p) }

// Context is what a handler knows about its invocation. The same fields exist on every platform.
type Context struct {
	// RequestID is the unique id of this invocation (on Lambda the AWS request id, on Azure the
	// invocation id, on Workers the cf-ray).
	RequestID string
	// FunctionName is the function's deployed name.
	FunctionName string
	// Platform is the platform this invocation runs on.
	Platform Platform
	// Deadline is when the platform stops this invocation.
	Deadline time.Time
	// ColdStart is true on the first invocation of this execution environment.
	ColdStart bool
	// Traceparent is the W3C traceparent of the incoming request, or "" when it carried none.
	Traceparent string
}

// NewTestContext returns a context for unit tests: request id "test-request", function name
// "test-function", platform local, a 30-second deadline, not a cold start. Change its fields as a
// test needs.
func NewTestContext() *Context {
	return &Context{
		RequestID:    "test-request",
		FunctionName: "test-function",
		Platform:     PlatformLocal,
		Deadline:     time.Now().Add(30 * time.Second),
	}
}

// Remaining is the time left before the deadline (zero once it has passed).
func (c *Context) Remaining() time.Duration {
	if left := time.Until(c.Deadline); left > 0 {
		return left
	}
	return 0
}

// Var returns a configured variable, or "" when it is not set. The host fills the environment from
// the function's configuration only, never from its own environment, so this is os.Getenv.
func (c *Context) Var(name string) string { return os.Getenv(name) }

// LookupVar returns a configured variable and whether it is set (os.LookupEnv).
func (c *Context) LookupVar(name string) (string, bool) { return os.LookupEnv(name) }

// contextFromPairs builds a context from ABI v1 context pairs; missing fields get neutral values
// (empty id and name, platform local, a 30-second deadline), as in the Rust SDK.
func contextFromPairs(pairs []abi.Pair) *Context {
	c := NewTestContext()
	c.RequestID, c.FunctionName = "", ""
	for _, p := range pairs {
		switch p.Key {
		case abi.KeyRequestID:
			c.RequestID = p.Value
		case abi.KeyFunctionName:
			c.FunctionName = p.Value
		case abi.KeyPlatform:
			c.Platform = Platform(p.Value)
		case abi.KeyDeadlineMS:
			if ms, ok := parseUint(p.Value); ok {
				c.Deadline = time.UnixMilli(int64(ms))
			}
		case abi.KeyColdStart:
			c.ColdStart = p.Value == "true"
		case abi.KeyTraceparent:
			c.Traceparent = p.Value
		}
	}
	return c
}

// parseUint parses a decimal that fits an int64 (Unix milliseconds), without strconv's errors.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}
