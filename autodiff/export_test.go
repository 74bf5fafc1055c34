package autodiff

// SkipDerivReset lets the external regression test build the symbolic second-order graph
// without the derivative reset.
func SkipDerivReset(e *Engine) { e.skipDerivReset = true }

// NormRelErr is the relative error the internal tests use, for the external ones.
var NormRelErr = normRelErr

// UseTapeMachine makes e run its programs on gorgonia's TapeMachine (the reference the
// executor is compared with).
func UseTapeMachine(e *Engine) { e.tapeMachine = true }
