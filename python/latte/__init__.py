"""latte: latency-tunable Transformer inference on CPUs, from Python.

One fine-tuned model serves a range of latency/accuracy trade-offs: the knobs (speedup,
latency_ms, keep, coverage) eliminate word-vectors layer by layer at inference time.

    import latte
    model = latte.Model()                      # the bundled spam/ham classifier
    model.classify(["Win a FREE prize"], speedup=2)
"""

from ._latte import (
    Classification,
    Encoding,
    Error,
    FormatError,
    Generation,
    GenerationStream,
    InputError,
    Model,
    Tokenizer,
    __version__,
)

__all__ = [
    "Classification",
    "Encoding",
    "Error",
    "FormatError",
    "Generation",
    "GenerationStream",
    "InputError",
    "Model",
    "Tokenizer",
    "__version__",
]
