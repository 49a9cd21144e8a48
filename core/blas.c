/* core/blas.c: core/blas.h's calls: the BLAS module loaded by the first of them (once, from any
 * thread), or plain loops where it cannot be. */
#include "blas.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "module.h"

/* ==== Plain loops: the same products where the module is missing ==== */

/* C = alpha * op(A) op(B) + beta * C, row-major, in T (ref_sgemm: float, ref_dgemm: double) */
#define REF_GEMM(name, T)                                                                          \
    static void name(bool ta, bool tb, int m, int n, int k, T alpha, const T *A, int lda,          \
                     const T *B, int ldb, T beta, T *C, int ldc)                                   \
    {                                                                                              \
        for (int i = 0; i < m; i++)                                                                \
            for (int j = 0; j < n; j++) {                                                          \
                T s = 0;                                                                           \
                for (int l = 0; l < k; l++)                                                        \
                    s += (ta ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l]) *                  \
                         (tb ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j]);                   \
                T *c = &C[(size_t)i * ldc + j];                                                    \
                *c = beta == 0 ? alpha * s : alpha * s + beta * *c;                                \
            }                                                                                      \
    }
REF_GEMM(ref_sgemm, float)
REF_GEMM(ref_dgemm, double)
#undef REF_GEMM

static void ref_sgemv(bool trans, int m, int n, float alpha, const float *A, int lda, const float *x,
                      float beta, float *y)
{
    int ny = trans ? n : m, nx = trans ? m : n;
    for (int i = 0; i < ny; i++) {
        float s = 0;
        for (int l = 0; l < nx; l++)
            s += (trans ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l]) * x[l];
        y[i] = beta == 0 ? alpha * s : alpha * s + beta * y[i];
    }
}

static float ref_sdot(int n, const float *x, const float *y)
{
    float s = 0;
    for (int i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static int ref_threads(void) { return 0; }

static char load_err[600];

static const char *ref_corename(void) { return load_err; }

static const bs_blas_api ref_api = {BS_BLAS_ABI, sizeof ref_api, ref_sgemm, ref_dgemm, ref_sgemv,
                                    ref_sdot, ref_threads, ref_corename};

/* ==== Loading ==== */

static const bs_blas_api *api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    static const bs_module_spec spec = {"libbsblas.so", "core", "BACKSTEP_BLAS_MODULE",
                                        "bs_blas_module", BS_BLAS_ABI, sizeof(bs_blas_api),
                                        "OpenBLAS (libbsblas.so)"};
    const bs_blas_api *a = bs_module_load(&spec, load_err, sizeof load_err);
    api = a ? a : &ref_api;
}

static const bs_blas_api *blas(void)
{
    pthread_once(&once, load);
    return api;
}

void bs_blas_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc)
{
    blas()->sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void bs_blas_dgemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda,
                   const double *B, int ldb, double beta, double *C, int ldc)
{
    blas()->dgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void bs_blas_sgemv(bool trans, int m, int n, float alpha, const float *A, int lda, const float *x,
                   float beta, float *y)
{
    blas()->sgemv(trans, m, n, alpha, A, lda, x, beta, y);
}

float bs_blas_sdot(int n, const float *x, const float *y) { return blas()->sdot(n, x, y); }
int bs_blas_threads(void) { return blas()->threads(); }
const char *bs_blas_corename(void) { return blas()->corename(); }
