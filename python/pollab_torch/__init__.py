"""PyTorch interop for pollab's Proof-of-Learning proofs (format pollab-proof/1).

- ``Recorder`` writes a pollab proof from a PyTorch training loop (recorder.py);
- ``import_jia`` converts a proof made by Jia et al.'s reference code (jia.py);
- ``reexecute`` replays a pollab proof's intervals in PyTorch, an independent second verifier
  (reexec.py);
- ``python3 -m pollab_torch noise`` measures the honest re-execution noise between PyTorch and
  pollab (noise.py, results/torch-noise).

Data comes from ``pollab export-data NAME --out FILE`` (datasets.py), so both sides train on
the same bytes and agree on point hashes and the dataset fingerprint. Every malformed input is
one ``PollabTorchError`` naming what is wrong. Only torch and numpy are needed.
"""

from .errors import PollabTorchError
from .datasets import Dataset, load_dataset
from .models import build_model, check_model
from .proofio import Proof, open_proof
from .jia import import_jia
from .recorder import Recorder, pol_table
from .reexec import reexecute

__all__ = ["PollabTorchError", "Dataset", "load_dataset", "build_model", "check_model", "Proof",
           "open_proof", "Recorder", "import_jia", "pol_table", "reexecute"]
