# pollab recipes. `just` installs with `npm install -g rust-just`; every recipe is a plain Go command too.

# The lab's main job on its embedded default: honest proofs, three spoofers, verification, sweep, figures.
demo out="results/demo":
    go run ./cmd/pollab demo --out {{out}}

# The test suite (exactly what .ci/run runs first).
test:
    go test ./...

# Go benchmarks of the core (one training step per model, the gradient-matching step, verification cost).
bench:
    go test -run '^$' -bench . -benchtime 20x ./autodiff/ ./verifier/

# The same training steps in PyTorch 1.13 CPU beside pollab, printing the ratio (needs Debian's python3-torch).
bench-torch:
    scripts/bench.sh

# Install Fashion-MNIST (optional; Debian package, read from /usr/share/datasets/fashion-mnist).
install-fashion-mnist:
    apt-get update && apt-get install -y dataset-fashion-mnist

# Install PyTorch for bench-torch (optional; Debian package).
install-torch:
    apt-get update && apt-get install -y python3-torch

# The full MNIST reproduction on this machine (about 15 minutes on two cores).
paper out="results/paper":
    go run ./cmd/pollab sweep paper --out {{out}}

# Redraw every figure of a results directory from its CSV alone.
figures dir="results/demo":
    go run ./cmd/pollab figures {{dir}}

# Fuzz every target for longer (default 60s each) and print executions per target.
fuzz time="60s":
    scripts/fuzz.sh {{time}}

# Optional fast build with OpenBLAS (Debian libopenblas-dev, cgo).
build-openblas:
    apt-get update && apt-get install -y libopenblas-dev
    CGO_LDFLAGS=-lopenblas go build -tags openblas -o bin/pollab ./cmd/pollab

# PyTorch against pollab: the measured honest re-execution noise (results/torch-noise; about 40 minutes on a loaded 2-core machine).
torch-noise out="results/torch-noise":
    go build -o bin/pollab ./cmd/pollab
    PYTHONPATH=python nice -n 10 /usr/bin/python3 -m pollab_torch noise --pollab bin/pollab --out {{out}}
