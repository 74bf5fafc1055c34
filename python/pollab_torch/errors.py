"""The one exception type of pollab_torch."""


class PollabTorchError(Exception):
    """Malformed input (a proof, a dataset file, a model or optimizer that does not match):
    the message names what is wrong."""
