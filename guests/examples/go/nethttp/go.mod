module edgefn.dev/guests/examples/go/nethttp

go 1.24

require edgefn.dev/sdk/go/edgefn v0.0.0

replace edgefn.dev/sdk/go/edgefn => ../../../../sdk/go
