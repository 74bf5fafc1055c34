// Package stats holds the measurements that provers' adversaries and the verifier share, so
// neither imports the other: distances between flat parameter vectors (l1, l2, linf, cosine)
// and their metric names, the Kolmogorov-Smirnov test of an initialization against its
// declared law, and the lab's reference thresholds (Jia et al.'s absolute deltas, Fang et
// al.'s normalised 0.008, the KS level 0.01), each defined once here.
package stats
