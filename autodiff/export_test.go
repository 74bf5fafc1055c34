package autodiff

// SkipDerivReset lets the external regression test build the symbolic second-order graph
// without the derivative reset.
func SkipDerivReset(e *Engine) { e.skipDerivReset = true }

// The engine's exp, log and tanh, for comparison with package math.
var (
	DetExp  = detExp
	DetLog  = detLog
	DetTanh = detTanh
)

// UseTapeMachine makes e run its programs on gorgonia's TapeMachine (the reference the
// executor is compared with).
func UseTapeMachine(e *Engine) { e.tapeMachine = true }
