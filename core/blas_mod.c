/* core/blas_mod.c: the BLAS module, libbsblas.so: OpenBLAS behind core/blas.h's table. Loaded by
 * core/blas.c on the first product; OpenBLAS reads its OPENBLAS_* variables and starts its
 * threads then. Only bs_blas_module is exported. */
#include <cblas.h>

#include "blas.h"

#define T(x) ((x) ? CblasTrans : CblasNoTrans)

static void m_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, T(ta), T(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void m_dgemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda,
                    const double *B, int ldb, double beta, double *C, int ldc)
{
    cblas_dgemm(CblasRowMajor, T(ta), T(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void m_sgemv(bool trans, int m, int n, float alpha, const float *A, int lda, const float *x,
                    float beta, float *y)
{
    cblas_sgemv(CblasRowMajor, T(trans), m, n, alpha, A, lda, x, 1, beta, y, 1);
}

static float m_sdot(int n, const float *x, const float *y) { return cblas_sdot(n, x, 1, y, 1); }
static int m_threads(void) { return openblas_get_num_threads(); }
static const char *m_corename(void) { return openblas_get_corename(); }

__attribute__((visibility("default"))) const bs_blas_api *bs_blas_module(void);
const bs_blas_api *bs_blas_module(void)
{
    static const bs_blas_api api = {BS_BLAS_ABI, sizeof api, m_sgemm, m_dgemm, m_sgemv, m_sdot,
                                    m_threads, m_corename};
    return &api;
}
