/* gpu/bsgpu.h: the CUDA backend's public contract: a bs_backend named "gpu" (kernels + cuBLAS)
 * behind core's backend interface (core/backstep.h, "Backends").
 *
 * What it is
 *   One static bs_backend whose functions run every op of core/ops.def, forward and VJP, on the
 *   first CUDA device, in f32, bf16 (bf16 storage, f32 arithmetic) and f64, with core's (PyTorch's)
 *   semantics: broadcasting, batched matmul, reductions along a dim, cross_entropy's ignore_index
 *   -100 and probability targets. Matmul is cuBLAS (f32 compute for f32 and bf16, no TF32);
 *   everything else is kernels in gpu/ops_*.cu. supports_dtype() is true for f32, bf16 and f64;
 *   f16 is not handled. Class-index tensors (BS_I64) are stored as int32 on the device:
 *   alloc/upload/download/fill take BS_I64 buffers, and an op that reads integers as numbers
 *   (x + an integer tensor) converts them to its dtype itself.
 *
 * Ownership
 *   - open() creates the backend's state (b->impl): a CUDA stream, a cuBLAS handle and an 8-byte
 *     device flag for value errors raised by kernels. close() frees all of it; open() after
 *     close() starts again. open() on an open backend does nothing.
 *   - alloc() returns device memory (cudaMalloc) that belongs to the caller (the replay planner),
 *     who returns it with free(). The backend keeps no list of buffers: close() does not free
 *     them, so free every buffer before close().
 *   - Scratch memory an op needs (reduction partials, converted integer inputs) is taken from the
 *     stream-ordered pool (cudaMallocAsync, kept in the pool between ops) and returned by the op.
 *   - All work is queued on the backend's stream; forward/vjp/fill/accumulate/opt_step return
 *     before it finishes. upload, download and sync wait for it, and so do the forwards that can
 *     raise a value error (cross_entropy, bce), which read the device's error flag.
 *
 * Errors
 *   - open() without a device or driver returns BS_ERR_UNSUPPORTED with one line in err
 *     ("no CUDA device: <cudaGetErrorString>"); nothing crashes, the program goes on without GPU.
 *   - Other functions return BS_ERR_NOMEM (device allocation failed), BS_ERR_UNSUPPORTED (dtype
 *     not handled, no kernel image for this device), BS_ERR_TYPE (an input in another float
 *     dtype than the op's), BS_ERR_VALUE (class index out of range, bce input outside [0, 1], an
 *     uploaded index that is not an int32), BS_ERR_ARG (wrong arity, an input without a VJP) or
 *     BS_ERR_STATE (any other CUDA or cuBLAS failure, which can leave the device unusable until
 *     close()). bs_gpu_errmsg() says what failed last, in core's wording where core has one.
 *   - Kernel failures that CUDA reports asynchronously surface at the next call that waits.
 *
 * Coverage
 *   The op table in gpu/backend_gpu.cu is built by an X-macro over core/ops.def: every op needs
 *   gpu_fwd_<fn> and gpu_vjp_<fn> (declared in gpu/gpu_int.h), so an op added to ops.def without
 *   CUDA kernels does not link; tests/gpu/test_gpu_ops.c checks every op against the CPU, on the
 *   device (meson test gpu_ops) and, without one, on a host emulation of it (gpu_ops_emu).
 *
 * Builds for the architectures of -Dgpu_arch (default 80,90: SASS for sm_80 and sm_90, and PTX that
 * later GPUs JIT, see gpu/meson.build); on an older GPU open() says the kernels do not run there. The CUDA 13 runtime needs a driver that supports it (R580 or newer).
 */
#ifndef BSGPU_H
#define BSGPU_H

#ifdef __cplusplus
extern "C" {
#endif

#include "backstep.h"

/* Register the "gpu" backend with core (bs_backend_register). Safe without a device: the
 * backend's open() is what reports that there is none. Registering twice does nothing. */
void bs_gpu_register(void);

/* The backend itself (the same object bs_gpu_register registers), for tests and tools. */
bs_backend *bs_gpu_backend(void);

/* What the last failing call on b failed with, "" if nothing failed. Owned by the backend. */
const char *bs_gpu_errmsg(const bs_backend *b);

#ifdef __cplusplus
}
#endif

#endif
