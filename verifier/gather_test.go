package verifier

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pollab/autodiff"
	"pollab/data"
	"pollab/internal/prooftest"
	"pollab/proof"
	"pollab/stats"
)

var honest prooftest.Shared

// honestProof: 4 epochs x 8 steps, k = 4: 8 intervals, 2 per epoch, trained once into the
// package's shared temp dir.
func honestProof(t *testing.T) string {
	return honest.Dir(t, testConfig(4, 4, autodiff.Float64), filepath.Join(sharedTempDir(t), "proof"))
}

func open(t *testing.T, dir string) *proof.Proof {
	t.Helper()
	p := prooftest.OpenAll(t, dir)
	return p
}

func gather(t *testing.T, dir, env string, opt Options, pols ...policier) *Evidence {
	t.Helper()
	e, err := ParseEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Workers == 0 {
		opt.Workers = 2
	}
	if opt.AuditNonce == nil {
		n := uint64(1)
		opt.AuditNonce = &n
	}
	ev, err := Gather(context.Background(), open(t, dir), e, policies(pols...), opt)
	if err != nil {
		t.Fatalf("gather %s in %s: %v", dir, env, err)
	}
	return ev
}

func exactPolicy(q int) flat {
	return flat{Q: q, Metrics: slices.Clone(stats.Metrics), Delta: stats.Distances{}, Hparams: HparamsTrustCheckpoint}
}

func TestHonestProofAcceptedExactlyAtDeltaZero(t *testing.T) {
	dir := honestProof(t)
	pol := exactPolicy(0)
	enforce := pol
	enforce.Hparams = HparamsEnforceManifest
	enforce.Membership = true
	ev := gather(t, dir, "exact", Options{}, pol, enforce)
	if len(ev.Intervals) != 8 || ev.Steps != 32 || ev.StepsPerEpoch != 8 {
		t.Fatalf("shape of evidence: %d intervals, %d steps, S=%g", len(ev.Intervals), ev.Steps, ev.StepsPerEpoch)
	}
	for _, p := range []flat{pol, enforce} {
		if v := p.Decide(ev); !v.Accepted {
			t.Errorf("%s: honest proof rejected at delta = 0: %+v", p, v)
		}
	}
	for _, iv := range ev.Intervals {
		for _, mode := range []string{HparamsTrustCheckpoint, HparamsEnforceManifest} {
			if r := iv.Repro[mode]; r == nil || r.Raw != (stats.Distances{}) {
				t.Errorf("interval %d (%s): re-execution not bit-identical: %+v", iv.Index, mode, r)
			}
		}
		if iv.Update.L2 == 0 {
			t.Errorf("interval %d: zero update magnitude", iv.Index)
		}
		if want := iv.Start * testBatch / 128; iv.Epoch != want {
			t.Errorf("interval %d starting at %d: epoch %d, want %d", iv.Index, iv.Start, iv.Epoch, want)
		}
	}
	if !ev.Init.Checked || ev.Init.Tensors != 4 || ev.Init.MinP < 0.01 {
		t.Errorf("init finding: %+v", ev.Init)
	}
	if !ev.Data.OK() || ev.Membership.Foreign != 0 || ev.Hparams.FirstMismatch != -1 {
		t.Errorf("findings: data %+v membership %+v hparams %+v", ev.Data, ev.Membership, ev.Hparams)
	}
	// Both modes re-executed every step: twice the proof's steps.
	if ev.ReexecutedSteps != 64 || ev.Ledger.Forward != 64 || ev.ReexecutedFraction != 2 {
		t.Errorf("ledger: %d steps re-executed, %d forward passes, fraction %g", ev.ReexecutedSteps, ev.Ledger.Forward, ev.ReexecutedFraction)
	}
}

