/* gpu/ops_red.cu: reductions (sum, mean, max along a dim or over everything), reshape, transpose
 * and matmul (cuBLAS) on the GPU, forward and VJP side by side. */
#include "gpu_int.h"

#include <limits.h>

/* ==== Reductions ==== */

/* the input viewed as (outer, R, inner) with R the reduced dim (everything for BS_DIM_ALL) */
static void red_dims(const bs_exec *e, int64_t *outer, int64_t *R, int64_t *inner)
{
    const bs_shape *s = &e->in_shape[0];
    if (e->attr.dim == BS_DIM_ALL || s->ndim == 0) {
        *outer = 1;
        *R = bs_shape_numel(s);
        *inner = 1;
    } else {
        gpu_split_dim(s, gpu_norm_dim(e->attr.dim, s->ndim), outer, R, inner);
    }
}

/* sum: o = sum_j a[.., j, ..];  mean: the same times 1/R;  max: the largest a[.., j, ..] */
template <class T> static bs_status red_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int kind)
{
    typedef typename tr<T>::A A;
    int64_t outer, R, inner;
    red_dims(e, &outer, &R, &inner);
    ld_elem<T> ld = {(const T *)in[0]};
    if (kind == 2) {
        st_write<T> st = {(T *)e->out, (A)1};
        return red_run<A, c_max<A>>(c, ld, st, outer, R, inner);
    }
    st_write<T> st = {(T *)e->out, kind == 1 ? (A)(1.0 / (double)R) : (A)1};
    return red_run<A, c_sum<A>>(c, ld, st, outer, R, inner);
}

/* sum: da[o, j, i] += g[o, i];  mean: da[o, j, i] += g[o, i] / R */
template <class T>
static bs_status red_vjp_t(gpu_ctx *c, const bs_exec *e, const void *g_, void *din_, bool mean)
{
    typedef typename tr<T>::A A;
    int64_t outer, R, inner;
    red_dims(e, &outer, &R, &inner);
    const T *g = (const T *)g_;
    T *din = (T *)din_;
    A scale = mean ? (A)(1.0 / (double)R) : (A)1;
    int64_t Ri = R * inner;
    launch_each(c, outer * Ri, [=] __device__(int64_t k) {
        int64_t o = k / Ri, i = k - (k / inner) * inner;
        din[k] = tr<T>::st(tr<T>::ld(din[k]) + tr<T>::ld(g[o * inner + i]) * scale);
    });
    return BS_OK;
}

template <class T> static __device__ __forceinline__ bool same_value(T x, T m)
{
    return x == m || (x != x && m != m);
}

template <class T> struct ld_ties { /* 1 where a equals the maximum m[0] */
    const T *a, *m;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        return same_value(tr<T>::ld(a[k]), tr<T>::ld(m[0])) ? 1 : 0;
    }
};

/* max(x, dim): da[o, j*, i] += g[o, i] at the first j* holding the max (the index torch returns);
 * max(x):      da += g * [a == max] / (count of a == max), spread evenly over ties as torch */
template <class T> static bs_status max_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_, void *din_)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)in[0], *o = (const T *)e->out, *g = (const T *)g_;
    T *din = (T *)din_;
    int64_t outer, R, inner;
    red_dims(e, &outer, &R, &inner);
    if (e->attr.dim != BS_DIM_ALL && e->in_shape[0].ndim > 0) {
        launch_each(c, outer * inner, [=] __device__(int64_t k) {
            int64_t ob = k / inner, i = k - ob * inner;
            A m = tr<T>::ld(o[k]);
            for (int64_t j = 0; j < R; j++) {
                int64_t idx = (ob * R + j) * inner + i;
                if (same_value(tr<T>::ld(a[idx]), m)) {
                    din[idx] = tr<T>::st(tr<T>::ld(din[idx]) + tr<T>::ld(g[k]));
                    break;
                }
            }
        });
        return BS_OK;
    }
    int64_t n = R;
    A *cnt = (A *)gpu_tmp_alloc(c, sizeof(A));
    if (!cnt)
        return BS_ERR_NOMEM;
    ld_ties<T> lt = {a, o};
    st_acc<A> sc = {cnt};
    bs_status s = red_all<A, c_sum<A>>(c, lt, sc, n);
    if (s == BS_OK)
        launch_each(c, n, [=] __device__(int64_t k) {
            A m = tr<T>::ld(o[0]);
            if (same_value(tr<T>::ld(a[k]), m))
                din[k] = tr<T>::st(tr<T>::ld(din[k]) + tr<T>::ld(g[0]) / cnt[0]);
        });
    gpu_tmp_free(c, cnt);
    return s;
}

