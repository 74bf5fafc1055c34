// Package data provides the training data of pollab's Proof-of-Learning experiments and the
// deterministic randomness derived from recorded seeds.
//
// A Dataset stores every point as raw bytes plus a one-byte label. Loaded image datasets
// (MNIST, Fashion-MNIST, CIFAR-10/100, and the synthetic Gaussian clusters) use the U8
// encoding (pixel byte / 255); points crafted by an attacker and carried in a proof's payload
// use F32 (little-endian float32). Because the bytes are kept verbatim, a point's identity is
// SHA-256(raw bytes || label byte) and the whole dataset's identity is a Fingerprint over its
// canonical name, shape, class count, size and every point hash in order. Contains answers
// "is this exact point in the dataset?" for the verifier's membership check.
//
// Load resolves a canonical dataset name ("mnist", "fashion-mnist", "cifar10", "cifar100",
// "synthetic:n=...,test=...,dim=...,classes=...,seed=...") to a cached, read-only Dataset.
// File formats are parsed by this package (IDX for the MNIST family, the CIFAR binary batch
// format) with bounds checks, so a truncated or corrupted file is an error naming the file,
// never a panic.
//
// Randomness: SubSeed derives independent 64-bit seeds from a recorded seed and a label;
// NewRNG turns one into a PCG generator. Schedule builds the PoL batch table of Jia et al.
// (one permutation per epoch, concatenated, one global drop-last) and Augment applies the
// per-step random crop and horizontal flip. Both are specified entirely in terms of the PCG
// output stream, so the same seed gives the same table on every platform and Go release.
package data
