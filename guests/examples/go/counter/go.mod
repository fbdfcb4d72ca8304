module edgefn.dev/guests/examples/go/counter

go 1.24

require edgefn.dev/sdk/go/edgefn v0.0.0

replace edgefn.dev/sdk/go/edgefn => ../../../../sdk/go