bs_status gpu_fwd_sum(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, red_fwd_t<T_>(c, e, in, 0));
}
bs_status gpu_vjp_sum(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, red_vjp_t<T_>(c, e, g, din, false));
}
bs_status gpu_fwd_mean(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, red_fwd_t<T_>(c, e, in, 1));
}
bs_status gpu_vjp_mean(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, red_vjp_t<T_>(c, e, g, din, true));
}
bs_status gpu_fwd_max(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, red_fwd_t<T_>(c, e, in, 2));
}
bs_status gpu_vjp_max(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, max_vjp_t<T_>(c, e, in, g, din));
}

/* ==== Reshape ==== */

/* o = a with a new shape (a copy: same elements, same order);  da += reshape(g, a.shape) */
bs_status gpu_fwd_reshape(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    size_t bytes = (size_t)bs_shape_numel(&e->out_shape) * bs_dtype_size(e->dtype);
    if (bytes == 0 || e->out == in[0])
        return BS_OK;
    return gpu_cuda_status(c, cudaMemcpyAsync(e->out, in[0], bytes, cudaMemcpyDeviceToDevice, c->stream),
                           "reshape");
}

template <class T> static bs_status add_into_t(gpu_ctx *c, const void *src, void *dst, int64_t n)
{
    const T *x = (const T *)src;
    T *d = (T *)dst;
    launch_each(c, n, [=] __device__(int64_t k) { d[k] = tr<T>::st(tr<T>::ld(d[k]) + tr<T>::ld(x[k])); });
    return BS_OK;
}

bs_status gpu_vjp_reshape(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, add_into_t<T_>(c, g, din, bs_shape_numel(&e->in_shape[0])));
}

/* ==== Transpose ==== */

/* dst (shape: src's dims reversed) = or += src with its dims reversed */
template <class T, class I> static void reverse_dims_ti(gpu_ctx *c, const T *src, const bs_shape *ss, T *dst, bool acc)
{
    int nd = ss->ndim;
    int64_t stride[BS_MAX_DIMS], st = 1;
    for (int k = nd - 1; k >= 0; k--) {
        stride[k] = st;
        st *= ss->d[k];
    }
    bc_map m;
    m.nd = nd;
    for (int q = 0; q < nd; q++) {
        m.d[q] = ss->d[nd - 1 - q];
        m.s[0][q] = m.s[1][q] = stride[nd - 1 - q];
    }
    launch_each(c, st, [=] __device__(int64_t k) {
        int64_t is, unused;
        bc_offsets<I>(m, k, &is, &unused);
        dst[k] = acc ? tr<T>::st(tr<T>::ld(dst[k]) + tr<T>::ld(src[is])) : src[is];
    });
}

template <class T> static bs_status reverse_dims_t(gpu_ctx *c, const void *src, const bs_shape *ss, void *dst, bool acc)
{
    int64_t n = bs_shape_numel(ss);
    if (ss->ndim <= 1) { /* nothing moves */
        if (acc)
            return add_into_t<T>(c, src, dst, n);
        if (n > 0 && src != dst)
            return gpu_cuda_status(c, cudaMemcpyAsync(dst, src, (size_t)n * sizeof(T), cudaMemcpyDeviceToDevice, c->stream),
                                   "transpose");
        return BS_OK;
    }
    if (bc_small(n))
        reverse_dims_ti<T, uint32_t>(c, (const T *)src, ss, (T *)dst, acc);
    else
        reverse_dims_ti<T, int64_t>(c, (const T *)src, ss, (T *)dst, acc);
    return BS_OK;
}