// In the dtype and microbatch envs an honest re-execution is no longer bit-exact: the
// distances are non-zero, small, and grow with the interval length k.
func TestReproductionNoiseGrowsWithK(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three proofs")
	}
	dirs := map[int]string{}
	for _, k := range []int{1, 10, 50} {
		dirs[k] = prooftest.Train(t, testConfig(k, 7, autodiff.Float64)) // T = 56
	}
	for _, env := range []string{"dtype", "microbatch:4"} {
		var prev stats.Distances
		for _, k := range []int{1, 10, 50} {
			// Compare the first interval: k steps from W0.
			ev := gather(t, dirs[k], env, Options{}, flat{Q: 0, Delta: stats.ReferenceDelta})
			d := ev.Intervals[0].Repro[HparamsTrustCheckpoint].Raw
			t.Logf("%s k=%d: %v", env, k, d)
			if d.L2 == 0 || d.Linf == 0 {
				t.Errorf("%s k=%d: distance is zero (%v); the env should perturb", env, k, d)
			}
			if d.L2 > 1e-3*ev.Intervals[0].Update.L2+1e-6 {
				t.Errorf("%s k=%d: distance %v is not small next to the update %v", env, k, d, ev.Intervals[0].Update)
			}
			if k > 1 && !(d.L2 > prev.L2 && d.L1 > prev.L1) {
				t.Errorf("%s: distance at k=%d (%v) does not exceed k's predecessor (%v)", env, k, d, prev)
			}
			prev = d
		}
	}
}

func TestTamperedCheckpointRejectedAtItsInterval(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	const ck = 5 // checkpoint at step 20; interval 4 ends there, interval 5 starts there
	editCheckpoint(t, dir, ck, []string{"fc2.weight"}, func(_ string, j int, v float64) float64 {
		if j == 7 {
			return v + 1e-3
		}
		return v
	})
	all := exactPolicy(0)
	// Q = 1 in l2 plus every other interval of each epoch audited (4 per epoch).
	audited := flat{Q: 1, Audit: 4, Metrics: []string{stats.MetricL2}, Delta: stats.Distances{}}
	ev := gather(t, dir, "exact", Options{}, all, audited)
	for _, iv := range ev.Intervals {
		d := iv.Repro[HparamsTrustCheckpoint].Raw
		if touched := iv.Index == ck-1 || iv.Index == ck; touched != (d != stats.Distances{}) {
			t.Errorf("interval %d: distance %v (tampered checkpoint %d)", iv.Index, d, ck)
		}
	}
	if got := ev.Intervals[ck-1].Repro[HparamsTrustCheckpoint].Raw.Linf; got < 0.5e-3 {
		t.Errorf("interval %d: linf %g, want about the 1e-3 edit", ck-1, got)
	}
	for _, p := range []flat{all, audited} {
		v := p.Decide(ev)
		top, audit := p.Selection(ev)
		if v.Accepted || v.Interval != ck-1 || v.Step != 16 {
			t.Errorf("%s: %+v, want rejection at interval %d", p, v, ck-1)
		}
		wantCheck := CheckTopQ
		if slices.Contains(audit, ck-1) {
			wantCheck = CheckAudit
		} else if !slices.Contains(top, ck-1) {
			t.Errorf("%s: interval %d neither top-Q nor audited", p, ck-1)
		}
		if v.Check != wantCheck {
			t.Errorf("%s: check %q, want %q", p, v.Check, wantCheck)
		}
	}
	// A top-1 verifier without audits may miss it: it re-executes only the largest update
	// of each epoch. Whatever it selects, its verdict follows the evidence.
	lax := flat{Q: 1, Metrics: []string{stats.MetricL2}, Delta: stats.Distances{}}
	ev2 := gather(t, dir, "exact", Options{}, lax)
	needed := lax.Needed(ev2)
	v := lax.Decide(ev2)
	if caught := slices.Contains(needed, ck-1) || slices.Contains(needed, ck); caught == v.Accepted {
		t.Errorf("top-1 without audit: needed %v, verdict %+v", needed, v)
	}
}

func TestSwappedIndicesFailTheDataCheck(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	// Swap a point of step 9 with a point of step 13 (the recorded hashes stay).
	swapIndices(t, dir, 9*testBatch+3, 13*testBatch+5)
	ev := gather(t, dir, "exact", Options{}, exactPolicy(1))
	if ev.Data.OK() || ev.Data.FirstBadStep != 9 {
		t.Fatalf("data finding: %+v, want first bad step 9", ev.Data)
	}
	v := exactPolicy(1).Decide(ev)
	if v.Accepted || v.Check != CheckData || v.Step != 9 || v.Interval != 2 {
		t.Errorf("verdict %+v, want data at step 9 (interval 2)", v)
	}
}

