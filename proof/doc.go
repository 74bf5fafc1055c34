// Package proof reads and writes pollab's Proof-of-Learning proofs (format pollab-proof/1).
//
// A proof is one directory:
//
//	manifest.json            table of contents: model, dataset (name, size, fingerprint), dtype,
//	                         optimizer, batch, epochs, steps T, interval k, augmentation, seeds,
//	                         every file with its size and SHA-256; written last
//	ckpt/NNNNNN.safetensors  training state before update t, for t = 0, k, 2k, ..., T
//	indices.bin              the batch table (T rows of batch int32 indices)
//	hashes.bin               one SHA-256 batch hash per step
//	augseeds.bin             one augmentation seed per step (only when recorded)
//	payload.bin              crafted points referenced by negative indices (only when present)
//	provenance.json          how the proof was made: version, command line, times, host, and the
//	                         producer's cost ledger (informational, not hashed)
//
// Checkpoints are safetensors files that load directly into PyTorch: every parameter under
// its state-dict name, momentum buffers as "momentum.<name>" (absent when momentum is 0), in
// the run's dtype, with metadata {format, step, lr, model}; lr is written with
// strconv.FormatFloat(lr, 'g', -1, 64), so it round-trips exactly. ReadWeights reads a model's
// weights back from such a file, or from any safetensors file holding the model's tensors by
// name (a PyTorch state_dict), with the same checks.
//
// Writing (Create, Resume, Writer) is crash-safe: every file goes to a temp file in the same
// directory, is synced and renamed into place, and the manifest is written last, so a
// directory with a manifest is a complete proof and no final name ever holds a partial file.
// Checkpoints stream to disk from the caller's vectors; the payload streams point by point.
// Identical inputs give byte-identical files, provenance.json aside (it alone carries times and
// the ledger's wall time).
//
// Reading (Open, Proof) treats the proof as hostile: the manifest is size-capped and checked
// for consistency (format, model, dtype, positive sizes, exactly the checkpoints 0, k, ..., T
// in order, plain relative paths that stay inside the directory even through symlinks), every
// file's size is checked against what the manifest implies before anything is allocated, and
// tables and checkpoints are checked against their SHA-256, their headers, the model's tensor
// names, shapes and dtype, index ranges, and finiteness. Malformed input yields an error that
// names the file and the problem, never a panic. The reader validates the format; whether the
// training the proof describes really happened is the verifier's question.
package proof