/* o = a.T (dims reversed);  da += g.T */
bs_status gpu_fwd_transpose(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, reverse_dims_t<T_>(c, in[0], &e->in_shape[0], e->out, false));
}
bs_status gpu_vjp_transpose(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, reverse_dims_t<T_>(c, g, &e->out_shape, din, true));
}

/* ==== Matmul (cuBLAS) ====
 * torch.matmul: a 1-D a is a row (1, K), a 1-D b a column (K, 1), and the dims before the last two
 * are batch dims that broadcast; each batch is C (M, N) = A (M, K) @ B (K, N), row-major.
 * Row-major X (r, c) is column-major X^T (c, r) with leading dimension c, so each product is
 * computed as its transpose:  C = A B  is  C^T = B^T A^T.
 * Batches go to cuBLAS as one product when b is a single matrix (a's batches fold into its rows),
 * as a strided batch when no batch dim broadcasts (or a is a single matrix), and one by one
 * otherwise (a gradient slice shared by several batches then accumulates in stream order). */

struct mm_plan {
    int64_t M, K, N;
    int64_t na, nb, nbatch; /* batches of a, of b, of the result */
    bc_map bm;              /* result batch -> a's batch (s[0]) and b's batch (s[1]) */
};

static void mm_plan_of(const bs_exec *e, mm_plan *p)
{
    const bs_shape *A = &e->in_shape[0], *B = &e->in_shape[1];
    int na = A->ndim, nb = B->ndim;
    bs_shape ab, bb, batch;
    p->M = na >= 2 ? A->d[na - 2] : 1;
    p->K = na >= 1 ? A->d[na - 1] : 1;
    p->N = nb >= 2 ? B->d[nb - 1] : 1;
    ab.ndim = na > 2 ? na - 2 : 0;
    bb.ndim = nb > 2 ? nb - 2 : 0;
    for (int k = 0; k < ab.ndim; k++)
        ab.d[k] = A->d[k];
    for (int k = 0; k < bb.ndim; k++)
        bb.d[k] = B->d[k];
    if (!bs_shape_broadcast(&ab, &bb, &batch))
        batch = ab;
    p->na = bs_shape_numel(&ab);
    p->nb = bs_shape_numel(&bb);
    p->nbatch = bs_shape_numel(&batch);
    p->bm = bc_make(&batch, &ab, &bb);
}

static const void *elem_at(const void *p, int64_t k, bs_dtype dt) { return (const char *)p + k * (int64_t)bs_dtype_size(dt); }
static void *elem_at(void *p, int64_t k, bs_dtype dt) { return (char *)p + k * (int64_t)bs_dtype_size(dt); }