func TestScaledW0FailsTheInitCheck(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	editCheckpoint(t, dir, 0, nil, func(_ string, _ int, v float64) float64 { return 2 * v })
	ev := gather(t, dir, "exact", Options{}, exactPolicy(1))
	if ev.Init.MinP >= stats.DefaultInitAlpha {
		t.Fatalf("init finding %+v: W0 scaled by 2 passes KS", ev.Init)
	}
	v := exactPolicy(1).Decide(ev)
	if v.Accepted || v.Check != CheckInit || v.Reason == "" {
		t.Errorf("verdict %+v, want init", v)
	}
}

func TestEnforceManifestCatchesAStoredLR(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	setCheckpointLR(t, dir, 3, "1e-09") // an infinitesimal-update style claimed lr
	trust := exactPolicy(0)
	enforce := trust
	enforce.Hparams = HparamsEnforceManifest
	ev := gather(t, dir, "exact", Options{}, trust, enforce)
	if ev.Hparams.FirstMismatch != 3 || ev.Hparams.Step != 12 || ev.Hparams.StoredLR != 1e-9 {
		t.Fatalf("hparams finding %+v", ev.Hparams)
	}
	v := enforce.Decide(ev)
	if v.Accepted || v.Check != CheckHparams || v.Interval != 3 {
		t.Errorf("enforce-manifest verdict %+v", v)
	}
	// Trusting the checkpoint, interval 3 re-executes with lr 1e-9 and lands far from
	// checkpoint 4: rejected at delta 0, as topq.
	v = trust.Decide(ev)
	if v.Accepted || v.Check != CheckTopQ || v.Interval != 3 {
		t.Errorf("trust-checkpoint verdict %+v", v)
	}
	// Under enforce-manifest the re-execution used the manifest's lr: interval 3 is exact.
	if d := ev.Intervals[3].Repro[HparamsEnforceManifest].Raw; d != (stats.Distances{}) {
		t.Errorf("enforce-manifest re-execution of interval 3: %v, want exact", d)
	}
}

// A delta x Q grid of 50 policies re-executes the union of what they need, each interval
// once; a second pass with the same cache re-executes nothing.
func TestGridReexecutesEachIntervalOnce(t *testing.T) {
	dir := honestProof(t)
	var grid []flat
	for q := 1; q <= 5; q++ {
		for i := 0; i < 10; i++ {
			d := float64(i) * 0.001
			grid = append(grid, flat{Q: q % 3, Metrics: slices.Clone(stats.Metrics), Delta: stats.Uniform(d), Audit: q % 2})
		}
	}
	cache, _ := NewCache("")
	ev := gather(t, dir, "exact", Options{Cache: cache}, policiesOf(grid)...)
	union := map[int]bool{}
	for _, p := range grid {
		for _, i := range p.Needed(ev) {
			union[i] = true
		}
	}
	steps := 0
	for i := range union {
		steps += ev.Intervals[i].Steps()
	}
	if ev.Ledger.Forward != int64(steps) || ev.ReexecutedSteps != steps || ev.NeededSteps != steps {
		t.Errorf("union of %d intervals = %d steps; ledger %d forward passes, %d re-executed", len(union), steps, ev.Ledger.Forward, ev.ReexecutedSteps)
	}
	for _, p := range grid {
		if v := p.Decide(ev); !v.Accepted {
			t.Errorf("%s: %+v", p, v)
		}
	}
	// The same grid again, one policy per Gather, on the same cache: nothing re-executes.
	total := int64(0)
	for _, p := range grid[:10] {
		e := gather(t, dir, "exact", Options{Cache: cache}, p)
		total += e.Ledger.Forward
		if v := p.Decide(e); !v.Accepted {
			t.Errorf("cached %s: %+v", p, v)
		}
	}
	if total != 0 {
		t.Errorf("cached grid re-executed %d steps", total)
	}
	// Another env is another cache entry.
	if e := gather(t, dir, "microbatch:2", Options{Cache: cache}, grid[0]); e.ReexecutedSteps == 0 {
		t.Error("env microbatch:2 was served from the exact env's cache")
	}
}

