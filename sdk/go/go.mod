module edgefn.dev/sdk/go/edgefn

go 1.24
