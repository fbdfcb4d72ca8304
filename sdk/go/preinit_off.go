//go:build !(wasip1 && edgefn_preinit)

package edgefn

// Without -tags edgefn_preinit the module exports no edgefn_v1_init: the Go runtime starts in
// every instance, with fresh random state and the instance's environment.
func resumeAfterSnapshot() {}

// DeclineSnapshot does nothing here: without -tags edgefn_preinit no snapshot is taken.
func DeclineSnapshot(reason string) {}