func TestDiskCacheSurvivesARestart(t *testing.T) {
	dir := honestProof(t)
	cdir := t.TempDir()
	p := exactPolicy(0)
	first := gather(t, dir, "exact", Options{CacheDir: cdir}, p)
	second := gather(t, dir, "exact", Options{CacheDir: cdir}, p)
	if first.ReexecutedSteps != 32 || second.ReexecutedSteps != 0 || second.CacheHits != 8 {
		t.Errorf("first run %d steps, second %d steps with %d hits", first.ReexecutedSteps, second.ReexecutedSteps, second.CacheHits)
	}
	if fmt.Sprint(p.Decide(first)) != fmt.Sprint(p.Decide(second)) {
		t.Errorf("verdicts differ: %+v vs %+v", p.Decide(first), p.Decide(second))
	}
}

func TestGatherHonoursCancellation(t *testing.T) {
	dir := honestProof(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := uint64(1)
	if _, err := Gather(ctx, open(t, dir), Env{}, policies(exactPolicy(0)), Options{AuditNonce: &n}); err == nil {
		t.Error("cancelled Gather returned evidence")
	}
}

// Cancelling mid-way through the re-executions stops every worker before its next step: with
// W workers, at most W steps complete after the first (the others finish the step they are
// in), and Gather returns the cancellation, not evidence. Q = 0 re-executes all 32 steps.
func TestGatherStopsWorkersWhenCancelledMidway(t *testing.T) {
	dir := honestProof(t)
	for _, workers := range []int{1, 3} {
		ctx, cancel := context.WithCancel(context.Background())
		stepped := 0
		n := uint64(1)
		opt := Options{Workers: workers, AuditNonce: &n, Progress: func(done, total int, note string) {
			if note == "re-executing" {
				stepped = done
				cancel()
			}
		}}
		ev, err := Gather(ctx, open(t, dir), Env{}, policies(exactPolicy(0)), opt)
		cancel()
		if ev != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("workers %d: Gather returned %v, %v; want the cancellation", workers, ev, err)
		}
		if stepped < 1 || stepped > workers {
			t.Errorf("workers %d: %d steps re-executed after cancelling at the first, want 1..%d", workers, stepped, workers)
		}
	}
}

func openProof(dir string) (*proof.Proof, error) { return proof.Open(dir) }

// noise:SIGMA perturbs every step reproducibly: non-zero distances, identical on a rerun (so a
// killed-and-rerun verification reaches the same verdict).
func TestNoiseEnvIsReproducible(t *testing.T) {
	dir := honestProof(t)
	p := flat{Q: 0, Delta: stats.ReferenceDelta}
	a := gather(t, dir, "noise:0.001", Options{}, p)
	b := gather(t, dir, "noise:0.001", Options{Workers: 1}, p)
	for i := range a.Intervals {
		da, db := a.Intervals[i].Repro[HparamsTrustCheckpoint].Raw, b.Intervals[i].Repro[HparamsTrustCheckpoint].Raw
		if da.L2 == 0 || da != db {
			t.Errorf("interval %d: %v then %v", i, da, db)
		}
	}
}

// A float32 proof re-executed in float64 (env dtype) is close but not exact.
func TestDTypeEnvOnAFloat32Proof(t *testing.T) {
	dir := prooftest.Train(t, testConfig(4, 2, autodiff.Float32))
	ev := gather(t, dir, "dtype", Options{}, flat{Q: 0, Delta: stats.ReferenceDelta})
	if v := (flat{Q: 0, Delta: stats.ReferenceDelta}).Decide(ev); !v.Accepted {
		t.Errorf("f32 proof in f64 at reference thresholds: %+v", v)
	}
	d := ev.Intervals[0].Repro[HparamsTrustCheckpoint].Raw
	if d.L2 == 0 || d.Linf > 1e-4 {
		t.Errorf("f32 proof re-executed in f64: %v", d)
	}
}

