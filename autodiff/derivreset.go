package autodiff

import (
	"fmt"
	"reflect"
	"unsafe"

	"gorgonia.org/gorgonia"
)

// resetDerivs clears the unexported `deriv` field of every node in g.
//
// Why: gorgonia's Backpropagate skips any node whose deriv is already set and reuses the
// stale derivative, so a second Grad (here dR/dX on a graph that already holds dL/dW) is
// silently wrong unless the first Grad's derivatives are forgotten. The nodes built by the
// first Grad stay in the graph and are still computed; only the bookkeeping pointer is
// cleared. TestSecondGradNeedsDerivReset fails if upstream ever makes this unnecessary.
func resetDerivs(g *gorgonia.ExprGraph) error {
	field, ok := reflect.TypeOf(gorgonia.Node{}).FieldByName("deriv")
	if !ok || field.Type != reflect.TypeOf((*gorgonia.Node)(nil)) {
		return fmt.Errorf("gorgonia.Node has no field deriv of type *Node: the derivative reset needs updating")
	}
	for _, n := range g.AllNodes() {
		f := reflect.ValueOf(n).Elem().FieldByIndex(field.Index)
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.Zero(f.Type()))
	}
	return nil
}
