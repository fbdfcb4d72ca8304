module github.com/edgefn-dev/edgefn/guests/examples/go/nethttp

go 1.24

require github.com/edgefn-dev/edgefn/sdk/go v0.0.0

replace github.com/edgefn-dev/edgefn/sdk/go => ../../../../sdk/go