// A claimed lr so large that re-execution overflows is a rejection, never a panic or an error.
func TestDivergingReexecutionIsRejected(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	setCheckpointLR(t, dir, 2, "1e300")
	p := flat{Q: 0, Delta: stats.ReferenceDelta}
	ev := gather(t, dir, "exact", Options{}, p)
	v := p.Decide(ev)
	if v.Accepted || v.Check != CheckTopQ || v.Interval != 2 {
		t.Errorf("verdict %+v (interval 2 repro %v)", v, ev.Intervals[2].Repro[HparamsTrustCheckpoint].Raw)
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Errorf("evidence with non-finite distances does not marshal: %v", err)
	}
}

// Crafted payload points, consistently hashed: the data check passes, the membership check
// (when a policy asks for it) rejects them.
func TestPayloadPointsFailMembership(t *testing.T) {
	dir := prooftest.Copy(t, honestProof(t))
	const dim = 16
	// payload.bin: "PLPL", version 1, count 2, dim, then (dim f32, label u8) per point.
	pl := []byte("PLPL")
	for _, v := range []uint32{1, 2, dim} {
		pl = binary.LittleEndian.AppendUint32(pl, v)
	}
	for j := 0; j < 2; j++ {
		for i := 0; i < dim; i++ {
			pl = binary.LittleEndian.AppendUint32(pl, math.Float32bits(float32(i+j)/dim))
		}
		pl = append(pl, byte(j))
	}
	if err := os.WriteFile(filepath.Join(dir, "payload.bin"), pl, 0o644); err != nil {
		t.Fatal(err)
	}
	m := prooftest.ReadManifest(t, dir)
	m.Files.Payload = &proof.PayloadRef{FileRef: proof.FileRef{File: "payload.bin", Size: int64(len(pl)), SHA256: prooftest.SHA256Hex(pl)}, Count: 2}
	prooftest.WriteManifest(t, dir, m)
	// Step 3 entry 0 -> payload point 0, step 6 entry 2 -> payload point 1.
	idxPath := filepath.Join(dir, m.Files.Indices.File)
	ib, _ := os.ReadFile(idxPath)
	for _, e := range []struct{ pos, v int }{{3*testBatch + 0, -1}, {6*testBatch + 2, -2}} {
		binary.LittleEndian.PutUint32(ib[16+4*e.pos:], uint32(int32(e.v)))
	}
	prooftest.Resign(t, dir, m.Files.Indices.File, ib)
	// The attacker recomputes the batch hashes of the changed steps.
	p := open(t, dir)
	train, err := data.Load(p.Manifest().Dataset.Name, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := os.ReadFile(filepath.Join(dir, m.Files.Hashes.File))
	for _, step := range []int{3, 6} {
		var row [][32]byte
		for _, idx := range p.Table().Row(step) {
			if idx >= 0 {
				row = append(row, train.PointHash(int(idx)))
			} else {
				row = append(row, p.Payload().PointHash(int(-idx-1)))
			}
		}
		h := data.BatchHash(row)
		copy(hb[12+32*step:], h[:])
	}
	prooftest.Resign(t, dir, m.Files.Hashes.File, hb)

	strict := flat{Q: 1, Delta: stats.ReferenceDelta, Membership: true}
	// The membership finding is collected when a policy holds the membership check.
	if ev := gather(t, dir, "exact", Options{}, exactPolicy(1)); ev.Membership.Checked {
		t.Errorf("membership collected for policies without the check: %+v", ev.Membership)
	}
	ev := gather(t, dir, "exact", Options{}, exactPolicy(1), strict)
	if !ev.Data.OK() {
		t.Fatalf("consistently hashed payload fails the data check: %+v", ev.Data)
	}
	if ev.Membership.PayloadPoints != 2 || ev.Membership.Foreign != 2 || ev.Membership.FirstForeignStep != 3 {
		t.Errorf("membership finding %+v", ev.Membership)
	}
	if v := strict.Decide(ev); v.Accepted || v.Check != CheckMembership || v.Step != 3 || v.Interval != 0 {
		t.Errorf("membership verdict %+v", v)
	}
}
