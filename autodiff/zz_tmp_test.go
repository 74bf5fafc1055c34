package autodiff_test

import (
	"testing"
	"time"

	"pollab/autodiff"
	"pollab/models"
)

func TestZZTime(t *testing.T) {
	m := mustParse(t, "resnet20")
	e := autodiff.NewEngine(m, autodiff.Float32, nil)
	e.SetBuffers(models.InitBuffers(m))
	w := models.Init(m, 1)
	x, y := batch(m, 32, 1)
	g := make([]float64, len(w))
	e.TrainGrad(w, x, y, g)
	for i := 0; i < 3; i++ {
		st := time.Now()
		if _, err := e.TrainGrad(w, x, y, g); err != nil {
			t.Fatal(err)
		}
		t.Logf("B=32 TrainGrad %v", time.Since(st))
	}
}