/* column-major C (m, n) = op(A) op(B) + beta*C, for `count` matrices sA, sB, sC elements apart */
static bs_status gemm(gpu_ctx *c, bs_dtype dt, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                      int64_t k, const void *A, int64_t lda, int64_t sA, const void *B, int64_t ldb, int64_t sB,
                      double beta, void *C, int64_t ldc, int64_t sC, int64_t count)
{
    if (m == 0 || n == 0 || count == 0)
        return BS_OK;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX ||
        count > INT_MAX) {
        snprintf(c->msg, sizeof c->msg, "matmul: a dimension above 2^31 - 1");
        return BS_ERR_UNSUPPORTED;
    }
    if (k == 0) { /* empty sums: C = beta*C (C is contiguous here) */
        if (beta != 0)
            return BS_OK;
        return gpu_cuda_status(c, cudaMemsetAsync(C, 0, (size_t)(m * n * count) * bs_dtype_size(dt), c->stream),
                               "matmul");
    }
    float af = 1.0f, bf = (float)beta;
    double ad = 1.0, bd = beta;
    const void *alpha = &af, *betap = &bf;
    cudaDataType_t ty;
    cublasComputeType_t ct;
    switch (dt) {
    case BS_F32: ty = CUDA_R_32F; ct = CUBLAS_COMPUTE_32F; break;
    case BS_BF16: ty = CUDA_R_16BF; ct = CUBLAS_COMPUTE_32F; break;
    case BS_F64: ty = CUDA_R_64F; ct = CUBLAS_COMPUTE_64F; alpha = &ad; betap = &bd; break;
    default: return BS_ERR_UNSUPPORTED;
    }
    cublasStatus_t st;
    if (count == 1)
        st = cublasGemmEx(c->blas, ta, tb, (int)m, (int)n, (int)k, alpha, A, ty, (int)lda, B, ty, (int)ldb, betap, C,
                          ty, (int)ldc, ct, CUBLAS_GEMM_DEFAULT);
    else
        st = cublasGemmStridedBatchedEx(c->blas, ta, tb, (int)m, (int)n, (int)k, alpha, A, ty, (int)lda, sA, B, ty,
                                        (int)ldb, sB, betap, C, ty, (int)ldc, sC, (int)count, ct, CUBLAS_GEMM_DEFAULT);
    return gpu_blas_status(c, st, "matmul (cuBLAS)");
}

/* row-major C (M, N) = op(A) (M, K) op(B) (K, N) + beta C, where A and B are stored row-major with
   rows of lda and ldb elements and read transposed when ta / tb: column-major cuBLAS computes
   C^T = op(B)^T op(A)^T with the operands swapped */
static bs_status rm_gemm(gpu_ctx *c, bs_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, bool ta,
                         int64_t lda, const void *B, bool tb, int64_t ldb, double beta, void *C)
{
    return gemm(c, dt, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, B, ldb, 0, A,
                lda, 0, beta, C, N, 0, 1);
}

static void mat_t_dims(const bs_exec *e, int64_t *M, int64_t *K, int64_t *N)
{
    const bs_shape *a = &e->in_shape[0];
    int64_t rows = 1;
    for (int k = 0; k + 1 < a->ndim; k++)
        rows *= a->d[k];
    *M = rows;
    *K = a->d[a->ndim - 1];
    *N = e->in_shape[1].d[1];
}

bs_status gpu_matmul_t_fwd(gpu_ctx *c, const bs_exec *e, bool ta, bool tb, const void *a, const void *b)
{
    int64_t M, K, N;
    mat_t_dims(e, &M, &K, &N);
    return rm_gemm(c, e->dtype, M, N, K, a, ta, ta ? M : K, b, tb, tb ? K : N, 0.0, e->out);
}

bs_status gpu_matmul_t_vjp(gpu_ctx *c, const bs_exec *e, bool ta, bool tb, const void *a, const void *b,
                           int which, const void *g, void *d)
{
    int64_t M, K, N;
    mat_t_dims(e, &M, &K, &N);
    if (M == 0 || N == 0 || K == 0)
        return BS_OK;
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    bs_dtype dt = e->dtype;
    if (which == 0 && !ta) /* dA (M, K) += G (M, N) op(B)^T (N, K) */
        return rm_gemm(c, dt, M, K, N, g, false, N, b, !tb, ldb, 1.0, d);
    if (which == 0) /* dA^T (K, M) += op(B) (K, N) G^T (N, M) */
        return rm_gemm(c, dt, K, M, N, b, tb, ldb, g, true, N, 1.0, d);
    if (!tb) /* dB (K, N) += op(A)^T (K, M) G (M, N) */
        return rm_gemm(c, dt, K, N, M, a, !ta, lda, g, false, N, 1.0, d);
    /* dB^T (N, K) += G^T (N, M) op(A) (M, K) */
    return rm_gemm(c, dt, N, K, M, g, true, N, a, ta, lda, 1.0, d);
}

