/* tests/gpu/cuda_emu.cpp: a host stand-in for the parts of the CUDA runtime and cuBLAS that the
 * gpu backend calls, so that the gpu/ sources built with GPU_EMU (kernels as host loops) runs and is
 * checked on a machine without a GPU. "Device" memory is host memory; the stream is in order by
 * construction. cublasGemmEx/cublasGemmStridedBatchedEx follow cuBLAS's documented column-major
 * semantics and argument checks, which is what the backend's row-major mapping is tested against. */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ==== Runtime ==== */

static char emu_object[4]; /* what opaque handles point at */

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    memset(prop, 0, sizeof *prop);
    strcpy(prop->name, "host emulation (GPU_EMU)");
    return cudaSuccess;
}

const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    default: return "emulated CUDA error";
    }
}

cudaError_t cudaGetLastError(void) { return cudaSuccess; }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    *s = (cudaStream_t)(void *)emu_object;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { return cudaSuccess; }

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device)
{
    *pool = (cudaMemPool_t)(void *)emu_object;
    return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value) { return cudaSuccess; }

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFree(void *p)
{
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t s) { return cudaMalloc(p, bytes); }
cudaError_t cudaFreeAsync(void *p, cudaStream_t s) { return cudaFree(p); }

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t s)
{
    memmove(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s)
{
    memset(p, v, bytes);
    return cudaSuccess;
}

/* ==== cuBLAS ==== */

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
    *h = (cublasHandle_t)(void *)emu_object;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t h) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) { return CUBLAS_STATUS_SUCCESS; }

const char *cublasGetStatusString(cublasStatus_t st)
{
    return st == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "emulated cuBLAS error";
}

static double emu_load(const void *p, cudaDataType t, int64_t k)
{
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[k];
    case CUDA_R_64F: return ((const double *)p)[k];
    default: return __bfloat162float(((const __nv_bfloat16 *)p)[k]);
    }
}

static void emu_store(void *p, cudaDataType t, int64_t k, double v)
{
    switch (t) {
    case CUDA_R_32F: ((float *)p)[k] = (float)v; break;
    case CUDA_R_64F: ((double *)p)[k] = v; break;
    default: ((__nv_bfloat16 *)p)[k] = __float2bfloat16_rn((float)v); break;
    }
}

static size_t emu_size(cudaDataType t) { return t == CUDA_R_64F ? 8 : (t == CUDA_R_32F ? 4 : 2); }

/* C (m, n) = alpha op(A) op(B) + beta C, column-major, `count` times at strides sA, sB, sC */
static cublasStatus_t emu_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha,
                               const void *A, cudaDataType at, int lda, long long sA, const void *B, cudaDataType bt,
                               int ldb, long long sB, const void *beta, void *C, cudaDataType ct, int ldc, long long sC,
                               int count, cublasComputeType_t comp)
{
    int rows_a = ta == CUBLAS_OP_N ? m : k, rows_b = tb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || count < 0 || lda < (rows_a > 1 ? rows_a : 1) ||
        ldb < (rows_b > 1 ? rows_b : 1) || ldc < (m > 1 ? m : 1) || at != bt || at != ct ||
        (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    bool f64 = comp == CUBLAS_COMPUTE_64F;
    if (f64 != (at == CUDA_R_64F))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    double al = f64 ? *(const double *)alpha : *(const float *)alpha;
    double be = f64 ? *(const double *)beta : *(const float *)beta;
    for (int b = 0; b < count; b++) {
        const char *Ab = (const char *)A + (size_t)(b * sA) * emu_size(at);
        const char *Bb = (const char *)B + (size_t)(b * sB) * emu_size(bt);
        char *Cb = (char *)C + (size_t)(b * sC) * emu_size(ct);
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int l = 0; l < k; l++) {
                    double x = emu_load(Ab, at, ta == CUBLAS_OP_N ? i + (int64_t)l * lda : l + (int64_t)i * lda);
                    double y = emu_load(Bb, bt, tb == CUBLAS_OP_N ? l + (int64_t)j * ldb : j + (int64_t)l * ldb);
                    s += x * y;
                }
                int64_t kc = i + (int64_t)j * ldc;
                double c = be != 0 ? be * emu_load(Cb, ct, kc) : 0.0; /* beta 0: C is not read */
                emu_store(Cb, ct, kc, al * s + c);
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t comp,
                            cublasGemmAlgo_t algo)
{
    return emu_gemm(ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, comp);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long int sA, const void *B, cudaDataType bt, int ldb, long long int sB,
                                          const void *beta, void *C, cudaDataType ct, int ldc, long long int sC,
                                          int count, cublasComputeType_t comp, cublasGemmAlgo_t algo)
{
    return emu_gemm(ta, tb, m, n, k, alpha, A, at, lda, sA, B, bt, ldb, sB, beta, C, ct, ldc, sC, count, comp);
}
