// Package blindfold implements Fang et al.'s Blindfold Top-Q attack ("Proof-of-Learning is
// currently more broken than you think", EuroS&P 2023): a verifier that re-executes only the
// Q largest updates of each epoch never looks at the rest, so only q intervals per epoch need
// real computation.
//
// Construction. W'0 comes from attacks.ForgeInit (KS-valid, rank-matched to W_T) and the
// anchors A_e = W'0 + e/E_v·(W_T − W'0), e = 0..E_v, lie on the line, A_E_v = W_T. The proof has
// T' = E·(q·k + S) steps over a genuine PoL batch schedule of real training points; its
// intervals are grouped exactly as the verifier groups them by default (stats.IntervalEpochs
// with stats.EpochRuleStart: interval i is in epoch floor(start_i·B/N)), giving E_v epochs. Each epoch, starting at its anchor A_e:
//
//   - Genuine part: its first q intervals are computed honestly by prover.Stepper on their
//     recorded batches (with the recorded augmentation seeds, if any), from the stored
//     checkpoint state (weights rounded to the run's dtype, momentum buffers), at one claimed
//     lr per interval, which is written into the interval's start checkpoint. The end state
//     (weights and momentum buffers, as the Stepper leaves them) is the next checkpoint. The
//     verifier re-executes an interval with the same Stepper from the same stored state and
//     lr, so it reproduces the next checkpoint bit for bit: the rescaling is done through the
//     claimed lr, never by editing weights after the fact. The lr is chosen so the interval's
//     update is about d0/E_v long (at least MinRatio·delta, so it outranks every gap): the
//     first from one gradient at W'0 (lr = target/(k·|g + wd·w|)), each later one by rescaling
//     the previous lr by target/|previous update|; an interval whose update misses the target
//     by more than a factor 2 is re-run with the corrected lr (every run is in the ledger).
//     SGD's own direction cannot be steered without crafting data, so the genuine part moves
//     wherever the real gradients point; it is the epoch as a whole that heads to its anchor.
//   - Interpolated part: the remaining intervals of the epoch are the straight segment from
//     the genuine part's end to the next anchor A_e+1, cut so every gap is at most
//     GapFraction·delta (an error if the epoch has too few intervals for that). No
//     computation backs them; their batches are the schedule's real rows.
//
// The interpolated checkpoints' claimed lr is a choice (Config.InterpLR):
//
//   - manifest (default): the lr the manifest's schedule gives at that step, Fang et al.'s
//     setting (their verifier re-executes every interval with the task's lr). An audited
//     interpolated interval then moves by one honest interval's update on top of its gap and
//     fails when that exceeds delta.
//   - tiny: the analytic infinitesimal lr of attacks.TinyLR, as in the infinitesimal attack:
//     every interval then re-executes within delta, so random audits catch nothing while the
//     verifier trusts checkpoints' lr; only enforce-manifest does.
//   - genuine: the epoch's last genuine lr: every audited interpolated interval fails.
//
// Every genuinely computed interval is listed in the Report (GenuineIntervals, with their lr
// and update length); their batch indices are the rows of the proof's batch table (the
// reference code does not record them). The Ledger counts every gradient pass.
//
// Defaults (Config): E = 200, q = 5, k = 10 as published; through Params (specs, pollab
// attack blindfold) E and k default to the target's epochs and k instead. S, published as 200 for CIFAR-10's
// 390-step epochs, is scaled to the target: S = floor(N/B/k)·k − q·k, so one attacker epoch
// is one claimed epoch of the verifier's ranking (an error when an epoch is shorter than
// q·k + k steps: lower q or k).
//
// Measured (go test -v, synthetic n=256, mlp:16-12-4, f32, batch 8 so 32 steps per epoch;
// E = 3, q = 2, k = 2, S = 28, T' = 96, l2 delta = d0/8):
//   - genuine intervals re-execute at distance exactly 0 and are the q largest updates of
//     their epochs; top-Q accepts for Q = 1, 2 and rejects Q = 3 when the interpolated lr is
//     the genuine one; enforce-manifest rejects at the hyperparameter check;
//   - accept rate over 40 audit seeds with Q = 2 and R audits per epoch: interpolated lr
//     manifest (target trained at lr 0.5; 5 of 48 intervals fail re-execution) R = 1: 0.825,
//     R = 2: 0.600, R = 5: 0.100; interpolated lr genuine: 0 for R = 1, 2, 5; interpolated lr
//     tiny: 1.0 for R = 0, 1, 2, 5 in envs exact and microbatch:4;
//   - cost: 12-14 genuine steps (plus one gradient) of 96, 17-19% of the FLOPs of honestly
//     training 96 steps (Fang et al.'s defaults give q·k/(q·k + S) = 50/250 = 20%).
//
// At E = 200 (pollab attack blindfold --epochs 200 --q 2 --k 2 --delta 0.3, target mlp:64-32-10, 32 steps
// per epoch, so S = 28 and T' = 6,400): 869 gradient passes (800 genuine steps, one initial
// gradient, 68 re-run steps), 13.8% of the FLOPs of honestly training 6,400 steps; pollab
// verify accepts it at Q = 2 and rejects it with R = 1, 2 or 5 audits per epoch (200 epochs
// give an audit 200 chances to land on a failing interpolated interval).
package blindfold
