/* core/blas.h: the BLAS calls core makes (row-major matrices, unit vector strides). They go to
 * OpenBLAS, which lives in a module (libbsblas.so, core/blas_mod.c) loaded by the first call, so
 * that a start maps neither OpenBLAS nor its Fortran runtime and starts no BLAS threads. Where the
 * module cannot be loaded, plain loops compute the same products (bs_blas_info says so). */
#ifndef BS_BLAS_H
#define BS_BLAS_H

#include <stdbool.h>

#define BS_BLAS_ABI 1

/* C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C; op transposes where ta / tb.
   beta == 0: C is written, never read. */
void bs_blas_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
void bs_blas_dgemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda,
                   const double *B, int ldb, double beta, double *C, int ldc);
/* y = alpha * op(A) @ x + beta * y, A (m, n) with row stride lda */
void bs_blas_sgemv(bool trans, int m, int n, float alpha, const float *A, int lda, const float *x,
                   float beta, float *y);
float bs_blas_sdot(int n, const float *x, const float *y);
/* OpenBLAS's thread count and core name ("Haswell"); 0 threads and the reason it could not be
   loaded otherwise */
int bs_blas_threads(void);
const char *bs_blas_corename(void);

/* the module's table (core/blas_mod.c fills it with OpenBLAS's functions) */
typedef struct {
    unsigned abi, size;
    void (*sgemm)(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
    void (*dgemm)(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, int lda,
                  const double *B, int ldb, double beta, double *C, int ldc);
    void (*sgemv)(bool trans, int m, int n, float alpha, const float *A, int lda, const float *x,
                  float beta, float *y);
    float (*sdot)(int n, const float *x, const float *y);
    int (*threads)(void);
    const char *(*corename)(void);
} bs_blas_api;

#endif
