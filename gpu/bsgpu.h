/* gpu/bsgpu.h: the CUDA backend's public contract: a bs_backend named "gpu" (kernels + cuBLAS)
 * behind core's backend interface (core/backstep.h, "Backends").
 *
 * What it is
 *   One static bs_backend whose functions run every op of core/ops.def, forward and VJP, on the
 *   first CUDA device, in f32, bf16 (bf16 storage, f32 arithmetic) and f64. Matmul is cuBLAS
 *   (f32 compute, no TF32); everything else is kernels in gpu/ops_*.cu. Class-index tensors
 *   (BS_I64) are stored as int32 on the device; upload/download convert from/to host doubles.
 *
 * Ownership
 *   - open() creates the backend's state (b->impl): a CUDA stream, a cuBLAS handle and a 4-byte
 *     device flag for value errors raised by kernels. close() frees all of it; open() after
 *     close() starts again. open() on an open backend does nothing.
 *   - alloc() returns device memory (cudaMalloc) that belongs to the caller (the replay planner),
 *     who returns it with free(). The backend keeps no list of buffers: close() does not free
 *     them, so free every buffer before close().
 *   - Scratch memory an op needs (reduction partials, converted class indices) is taken from the
 *     stream-ordered pool (cudaMallocAsync) and returned by the op itself.
 *   - All work is queued on the backend's stream; forward/vjp/fill/accumulate/opt_step return
 *     before it finishes. upload, download and sync wait for it.
 *
 * Errors
 *   - open() without a device or driver returns BS_ERR_UNSUPPORTED with one line in err
 *     ("no CUDA device: <cudaGetErrorString>"); nothing crashes, the program goes on without GPU.
 *   - Other functions return BS_ERR_NOMEM (device allocation failed), BS_ERR_UNSUPPORTED (op or
 *     dtype not handled, no kernel image for this device), BS_ERR_TYPE (dtype mismatch, float
 *     class indices), BS_ERR_VALUE (class index out of range, an index that is not an int32),
 *     BS_ERR_ARG (input without a VJP) or BS_ERR_STATE (any other CUDA or cuBLAS failure, which
 *     can leave the device unusable until close()). bs_gpu_errmsg() says what failed last.
 *   - Kernel failures that CUDA reports asynchronously surface at the next call that waits.
 *
 * Coverage
 *   The op table in gpu/backend_gpu.cu is built by an X-macro over core/ops.def: every op needs
 *   gpu_fwd_<fn> and gpu_vjp_<fn> (declared in gpu/gpu_int.h), so an op added to ops.def without
 *   CUDA kernels does not link; tests/gpu/test_gpu_ops.c checks every op against the CPU.
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
