module github.com/edgefn-dev/edgefn/sdk/go

go 1.24