/* host copy of bc_offsets: result batch b -> a's and b's batch */
static void mm_batch(const mm_plan *p, int64_t b, int64_t *ia, int64_t *ib)
{
    int64_t r = b, x = 0, y = 0;
    for (int k = p->bm.nd - 1; k > 0; k--) {
        int64_t q = r / p->bm.d[k], cq = r - q * p->bm.d[k];
        x += cq * p->bm.s[0][k];
        y += cq * p->bm.s[1][k];
        r = q;
    }
    *ia = x + r * p->bm.s[0][0];
    *ib = y + r * p->bm.s[1][0];
}

/* C (M, N) = A (M, K) @ B (K, N) per batch:  C^T = B^T A^T */
bs_status gpu_fwd_matmul(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    mm_plan p;
    mm_plan_of(e, &p);
    int64_t M = p.M, K = p.K, N = p.N;
    bs_dtype dt = e->dtype;
    if (p.nb == 1)
        return gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_N, N, p.na * M, K, in[1], N, 0, in[0], K, 0, 0.0, e->out, N, 0, 1);
    if (p.nb == p.nbatch && (p.na == p.nbatch || p.na == 1))
        return gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, in[1], N, K * N, in[0], K, p.na == 1 ? 0 : M * K, 0.0,
                    e->out, N, M * N, p.nbatch);
    for (int64_t b = 0; b < p.nbatch; b++) {
        int64_t ia, ib;
        mm_batch(&p, b, &ia, &ib);
        bs_status s = gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, elem_at(in[1], ib * K * N, dt), N, 0,
                           elem_at(in[0], ia * M * K, dt), K, 0, 0.0, elem_at(e->out, b * M * N, dt), N, 0, 1);
        if (s != BS_OK)
            return s;
    }
    return BS_OK;
}

/* dA (M, K) += G (M, N) @ B^T:  dA^T = B G^T, B^T (N, K) being the column-major view of B;
 * dB (K, N) += A^T @ G:          dB^T = G^T A,  A^T (K, M) being the column-major view of A;
 * summed over the batches that share a slice of dA or dB */
bs_status gpu_vjp_matmul(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    mm_plan p;
    mm_plan_of(e, &p);
    int64_t M = p.M, K = p.K, N = p.N;
    bs_dtype dt = e->dtype;
    bool same = p.na == p.nbatch && p.nb == p.nbatch;
    if (i == 0) {
        if (p.nb == 1) /* a's batches are rows of one product */
            return gemm(c, dt, CUBLAS_OP_T, CUBLAS_OP_N, K, p.na * M, N, in[1], N, 0, g, N, 0, 1.0, din, K, 0, 1);
        if (same)
            return gemm(c, dt, CUBLAS_OP_T, CUBLAS_OP_N, K, M, N, in[1], N, K * N, g, N, M * N, 1.0, din, K, M * K,
                        p.nbatch);
    } else {
        if (p.nb == 1) /* dB = sum over a's batches: one product over the folded rows */
            return gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_T, N, K, p.na * M, g, N, 0, in[0], K, 0, 1.0, din, N, 0, 1);
        if (same || (p.na == 1 && p.nb == p.nbatch))
            return gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_T, N, K, M, g, N, M * N, in[0], K, p.na == 1 ? 0 : M * K, 1.0,
                        din, N, K * N, p.nbatch);
    }
    for (int64_t b = 0; b < p.nbatch; b++) {
        int64_t ia, ib;
        bs_status s;
        mm_batch(&p, b, &ia, &ib);
        const void *gb = elem_at(g, b * M * N, dt);
        if (i == 0)
            s = gemm(c, dt, CUBLAS_OP_T, CUBLAS_OP_N, K, M, N, elem_at(in[1], ib * K * N, dt), N, 0, gb, N, 0, 1.0,
                     elem_at(din, ia * M * K, dt), K, 0, 1);
        else
            s = gemm(c, dt, CUBLAS_OP_N, CUBLAS_OP_T, N, K, M, gb, N, 0, elem_at(in[0], ia * M * K, dt), K, 0, 1.0,
                     elem_at(din, ib * K * N, dt), N, 0, 1);
        if (s != BS_OK)
            return s;
    }
    return BS_OK;
}
