# Type stub of the latte package (its classes live in the extension latte._latte).
from os import PathLike
from typing import Iterator, Sequence

import numpy as np
import numpy.typing as npt

__version__: str

TextInput = str | tuple[str, str]

class Error(Exception): ...
class InputError(Error, ValueError): ...
class FormatError(Error, OSError): ...

class Encoding:
    @property
    def ids(self) -> list[int]: ...
    @property
    def type_ids(self) -> list[int]: ...
    @property
    def tokens(self) -> list[str]: ...
    @property
    def truncated(self) -> bool: ...
    def __len__(self) -> int: ...

class Tokenizer:
    def __init__(self, path: str | PathLike[str]) -> None: ...
    def encode(self, text: str, pair: str | None = None, max_length: int = 0) -> Encoding: ...
    def encode_batch(self, texts: Sequence[str], max_length: int = 0) -> list[Encoding]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def token(self, id: int) -> str: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def kind(self) -> str: ...

class Classification:
    @property
    def label(self) -> str | None: ...
    @property
    def score(self) -> float: ...
    @property
    def probabilities(self) -> npt.NDArray[np.float32] | None: ...
    @property
    def logits(self) -> npt.NDArray[np.float32]: ...
    @property
    def kept(self) -> list[int]: ...
    @property
    def predicted_ms(self) -> float | None: ...
    @property
    def predicted_speedup(self) -> float | None: ...

class Generation:
    @property
    def text(self) -> str: ...
    @property
    def ids(self) -> list[int]: ...
    @property
    def prompt_ids(self) -> list[int]: ...
    @property
    def kept(self) -> list[int]: ...
    @property
    def stop_reason(self) -> str: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def setup_ms(self) -> float: ...
    @property
    def ttft_ms(self) -> float: ...
    @property
    def decode_ms_per_token(self) -> float: ...
    @property
    def kv_cache_bytes(self) -> int: ...
    @property
    def kv_cache_bytes_dense(self) -> int: ...
    @property
    def predicted_speedup(self) -> float: ...

class GenerationStream(Iterator[str]):
    def __iter__(self) -> GenerationStream: ...
    def __next__(self) -> str: ...
    def close(self) -> None: ...
    @property
    def result(self) -> Generation | None: ...

class Model:
    def __init__(
        self, path: str | PathLike[str] | None = None, dtype: str | None = None, threads: int | None = None
    ) -> None: ...
    @property
    def path(self) -> PathLike[str]: ...
    @property
    def family(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def config(self) -> dict: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def labels(self) -> list[str]: ...
    def classify(
        self,
        texts: Sequence[TextInput],
        *,
        speedup: float | None = None,
        latency_ms: float | None = None,
        keep: Sequence[int] | None = None,
        coverage: float | None = None,
        mode: str | None = None,
        min_keep: int = 1,
        batch_size: int = 16,
        max_length: int | None = None,
        truncate: bool = True,
    ) -> list[Classification]: ...
    def logits(
        self,
        texts: Sequence[TextInput],
        *,
        speedup: float | None = None,
        latency_ms: float | None = None,
        keep: Sequence[int] | None = None,
        coverage: float | None = None,
        mode: str | None = None,
        min_keep: int = 1,
        batch_size: int = 16,
        max_length: int | None = None,
        truncate: bool = True,
    ) -> npt.NDArray[np.float32]: ...
    def generate(
        self,
        prompt: str | Sequence[int],
        max_new_tokens: int = 32,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int = 0,
        stop: str | Sequence[str] | None = None,
        truncate: bool = False,
        stream: bool = False,
        *,
        speedup: float | None = None,
        latency_ms: float | None = None,
        keep: Sequence[int] | None = None,
        coverage: float | None = None,
        mode: str | None = None,
        min_keep: int = 1,
    ) -> Generation | GenerationStream: ...
    def score(
        self,
        texts: Sequence[str],
        prompt_len: int = 256,
        continuation_len: int = 32,
        speedups: Sequence[float] = (1.0,),
        max_windows: int = 0,
        latency_samples: int = 64,
        mode: str | None = None,
    ) -> list[dict]: ...
    def plan(
        self,
        seq_len: int = 128,
        *,
        speedup: float | None = None,
        latency_ms: float | None = None,
        keep: Sequence[int] | None = None,
        coverage: float | None = None,
        mode: str | None = None,
        min_keep: int = 1,
    ) -> dict: ...
    def profile(self, rounds: int | None = None) -> dict: ...
    def calibrate(
        self,
        texts: Sequence[TextInput],
        max_inputs: int = 128,
        max_length: int | None = None,
        truncate: bool = True,
    ) -> dict: ...
