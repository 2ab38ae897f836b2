// Whether a model fits before it is loaded: the bytes its weights take in the compute dtype,
// against the memory this process may still take. A model larger than memory is refused with
// one line naming both sizes, before anything is allocated, not ended by the kernel's OOM killer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "latte/core/linear.h"
#include "latte/io/safetensors.h"

namespace latte {

// Bytes the weights of `store` hold once loaded to compute in `precision` (f32 where this CPU
// cannot run it): matrices at 4, 2 or 1 bytes a value (an embedding stored in 16 bits keeps
// 2), vectors in f32. A lower bound: the KV cache and the workspace come on top.
uint64_t weight_bytes_in_memory(const WeightStore& store, Precision precision);

// Memory this process may still take, in bytes: /proc/meminfo's MemAvailable, capped by the
// cgroup's memory.max less its memory.current where one is set. The environment variable
// LATTE_MEMORY_AVAILABLE (bytes) stands in for it, for tests and for schedulers that budget a
// share of the machine. nullopt when neither can be read.
std::optional<uint64_t> available_memory();

// InputError "DIR: the weights need 16.1 GB in bf16 but 9.8 GB of memory is available
// (MemAvailable); try --dtype int8 (8.0 GB) or free memory" when they do not fit.
void require_memory_for(const WeightStore& store, Precision precision);

// Hands the heap's free memory back to the system (glibc's malloc_trim): called after a model
// loads, since each weight passes through a transient f32 copy, and glibc keeps freed chunks
// below its (adaptive) mmap threshold in the heap, resident. A no-op elsewhere.
void return_free_memory();

// Fixes glibc's mmap threshold (64 MB) and trim threshold (256 MB), which it otherwise adapts
// to the largest chunk freed so far: after a load whose transients were small, a pass's
// buffers of a few MB were mapped fresh and faulted in on every call (GPT-2 124M bf16,
// 256-token prefill: 150 -> 124 ms on AMD EPYC Zen 4; docs/benchmarks.md). The latte command
// calls it first thing; a program embedding the library should too. A no-op elsewhere.
void configure_allocator();

}  // namespace latte
