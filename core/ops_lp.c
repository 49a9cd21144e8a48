/* core/ops_lp.c: the float path's kernels that are not elementwise: sums, matrix products, and
 * the row ops, in the order torch 1.13's CPU kernels compute them, so that an f32 program prints
 * what torch prints for it (and f16/bf16 ones what torch prints, each result rounded).
 *
 * Values stay doubles in the tape; these functions read and write floats. What each emulates is
 * said above it, with how close it comes (tests/dtype has the fixtures that show it). */
#include "ops_int.h"
#include "blas.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Sums: torch's cascade_sum (aten/src/ATen/native/cpu/SumKernel.cpp) ====
 * A reduction's TensorIterator sees the dims fastest first, moves the reduced ones to the front,
 * sorts the rest by stride and coalesces what it can; the kernel then gets 2-D pieces (size0,
 * size1) and picks one of four loops by the strides:
 *   the reduced dim contiguous and >= one vector: vectorized_inner_sum (8 float lanes, each a
 *       row_sum; the tail, then the lanes, added to a scalar in order);
 *   the kept dim contiguous and >= 8: vectorized_outer_sum (8 columns at a time);
 *   otherwise scalar_inner_sum / scalar_outer_sum.
 * row_sum splits a row four ways (ilp) and multi_row_sum adds in levels of >= 16 terms, so only
 * numbers of similar size meet. The accumulator is float for float, half and bfloat16 (acc_type on
 * the "cuda" flavour, as the kernel asks for), and a result is added into the zeroed output with
 * the output's dtype (one rounding for f16/bf16). Matched against torch 1.13 on every shape of
 * tests/dtype's generator: exact. One thread only: torch splits sums of more than 32768 elements
 * across threads, which changes the order (the fixtures run torch on one). */

#define LP_LANES 8 /* Vectorized<float>::size() on AVX2 */

typedef struct {
    int64_t size, sin, sout; /* a dim: its size, input and output strides (elements) */
} lp_dim;

static int ceil_log2(int64_t x)
{
    int r = 0;
    while (((int64_t)1 << r) < x) r++;
    return r;
}

/* lane-wise float vectors (LP_LANES wide) or scalars (width 1) */
typedef struct {
    float v[LP_LANES];
} lp_vec;

/* the value row i, column k of a multi-row sum reads: `w` lanes starting at base + i*rs + k*cs
 * (w == 1: a scalar in v[0]) */
typedef struct {
    const float *x;
    int64_t base, rs, cs; /* element strides: row, column (the column is k, 0 .. nrows-1) */
    int w;                /* lanes per load: 1 or LP_LANES */
    int kind;             /* 0: plain load; 1: inner bf16 (x[i] + x[i+8]); 2: inner half pairs */
    int64_t lane_stride;  /* between lanes of a vector load (1: contiguous) */
} lp_load;

static lp_vec lp_ld(const lp_load *L, int64_t i, int64_t k)
{
    lp_vec r;
    const float *p = L->x + L->base + i * L->rs + k * L->cs;
    if (L->w == 1) {
        r.v[0] = p[0];
        return r;
    }
    for (int l = 0; l < LP_LANES; l++) {
        if (L->kind == 1) /* Vectorized<BFloat16> (16) loaded as two float vectors, added */
            r.v[l] = p[l] + p[l + LP_LANES];
        else if (L->kind == 2) /* load_reduce_vec: lane l sums elements 2l, 2l+1 from 0 */
            r.v[l] = (0.0f + p[2 * l]) + p[2 * l + 1];
        else
            r.v[l] = p[l * L->lane_stride];
    }
    return r;
}

static void lp_add(lp_vec *a, const lp_vec *b, int w)
{
    for (int l = 0; l < w; l++) a->v[l] += b->v[l];
}

/* multi_row_sum: nrows (<= 4) columns summed over `size` rows in cascade levels */
static void multi_row_sum(const lp_load *L, int nrows, int64_t size, lp_vec *out)
{
    enum { LEVELS = 4 };
    int w = L->w;
    int64_t level_power = ceil_log2(size) / LEVELS;
    if (level_power < 4) level_power = 4;
    int64_t level_step = (int64_t)1 << level_power, level_mask = level_step - 1;
    lp_vec acc[LEVELS][4];
    memset(acc, 0, sizeof acc);
    int64_t i = 0;
    for (; i + level_step <= size;) {
        for (int64_t j = 0; j < level_step; j++, i++)
            for (int k = 0; k < nrows; k++) {
                lp_vec v = lp_ld(L, i, k);
                lp_add(&acc[0][k], &v, w);
            }
        for (int j = 1; j < LEVELS; j++) {
            for (int k = 0; k < nrows; k++) {
                lp_add(&acc[j][k], &acc[j - 1][k], w);
                memset(&acc[j - 1][k], 0, sizeof(lp_vec));
            }
            if ((i & (level_mask << (j * level_power))) != 0) break;
        }
    }
    for (; i < size; i++)
        for (int k = 0; k < nrows; k++) {
            lp_vec v = lp_ld(L, i, k);
            lp_add(&acc[0][k], &v, w);
        }
    for (int j = 1; j < LEVELS; j++)
        for (int k = 0; k < nrows; k++) lp_add(&acc[0][k], &acc[j][k], w);
    for (int k = 0; k < nrows; k++) out[k] = acc[0][k];
}

/* row_sum: a row of `size` loads (stride `stride` between loads) as (-1, 4), its four partial sums
 * in cascade, the rest onto the first, then the four added in order */
static lp_vec row_sum(const lp_load *L0, int64_t stride, int64_t size)
{
    lp_load L = *L0;
    int64_t n4 = size / 4;
    L.rs = stride * 4;
    L.cs = stride;
    lp_vec ps[4];
    multi_row_sum(&L, 4, n4, ps);
    lp_load T = *L0; /* the rest, one load at a time */
    T.rs = stride;
    T.cs = 0;
    for (int64_t i = n4 * 4; i < size; i++) {
        lp_vec v = lp_ld(&T, i, 0);
        lp_add(&ps[0], &v, L0->w);
    }
    for (int k = 1; k < 4; k++) lp_add(&ps[0], &ps[k], L0->w);
    return ps[0];
}

/* *out (the output, in dt) += v: the kernel's CastStoreAccumulate, whose `*ptr += value` on a
 * c10::BFloat16 (Half) converts the float first: two roundings. Two reduced dims that do not
 * coalesce add two pieces this way (torch 1.13 has no float buffer for it yet, pytorch#83149). */
static void lp_store(bs_dtype dt, float *out, float v)
{
    *out = bs_dtype_roundf(dt, *out + bs_dtype_roundf(dt, v));
}

/* one 2-D piece: size0 x size1 with input strides is[2], output strides os[2] */
static void cascade_loop2d(bs_dtype dt, const float *x, int64_t ib, float *y, int64_t ob,
                           int64_t is0, int64_t is1, int64_t os0, int64_t os1, int64_t size0,
                           int64_t size1)
{
    if (os0 != 0 && os1 == 0) { /* move the reduction to be the first dim */
        int64_t t;
        t = is0; is0 = is1; is1 = t;
        t = os0; os0 = os1; os1 = t;
        t = size0; size0 = size1; size1 = t;
    }
    bool half = dt == BS_F16 || dt == BS_BF16;
    int64_t vec_numel = half ? 2 * LP_LANES : LP_LANES; /* Vectorized<scalar_t>::size() */
    if (is0 == 1 && size0 >= vec_numel) {
        /* vectorized_inner_sum */
        int64_t nvec = size0 / vec_numel;
        for (int64_t j = 0; j < size1; j++) {
            int64_t row = ib + j * is1;
            lp_load L = {x, row, 0, 0, LP_LANES, dt == BS_BF16 ? 1 : dt == BS_F16 ? 2 : 0, 1};
            lp_vec acc = row_sum(&L, vec_numel, nvec);
            float fin = 0.0f;
            for (int64_t k = nvec * vec_numel; k < size0; k++) fin += x[row + k];
            for (int l = 0; l < LP_LANES; l++) fin += acc.v[l];
            lp_store(dt, &y[ob + j * os1], fin);
        }
    } else if (is1 == 1 && size1 >= LP_LANES) {
        /* vectorized_outer_sum: columns j .. j+31 four vectors at a time, then 8, then one */
        int64_t j = 0;
        for (; j + 4 * LP_LANES <= size1; j += 4 * LP_LANES) {
            lp_load L = {x, ib + j, is0, LP_LANES, LP_LANES, 0, 1};
            lp_vec sums[4];
            multi_row_sum(&L, 4, size0, sums);
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < LP_LANES; l++)
                    lp_store(dt, &y[ob + (j + k * LP_LANES + l) * os1], sums[k].v[l]);
        }
        for (; j + LP_LANES <= size1; j += LP_LANES) {
            lp_load L = {x, ib + j, 0, 0, LP_LANES, 0, 1};
            lp_vec s = row_sum(&L, is0, size0);
            for (int l = 0; l < LP_LANES; l++) lp_store(dt, &y[ob + (j + l) * os1], s.v[l]);
        }
        for (; j < size1; j++) {
            lp_load L = {x, ib + j, 0, 0, 1, 0, 1};
            lp_vec s = row_sum(&L, is0, size0);
            lp_store(dt, &y[ob + j * os1], s.v[0]);
        }
    } else if (is0 < is1) {
        /* scalar_inner_sum */
        for (int64_t j = 0; j < size1; j++) {
            lp_load L = {x, ib + j * is1, 0, 0, 1, 0, 1};
            lp_vec s = row_sum(&L, is0, size0);
            lp_store(dt, &y[ob + j * os1], s.v[0]);
        }
    } else {
        /* scalar_outer_sum: four columns at a time, then one */
        int64_t j = 0;
        for (; j + 3 < size1; j += 4) {
            lp_load L = {x, ib + j * is1, is0, is1, 1, 0, 1};
            lp_vec sums[4];
            multi_row_sum(&L, 4, size0, sums);
            for (int k = 0; k < 4; k++) lp_store(dt, &y[ob + (j + k) * os1], sums[k].v[0]);
        }
        for (; j < size1; j++) {
            lp_load L = {x, ib + j * is1, 0, 0, 1, 0, 1};
            lp_vec s = row_sum(&L, is0, size0);
            lp_store(dt, &y[ob + j * os1], s.v[0]);
        }
    }
}

/* TensorIterator's reorder_dimensions for a reduction: the output's zero strides (reduced dims)
 * first, then by stride, output before input; 0: keep, 1: swap */
static int should_swap(const lp_dim *a, const lp_dim *b)
{
    if ((a->sout == 0) != (b->sout == 0)) return b->sout == 0 ? 1 : -1;
    if (a->sout != 0 && b->sout != 0) {
        if (a->sout < b->sout) return -1;
        if (a->sout > b->sout) return 1;
    }
    if (a->sin == 0 || b->sin == 0) return 0;
    if (a->sin < b->sin) return -1;
    if (a->sin > b->sin) return 1;
    return 0;
}

void ops_lp_sum(bs_dtype dt, const float *x, const bs_shape *s, unsigned mask, float *y)
{
    int nd = s->ndim;
    int64_t ist[BS_MAX_DIMS], ost[BS_MAX_DIMS], osz[BS_MAX_DIMS], on = 1;
    for (int d = nd - 1, st = 1; d >= 0; d--) {
        ist[d] = st;
        st *= (int)s->d[d];
    }
    for (int d = 0; d < nd; d++) osz[d] = (mask >> d & 1) ? 1 : s->d[d];
    for (int d = nd - 1; d >= 0; d--) {
        ost[d] = (mask >> d & 1) ? 0 : on;
        on *= osz[d];
    }
    for (int64_t j = 0; j < on; j++) y[j] = 0.0f;
    if (bs_shape_numel(s) == 0) return;
    bool reduces = false;
    for (int d = 0; d < nd; d++) reduces |= (mask >> d & 1) && s->d[d] != 1;
    if (!reduces) { /* nothing to add up: a copy */
        for (int64_t j = 0; j < on; j++) y[j] = bs_dtype_roundf(dt, x[j]);
        return;
    }
    /* the iterator's dims, fastest first, size-1 dims dropped */
    lp_dim dims[BS_MAX_DIMS];
    int n = 0;
    for (int d = nd - 1; d >= 0; d--)
        if (s->d[d] != 1) dims[n++] = (lp_dim){s->d[d], ist[d], ost[d]};
    /* reorder (torch's insertion sort) */
    for (int i = 1; i < n; i++)
        for (int d1 = i, d0 = i - 1; d0 >= 0; d0--) {
            int c = should_swap(&dims[d0], &dims[d1]);
            if (c > 0) {
                lp_dim t = dims[d0];
                dims[d0] = dims[d1];
                dims[d1] = t;
                d1 = d0;
            } else if (c < 0) {
                break;
            }
        }
    /* coalesce */
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && dims[i].sin == dims[m - 1].sin * dims[m - 1].size &&
            dims[i].sout == dims[m - 1].sout * dims[m - 1].size) {
            dims[m - 1].size *= dims[i].size;
            continue;
        }
        dims[m++] = dims[i];
    }
    while (m < 2) dims[m++] = (lp_dim){1, 0, 0};
    /* the outer dims, the first fastest, each piece added into the output in turn */
    int64_t idx[BS_MAX_DIMS] = {0};
    for (;;) {
        int64_t ib = 0, ob = 0;
        for (int d = 2; d < m; d++) {
            ib += idx[d] * dims[d].sin;
            ob += idx[d] * dims[d].sout;
        }
        cascade_loop2d(dt, x, ib, y, ob, dims[0].sin, dims[1].sin, dims[0].sout, dims[1].sout,
                       dims[0].size, dims[1].size);
        int d = 2;
        for (; d < m; d++) {
            if (++idx[d] < dims[d].size) break;
            idx[d] = 0;
        }
        if (d >= m) break;
    }
}

void ops_lp_sum_to(bs_dtype dt, const float *x, const bs_shape *s, const bs_shape *to, float *y)
{
    unsigned mask = 0;
    int lead = s->ndim - to->ndim;
    for (int d = 0; d < s->ndim; d++)
        if (d < lead || (to->d[d - lead] == 1 && s->d[d] != 1)) mask |= 1u << d;
    ops_lp_sum(dt, x, s, mask, y);
}

/* ==== Matrix products ====
 * torch.matmul on the CPU picks a kernel by the operands' dims (dot, mv, mm; a batch of matrices:
 * bmm or a folded mm) and hands mm to a column-major gemm, so C = A @ B is C^T = B^T A^T there;
 * whether an operand is a transposed view (the VJPs' B.T, A.T) picks gemm's variant.
 *   f32: OpenBLAS, called as torch calls it (sgemm, sgemv, sdot): exact, on the same machine
 *        (OpenBLAS picks its kernels by CPU).
 *   bf16, on a CPU without AVX-512 (oneDNN's bf16 matmul needs it): torch 1.13's own loops in
 *        BlasKernel.cpp. gemm_notrans_ and gemm_transb_ (the forward, dB = A.T @ G) and gemv and
 *        dot multiply in bfloat16 and add into a bfloat16 result, a rounding per product and
 *        per sum (torch 1.13 accumulates in low precision there); gemm_transa_ (dA = G @ B.T)
 *        adds float products four ways in float and rounds once. Exact against torch 1.13.
 *   f16: torch 1.13 has no Half matmul on the CPU ("addmm_impl_cpu_" not implemented for
 *        'Half'); the contract's rule, computed in f32 (OpenBLAS) and rounded once.
 * A batch (a 3-D or 4-D operand): f32 and f16 as the 2-D product per batch; bf16 sums float
 * products in order and rounds once (torch's small-bmm loop); not matched against torch. */

/* element (i, j) of a row-major matrix, or of the transpose of one (t) with `cols` columns */
#define LP_AT(p, t, i, j, cols) ((t) ? (p)[(int64_t)(j) * (cols) + (i)] : (p)[(int64_t)(i) * (cols) + (j)])

typedef enum { LP_MM_PROD, LP_MM_DOT4, LP_MM_SEQ } lp_mm_kind;

/* C (m, n) = op(A) @ op(B) in float with one of torch's bf16 loops; op(A) is (m, k): A is (m, k),
 * or (k, m) when ta; op(B) (k, n): B (k, n), or (n, k) when tb */
static void lp_mm_loop(bs_dtype dt, lp_mm_kind kind, bool ta, bool tb, int64_t m, int64_t n,
                       int64_t k, const float *A, const float *B, float *C)
{
    int64_t acols = ta ? m : k, bcols = tb ? k : n;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float c = 0.0f;
            if (kind == LP_MM_PROD) {
                for (int64_t l = 0; l < k; l++) {
                    float p = bs_dtype_roundf(dt, LP_AT(A, ta, i, l, acols) * LP_AT(B, tb, l, j, bcols));
                    c = bs_dtype_roundf(dt, c + p);
                }
            } else if (kind == LP_MM_DOT4) { /* BlasKernel.cpp's sum(): four partial sums */
                float ps[4] = {0, 0, 0, 0};
                int64_t l = 0;
                for (; l + 4 <= k; l += 4)
                    for (int q = 0; q < 4; q++)
                        ps[q] += LP_AT(A, ta, i, l + q, acols) * LP_AT(B, tb, l + q, j, bcols);
                for (; l < k; l++) ps[0] += LP_AT(A, ta, i, l, acols) * LP_AT(B, tb, l, j, bcols);
                c = bs_dtype_roundf(dt, ((ps[0] + ps[1]) + ps[2]) + ps[3]);
            } else {
                for (int64_t l = 0; l < k; l++) c += LP_AT(A, ta, i, l, acols) * LP_AT(B, tb, l, j, bcols);
                c = bs_dtype_roundf(dt, c);
            }
            C[i * n + j] = c;
        }
}

/* C (m, n) = op(A) @ op(B) as torch's mm computes it in dt; `role` 1: torch's gemm takes dot
 * products (gemm_transa_: the second operand a transposed view, the first not), else it adds
 * products into C (gemm_notrans_, _transb_, _transab_) */
static void lp_mm(bs_dtype dt, int role, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                  const float *A, const float *B, float *C)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        memset(C, 0, sizeof(float) * (size_t)(m * n));
        return;
    }
    if (dt == BS_BF16) {
        lp_mm_loop(dt, role == 1 ? LP_MM_DOT4 : LP_MM_PROD, ta, tb, m, n, k, A, B, C);
        return;
    }
    int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
    bs_blas_sgemm(ta, tb, (int)m, (int)n, (int)k, 1.0f, A, lda, B, ldb, 0.0f, C, (int)n);
    if (dt == BS_F16)
        for (int64_t j = 0; j < m * n; j++) C[j] = bs_dtype_roundf(dt, C[j]);
}

/* y (m) = A (m, k) @ x (k) as torch's mv; trans: y (k) = A.T @ x (m) (mv's VJP for the vector) */
static void lp_mv(bs_dtype dt, bool trans, int64_t m, int64_t k, const float *A, const float *x,
                  float *y)
{
    int64_t ny = trans ? k : m, nx = trans ? m : k;
    if (ny == 0) return;
    if (dt == BS_BF16 || nx == 0) {
        for (int64_t i = 0; i < ny; i++) {
            float c = 0.0f;
            for (int64_t l = 0; l < nx; l++) {
                float a = trans ? A[l * k + i] : A[i * k + l];
                c = bs_dtype_roundf(dt, c + bs_dtype_roundf(dt, a * x[l]));
            }
            y[i] = c;
        }
        return;
    }
    bs_blas_sgemv(trans, (int)m, (int)k, 1.0f, A, (int)k, x, 0.0f, y);
    if (dt == BS_F16)
        for (int64_t j = 0; j < ny; j++) y[j] = bs_dtype_roundf(dt, y[j]);
}

static float lp_dot(bs_dtype dt, int64_t k, const float *x, const float *y)
{
    if (dt == BS_BF16 || k == 0) {
        float c = 0.0f;
        for (int64_t l = 0; l < k; l++) c = bs_dtype_roundf(dt, c + bs_dtype_roundf(dt, x[l] * y[l]));
        return c;
    }
    return bs_dtype_roundf(dt, bs_blas_sdot((int)k, x, y));
}

static float *lp_floats(bs_dtype dt, const double *v, int64_t n, float *dst)
{
    for (int64_t j = 0; j < n; j++) dst[j] = ops_in(dt, v[j]);
    return dst;
}

/* the batch offsets of a and b for output batch bi (broadcast batch dims), in elements */
static void lp_batch_off(const bs_shape *a, const bs_shape *b, const bs_shape *out, int64_t bi,
                         int64_t *oa, int64_t *ob)
{
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0;
    int no = out->ndim - (a->ndim >= 2) - (b->ndim >= 2);
    int64_t ma = a->ndim >= 2 ? a->d[a->ndim - 2] * a->d[a->ndim - 1] : a->d[0];
    int64_t mb = b->ndim >= 2 ? b->d[b->ndim - 2] * b->d[b->ndim - 1] : b->d[0];
    int64_t ia = 0, ib = 0, sa = 1, sb = 1, r = bi;
    for (int d = no - 1; d >= 0; d--) {
        int64_t idx = r % out->d[d];
        r /= out->d[d];
        int da = d - (no - na), db = d - (no - nb);
        if (da >= 0) {
            if (a->d[da] != 1) ia += idx * sa;
            sa *= a->d[da];
        }
        if (db >= 0) {
            if (b->d[db] != 1) ib += idx * sb;
            sb *= b->d[db];
        }
    }
    *oa = ia * ma;
    *ob = ib * mb;
}

bool ops_lp_matmul(const bs_tensor *in, const bs_attr *at, const bs_tensor *g, int which,
                   bs_tensor *res)
{
    /* whether b is a transposed view torch hands gemm (a 2-D W.T: BS_MM_VIEW_B in at->start) */
    int64_t views = at ? at->start : 0;
    bool vb = views & BS_MM_VIEW_B;
    bs_dtype dt = g ? g->dtype : res->dtype;
    bs_shape fa = in[0].shape, fb = in[1].shape;
    int na = fa.ndim, nb = fb.ndim;
    int64_t M = na >= 2 ? fa.d[na - 2] : 1, K = fa.d[na - 1], N = nb >= 2 ? fb.d[nb - 1] : 1;
    int64_t la = bs_tensor_numel(&in[0]), lb = bs_tensor_numel(&in[1]);
    if (na >= 3 && nb <= 2) { /* torch folds the batch into the rows: one mv or mm */
        M = K ? la / K : 0;
        fa = (bs_shape){2, {M, K}};
        na = 2;
    }
    const bs_shape *sa = &fa, *sb = &fb;
    int64_t lo = g ? bs_tensor_numel(g) : bs_tensor_numel(res);
    float *A = malloc(sizeof(float) * (size_t)(la + lb + 2 * lo + M * N + M * K + K * N + 3));
    if (!A) return false;
    float *B = A + la, *G = B + lb, *T = G + lo;
    lp_floats(dt, in[0].data, la, A);
    lp_floats(dt, in[1].data, lb, B);
    if (g) lp_floats(dt, g->data, lo, G);
    float *R = T + lo; /* one result block */
    if (na == 1 && nb == 1) { /* dot */
        if (!g) res->data[0] = lp_dot(dt, K, A, B);
        else /* grad * other, grad * self */
            for (int64_t l = 0; l < K; l++)
                res->data[l] += bs_dtype_roundf(dt, G[0] * (which == 0 ? B[l] : A[l]));
        free(A);
        return true;
    }
    if (na == 2 && nb == 1) { /* mv */
        if (!g) {
            lp_mv(dt, false, M, K, A, B, R);
            for (int64_t j = 0; j < M; j++) res->data[j] = R[j];
        } else if (which == 0) { /* grad.ger(vec) */
            for (int64_t i = 0; i < M; i++)
                for (int64_t l = 0; l < K; l++)
                    res->data[i * K + l] += bs_dtype_roundf(dt, G[i] * B[l]);
        } else { /* self.t().mv(grad) */
            lp_mv(dt, true, M, K, A, G, R);
            for (int64_t l = 0; l < K; l++) res->data[l] += R[l];
        }
        free(A);
        return true;
    }
    /* mm per batch (a 1-D a is a (1, K) row, a 1-D b a (K, 1) column) */
    bs_shape os = g ? g->shape : res->shape;
    int no = os.ndim - (in[0].shape.ndim >= 2) - (nb >= 2);
    if (in[0].shape.ndim >= 3 && nb <= 2) no = 0; /* folded */
    int64_t nbatch = 1;
    for (int d = 0; d < no; d++) nbatch *= os.d[d];
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t oa, ob;
        lp_batch_off(sa, sb, &os, bi, &oa, &ob);
        const float *Ab = A + oa, *Bb = B + ob;
        bool batched = na > 2 || nb > 2;
        if (!g) {
            if (batched && dt == BS_BF16)
                lp_mm_loop(dt, LP_MM_SEQ, false, false, M, N, K, Ab, Bb, R);
            else /* gemm_transa_ (b a view, a not) takes dot products */
                lp_mm(dt, vb && !(views & BS_MM_VIEW_A) ? 1 : 0, false, false, M, N, K, Ab, Bb, R);
            for (int64_t j = 0; j < M * N; j++) res->data[bi * M * N + j] = R[j];
        } else if (which == 0) { /* dA = G @ B.T */
            const float *Gb = G + bi * M * N;
            if (batched && dt == BS_BF16)
                lp_mm_loop(dt, LP_MM_SEQ, false, true, M, K, N, Gb, Bb, R);
            else /* grad.mm(mat2.t()): a dot product unless mat2.t() is contiguous */
                lp_mm(dt, vb ? 0 : 1, false, true, M, K, N, Gb, Bb, R);
            for (int64_t j = 0; j < M * K; j++) res->data[oa + j] += R[j];
        } else { /* dB = A.T @ G */
            const float *Gb = G + bi * M * N;
            if (batched && dt == BS_BF16)
                lp_mm_loop(dt, LP_MM_SEQ, true, false, K, N, M, Ab, Gb, R);
            else
                lp_mm(dt, 2, true, false, K, N, M, Ab, Gb, R);
            for (int64_t j = 0; j < K * N; j++) res->data[ob + j] += R[j];
        }
    }
    free(A);
    return true;
}

/* ==== Row ops: softmax, log_softmax (aten/src/ATen/native/cpu/SoftMaxKernel.cpp) ====
 * Along the last dim torch 1.13 runs _vec_softmax_lastdim / _vec_log_softmax_lastdim over each
 * row with its vector helpers (vec::reduce_all, map, map_reduce_all): under 8 elements in order,
 * else 8 lanes, a product accumulated with an fma, the lanes combined as a tree at the end;
 * log_softmax's VJP is one fma, g - exp(y) * sum. Along another dim, _vec_softmax: 8 rows of the
 * inner dim side by side, a float sum in order and a division; the VJP's sum of products with
 * fmas. f16 and bf16 take host_softmax_backward's loops along every dim: a float sum in order,
 * rounded to the dtype. torch's exp and log are SLEEF's (within one ulp of the C library's, which
 * these use): f32 softmax and log_softmax are within 1 ulp of torch (exact where the two agree,
 * most elements), bf16 softmax exact, bf16 log_softmax within 1 ulp forward (its bf16 kernel is
 * not matched) and 3 ulp backward (through that output). Along a dim that is not the last, bf16
 * is not matched (1 ulp forward, 5 backward). */

typedef float (*lp_red_f)(float a, float b);
static float lp_maxf(float a, float b) { return (a != a || b != b) ? (a != a ? a : b) : a > b ? a : b; }
static float lp_addf(float a, float b) { return a + b; }

/* vec::map_reduce_all(map, red, x, n) with map the identity (map == NULL), exp(x - shift), or the
 * product x * y (y != NULL); map 2: the accumulation of the product contracts (acc + x * y, one
 * fma), map 3: it does not (torch's x * y * z map: the last product is rounded before the sum) */
static float lp_reduce_all(bs_dtype dt, lp_red_f red, const float *x, const float *y, int64_t n, int map,
                           float shift)
{
#define LP_MAP(j) (map == 1 ? ops_t_exp(dt, 1, x[j] - shift) : y ? x[j] * y[j] : x[j])
    if (n <= 0) return 0.0f;
    if (n < LP_LANES) {
        float acc = LP_MAP(0);
        for (int64_t j = 1; j < n; j++) acc = red(acc, LP_MAP(j));
        return acc;
    }
    float acc[LP_LANES];
    for (int l = 0; l < LP_LANES; l++) acc[l] = LP_MAP(l);
    int64_t d = LP_LANES;
    for (; d < n - n % LP_LANES; d += LP_LANES)
        for (int l = 0; l < LP_LANES; l++)
            acc[l] = (map == 2 && y && red == lp_addf) ? fmaf(x[d + l], y[d + l], acc[l]) : red(acc[l], LP_MAP(d + l));
    for (int l = 0; d + l < n; l++)
        acc[l] = (map == 2 && y && red == lp_addf) ? fmaf(x[d + l], y[d + l], acc[l]) : red(acc[l], LP_MAP(d + l));
    /* vec_reduce_all's AVX2 form: the halves, then pairs, then neighbours */
    float h[4] = {red(acc[0], acc[4]), red(acc[1], acc[5]), red(acc[2], acc[6]), red(acc[3], acc[7])};
    return red(red(h[0], h[2]), red(h[1], h[3]));
#undef LP_MAP
}

#define LP_BF_LANES 16 /* Vectorized<BFloat16>::size() on AVX2 */
#define BR(v) bs_dtype_roundf(BS_BF16, (v))

/* vec::map2_reduce_all<BFloat16> (reduce_all with y NULL, map_reduce_all of exp(x - shift)) as
 * torch 1.13 sums sum(x * y):
 * bfloat16 vectors of LP_BF_LANES are two float vectors accumulated apart, added, then reduced by
 * vec_reduce_all's tree; a row shorter than a vector is summed lane after lane; the result comes
 * back as a BFloat16 (the old functional_bfloat16.h's return type) */
static float lp_reduce_bf16_map(const float *x, const float *y, int64_t n, bool exp_map, float shift)
{
#define LP_BM(j) (exp_map ? ops_t_exp(BS_BF16, 1, x[j] - shift) : y ? x[j] * y[j] : x[j])
    enum { H = LP_BF_LANES / 2 };
    float a0[H] = {0}, a1[H] = {0};
    if (n < LP_BF_LANES) {
        for (int64_t l = 0; l < H && l < n; l++) a0[l] = LP_BM(l);
        for (int64_t l = 0; l + H < n; l++) a0[l] = a0[l] + LP_BM(l + H);
        int64_t lanes = n > H ? H : n;
        float acc = a0[0];
        for (int64_t l = 1; l < lanes; l++) acc = acc + a0[l];
        return BR(acc);
    }
    for (int l = 0; l < H; l++) a0[l] = LP_BM(l), a1[l] = LP_BM(l + H);
    int64_t d = LP_BF_LANES;
    for (; d < n - n % LP_BF_LANES; d += LP_BF_LANES)
        for (int l = 0; l < H; l++) a0[l] = a0[l] + LP_BM(d + l), a1[l] = a1[l] + LP_BM(d + H + l);
    for (int64_t l = 0; d + l < n; l++) {
        if (l < H) a0[l] = a0[l] + LP_BM(d + l);
        else a1[l - H] = a1[l - H] + LP_BM(d + l);
    }
    for (int l = 0; l < H; l++) a0[l] = a0[l] + a1[l];
    float h[4] = {a0[0] + a0[4], a0[1] + a0[5], a0[2] + a0[6], a0[3] + a0[7]};
    return BR((h[0] + h[2]) + (h[1] + h[3]));
#undef LP_BM
}

static float lp_reduce_bf16(const float *x, const float *y, int64_t n)
{
    return lp_reduce_bf16_map(x, y, n, false, 0.0f);
}

/* a row's elements gathered into x (len), from storage at stride `inner` */
static void lp_row_get(bs_dtype dt, const double *src, int64_t base, int64_t len, int64_t inner,
                       float *x)
{
    for (int64_t j = 0; j < len; j++) x[j] = ops_in(dt, src[base + j * inner]);
}

bool ops_lp_softmax(bs_dtype dt, bool is_log, const double *xs, int64_t outer, int64_t len,
                    int64_t inner, double *ys)
{
    float *x = malloc(sizeof(float) * (size_t)(2 * len + 1)), *y = x + len;
    if (!x) return false;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            lp_row_get(dt, xs, base, len, inner, x);
            if (inner == 1) { /* the last dim: _vec_(log_)softmax_lastdim */
                float m = lp_reduce_all(dt, lp_maxf, x, NULL, len, 0, 0.0f);
                if (is_log && dt == BS_BF16) {
                    /* _vec_log_softmax_lastdim<BFloat16>: the sum of exp (functional_bfloat16's
                       order) and its log (SLEEF's) each kept as a BFloat16 */
                    float ls = BR(ops_t_log(dt, 1, lp_reduce_bf16_map(x, NULL, len, true, m)));
                    for (int64_t j = 0; j < len; j++) y[j] = x[j] - m - ls;
                } else if (is_log) {
                    float s = logf(lp_reduce_all(dt, lp_addf, x, NULL, len, 1, m));
                    for (int64_t j = 0; j < len; j++) y[j] = x[j] - m - s;
                } else {
                    for (int64_t j = 0; j < len; j++) y[j] = ops_t_exp(dt, 1, x[j] - m);
                    float s = 1.0f / lp_reduce_all(dt, lp_addf, y, NULL, len, 0, 0.0f);
                    for (int64_t j = 0; j < len; j++) y[j] *= s;
                }
            } else if (!is_log && (dt == BS_BF16 || dt == BS_F32) && i >= inner - inner % (dt == BS_BF16 ? LP_BF_LANES : LP_LANES)) {
                /* _vec_softmax's scalar tail (the inner positions past the last whole vector,
                   Vectorized<BFloat16> or <float>): std::exp, stored in the dtype, the float sum
                   of the unrounded exps, each stored exp divided by it (exact against
                   python3-torch on (4, D) for D of 3 to 100, f32 and bf16; the vector lanes are
                   the branch below) */
                float m = x[0], s = 0.0f;
                for (int64_t j = 1; j < len; j++) m = lp_maxf(m, x[j]);
                for (int64_t j = 0; j < len; j++) {
                    float e = ops_t_exp(dt, 0, x[j] - m);
                    y[j] = bs_dtype_roundf(dt, e);
                    s += e;
                }
                for (int64_t j = 0; j < len; j++) y[j] = y[j] / s;
            } else if (!is_log) { /* _vec_softmax: sequential along the dim, then a division */
                float m = x[0], s = 0.0f;
                for (int64_t j = 1; j < len; j++) m = lp_maxf(m, x[j]);
                for (int64_t j = 0; j < len; j++) {
                    y[j] = ops_t_exp(dt, 1, x[j] - m);
                    s += y[j];
                }
                for (int64_t j = 0; j < len; j++) y[j] /= s;
            } else { /* the same for log_softmax: x - max - log(sum); f32's inner positions past
                        the last 8 are the scalar tail (the C library's exp) */
                int tv = dt != BS_F32 || i < inner - inner % LP_LANES;
                float m = x[0], s = 0.0f;
                for (int64_t j = 1; j < len; j++) m = lp_maxf(m, x[j]);
                for (int64_t j = 0; j < len; j++) s += ops_t_exp(dt, tv, x[j] - m);
                float ls = logf(s);
                for (int64_t j = 0; j < len; j++) y[j] = x[j] - m - ls;
            }
            for (int64_t j = 0; j < len; j++) ys[base + j * inner] = bs_dtype_roundf(dt, y[j]);
        }
    free(x);
    return true;
}

/* softmax's VJP (y the output): dx = y * (g - sum(g * y)); log_softmax's: dx = g - exp(y) * sum(g);
 * added into dx */
bool ops_lp_softmax_vjp(bs_dtype dt, bool is_log, const double *ys, const double *gs, int64_t outer,
                        int64_t len, int64_t inner, double *dxs)
{
    float *y = malloc(sizeof(float) * (size_t)(2 * len + 1)), *g = y + len;
    if (!y) return false;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * len * inner + i;
            lp_row_get(dt, ys, base, len, inner, y);
            lp_row_get(dt, gs, base, len, inner, g);
            float s;
            if (inner != 1 && is_log && dt == BS_F32) {
                /* log_softmax's backward over another dim, 8 inner positions side by side: the
                   float sum of g, then fma(-exp(y), sum, g); the positions past the last 8 are
                   the scalar tail, whose exp is the C library's */
                int tv = i < inner - inner % LP_LANES;
                float sf = 0.0f;
                for (int64_t j = 0; j < len; j++) sf += g[j];
                for (int64_t j = 0; j < len; j++)
                    dxs[base + j * inner] += fmaf(-ops_t_exp(dt, tv, y[j]), sf, g[j]);
                continue;
            }
            if (dt == BS_F16 || dt == BS_BF16) {
                /* the 16-bit types: a float sum in order, then one rounding of g - exp(y) * s
                   (log) or (g - s) * y; over the last dim the sum comes back in the dtype and exp
                   is SLEEF's, over another (host_softmax_backward<BFloat16>) the sum stays float
                   and exp is std::exp */
                s = 0.0f;
                for (int64_t j = 0; j < len; j++) s += is_log ? g[j] : g[j] * y[j];
                if (inner == 1 || dt == BS_F16) s = bs_dtype_roundf(dt, s);
                int tv = inner == 1;
                for (int64_t j = 0; j < len; j++) {
                    float v = is_log ? g[j] - ops_t_exp(dt, tv, y[j]) * s : (g[j] - s) * y[j];
                    dxs[base + j * inner] += bs_dtype_roundf(dt, v);
                }
                continue;
            }
            if (inner == 1)
                s = is_log ? lp_reduce_all(dt, lp_addf, g, NULL, len, 0, 0.0f)
                        : lp_reduce_all(dt, lp_addf, g, y, len, 2, 0.0f);
            else { /* 8 rows of the inner dim side by side: the first product, then fmas */
                s = is_log ? g[0] : g[0] * y[0];
                for (int64_t j = 1; j < len; j++) s = is_log ? s + g[j] : fmaf(g[j], y[j], s);
            }
            for (int64_t j = 0; j < len; j++) {
                float v = is_log ? (inner == 1 ? fmaf(-ops_t_exp(dt, 1, y[j]), s, g[j]) : g[j] - ops_t_exp(dt, 1, y[j]) * s)
                              : (g[j] - s) * y[j];
                dxs[base + j * inner] += bs_dtype_roundf(dt, v);
            }
        }
    free(y);
    return true;
}

/* nn.Linear's forward on a 2-D input, torch's addmm(b, x, W.t()): y (M, N) = b + x (M, K) @ wt
 * (K, N), the bias inside the product: sgemm with beta = 1 over a C holding b (f32, f16 then
 * rounded); bf16's gemm_transa_ (wt a view of W, as Linear's is) rounds b + the float dot once,
 * gemm_notrans_ starts its bfloat16 sum at b. false: not that shape, or no memory */
bool ops_lp_addmm(bs_dtype dt, const bs_tensor *x, const bs_tensor *wt, bool wt_view,
                  const bs_tensor *b, double *y)
{
    if (x->shape.ndim != 2 || wt->shape.ndim != 2 || b->shape.ndim > 1) return false;
    int64_t M = x->shape.d[0], K = x->shape.d[1], N = wt->shape.d[1];
    if (wt->shape.d[0] != K || (b->shape.ndim == 1 && b->shape.d[0] != N && b->shape.d[0] != 1))
        return false;
    float *X = malloc(sizeof(float) * (size_t)(M * K + K * N + M * N + 1));
    if (!X) return false;
    float *W = X + M * K, *C = W + K * N;
    lp_floats(dt, x->data, M * K, X);
    lp_floats(dt, wt->data, K * N, W);
    int64_t nb = bs_tensor_numel(b);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * N + j] = ops_in(dt, b->data[nb == 1 ? 0 : j]);
    if (dt == BS_BF16) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float c = C[i * N + j];
                if (wt_view) {
                    float ps[4] = {0, 0, 0, 0};
                    int64_t l = 0;
                    for (; l + 4 <= K; l += 4)
                        for (int q = 0; q < 4; q++) ps[q] += X[i * K + l + q] * W[(l + q) * N + j];
                    for (; l < K; l++) ps[0] += X[i * K + l] * W[l * N + j];
                    c = bs_dtype_roundf(dt, c + (((ps[0] + ps[1]) + ps[2]) + ps[3]));
                } else {
                    for (int64_t l = 0; l < K; l++)
                        c = bs_dtype_roundf(dt, c + bs_dtype_roundf(dt, X[i * K + l] * W[l * N + j]));
                }
                C[i * N + j] = c;
            }
    } else if (M && N && K) {
        bs_blas_sgemm(false, false, (int)M, (int)N, (int)K, 1.0f, X, (int)K, W, (int)N, 1.0f, C,
                      (int)N);
    }
    for (int64_t j = 0; j < M * N; j++) y[j] = bs_dtype_roundf(dt, C[j]);
    free(X);
    return true;
}

/* ==== Losses (aten/src/ATen/native/Loss.cpp, LossNLL.cpp) ====
 * The elementwise loss as a tensor of the dtype, then its mean (torch's sum, divided by n). */

/* mean of the float loss tensor l (shape s) in dt: sum (ops_lp_sum) then / n, both rounded */
static float lp_mean(bs_dtype dt, const float *l, const bs_shape *s)
{
    float y;
    ops_lp_sum(dt, l, s, (1u << s->ndim) - 1, &y);
    return bs_dtype_roundf(dt, y / ops_in(dt, (double)bs_shape_numel(s)));
}

/* mse_loss: (a - b)^2 over the broadcast shape, then the mean; VJP (mse_backward's kernel):
 * alpha * (a - b) * g with alpha = 2 / n in the dtype, summed back to each input's shape.
 * Exact against torch (f32; torch 1.13 has no bf16 mse and no f16 backward). */
bool ops_lp_mse(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res)
{
    bs_shape bs;
    bs_shape_broadcast(&in[0].shape, &in[1].shape, &bs);
    int64_t n = bs_shape_numel(&bs), m = which >= 0 ? bs_tensor_numel(&in[which]) : 0;
    float *l = malloc(sizeof(float) * (size_t)(n + m + 1)), *r = l + n;
    if (!l) return false;
    ops_iter it;
    ops_iter_init(&it, &bs, &in[0].shape, &in[1].shape);
    float alpha = ops_in(dt, 2.0 / (double)n), G = g ? ops_in(dt, g->data[0]) : 0.0f;
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) {
        float a = ops_in(dt, in[0].data[it.off[0]]), b = ops_in(dt, in[1].data[it.off[1]]);
        float d = a - b;
        l[o] = bs_dtype_roundf(dt, g ? (which == 0 ? alpha * d * G : alpha * -d * G) : d * d);
    }
    if (!g) {
        res[0] = lp_mean(dt, l, &bs);
    } else {
        ops_lp_sum_to(dt, l, &bs, &in[which].shape, r);
        for (int64_t j = 0; j < m; j++) res[j] += r[j];
    }
    free(l);
    return true;
}

/* binary_cross_entropy: (t - 1) * max(log(1 - p), -100) - t * max(log(p), -100) with the C
 * library's log (torch 1.13's scalar loop takes log(1 - p), not log1p), then the mean; VJP:
 * g * (p - t) / max((1 - p) * p, 1e-12), then .div_(n). Exact against torch (f32; no bf16 or f16
 * kernel in torch 1.13). The target's VJP: g * (max(log(1 - p), -100) - max(log(p), -100)) / n. */
bool ops_lp_bce(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res)
{
    int64_t n = bs_tensor_numel(&in[0]);
    float *l = malloc(sizeof(float) * (size_t)(n + 1));
    if (!l) return false;
    float G = g ? ops_in(dt, g->data[0]) : 0.0f, nf = ops_in(dt, (double)n);
    for (int64_t j = 0; j < n; j++) {
        float p = ops_in(dt, in[0].data[j]), t = ops_in(dt, in[1].data[j]);
        float lq = fmaxf(logf(1.0f - p), -100.0f), lp = fmaxf(logf(p), -100.0f);
        if (!g)
            l[j] = bs_dtype_roundf(dt, (t - 1.0f) * lq - t * lp);
        else if (which == 0)
            res[j] += bs_dtype_roundf(dt, bs_dtype_roundf(dt, G * (p - t) / fmaxf((1.0f - p) * p, 1e-12f)) / nf);
        else
            res[j] += bs_dtype_roundf(dt, bs_dtype_roundf(dt, G * (lq - lp)) / nf);
    }
    if (!g) res[0] = lp_mean(dt, l, &in[0].shape);
    free(l);
    return true;
}

/* binary_cross_entropy_with_logits, torch 1.13's tensor ops in turn, each rounded: m =
 * (-z).clamp_min(0); (1 - t) * z + m + log(exp(-m) + exp(-z - m)), then the mean; VJP:
 * (sigmoid(z) - t) * g / n. Within 1 ulp of torch (its exp, log and sigmoid are SLEEF's). The
 * target's VJP: -z * g / n. */
bool ops_lp_bce_logits(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res)
{
    int64_t n = bs_tensor_numel(&in[0]);
    float *l = malloc(sizeof(float) * (size_t)(n + 1));
    if (!l) return false;
#define R(x) bs_dtype_roundf(dt, (x))
    float G = g ? ops_in(dt, g->data[0]) : 0.0f, nf = ops_in(dt, (double)n);
    int64_t vp = ops_t_vecpart(dt, n); /* sigmoid's kernel has a scalar tail */
    for (int64_t j = 0; j < n; j++) {
        float z = ops_in(dt, in[0].data[j]), t = ops_in(dt, in[1].data[j]);
        if (!g) {
            float m = -z > 0.0f ? -z : 0.0f;
            float a = R(R(R(1.0f - t) * z) + m);
            float e = R(R(ops_t_exp(dt, 1, -m)) + R(ops_t_exp(dt, 1, R(-z - m))));
            l[j] = R(a + R(ops_t_log(dt, 1, e)));
        } else if (which == 0) {
            res[j] += R(R(R(R(1.0f / (1.0f + ops_t_exp(dt, j < vp, -z))) - t) * G) / nf);
        } else {
            res[j] += R(R(-z * G) / nf);
        }
    }
#undef R
    if (!g) res[0] = lp_mean(dt, l, &in[0].shape);
    free(l);
    return true;
}

/* cross_entropy with class indices on (C) or (N, C) logits: log_softmax over the classes (as
 * above, rounded), then nll_loss's loop, whose sum of -log p[t] is a cascade of 8 levels of 16
 * in the dtype (LossNLL.cpp), divided by the rows not ignored. VJP: nll_loss_backward puts
 * -(g / W) at each target, then log_softmax's VJP. The logits' other layouts and probability
 * targets take the double path. */
bool ops_lp_cross_entropy(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, double *res)
{
    const bs_shape *zs = &in[0].shape;
    if (zs->ndim > 2 || bs_shape_eq(zs, &in[1].shape)) return false;
    int64_t N = zs->ndim == 2 ? zs->d[0] : 1, C = zs->d[zs->ndim - 1];
    double *y = malloc(sizeof(double) * (size_t)(2 * N * C + 1)), *gn = y + N * C;
    if (!y) return false;
    if (!ops_lp_softmax(dt, true, in[0].data, N, C, 1, y)) {
        free(y);
        return false;
    }
    int64_t ignored = 0;
    for (int64_t b = 0; b < N; b++) ignored += in[1].data[b] == -100;
    float W = ops_in(dt, (double)(N - ignored));
    if (!g) {
        enum { LEVELS = 8 };
        float acc[LEVELS] = {0};
        int64_t lp = ceil_log2(N) / LEVELS;
        if (lp < 4) lp = 4;
        int64_t mask = ((int64_t)1 << lp) - 1;
        for (int64_t b = 0; b < N; b++) {
            double t = in[1].data[b];
            if (t == -100) continue;
            acc[0] = bs_dtype_roundf(dt, acc[0] - (float)y[b * C + (int64_t)t]);
            for (int j = 0; j + 1 < LEVELS; j++) {
                if ((b & (mask << (j * lp))) != 0) break;
                acc[j + 1] = bs_dtype_roundf(dt, acc[j + 1] + acc[j]);
                acc[j] = 0.0f;
            }
        }
        float s = 0.0f;
        for (int j = 0; j < LEVELS; j++) s = bs_dtype_roundf(dt, s + acc[j]);
        res[0] = bs_dtype_roundf(dt, s / W);
    } else {
        float v = -bs_dtype_roundf(dt, ops_in(dt, g->data[0]) / W);
        memset(gn, 0, sizeof(double) * (size_t)(N * C));
        for (int64_t b = 0; b < N; b++)
            if (in[1].data[b] != -100) gn[b * C + (int64_t)in[1].data[b]] = v;
        ops_lp_softmax_vjp(dt, true, y, gn, N, C, 1, res);
    }
    free(y);
    return true;
}

/* ==== layer_norm's forward (aten/src/ATen/native/cpu/layer_norm_kernel.cpp, moments_utils.h) ====
 * Per row of D: the mean and biased variance by RowwiseMoments, a Welford update over vectors of
 * LP_LANES floats in chunks of 16 vectors whose moments merge in a cascade (a binary counter of
 * chunks), then the D % LP_LANES last elements one by one, then the lanes merged into that; rstd =
 * 1 / sqrt(var + eps) in float; y = x * rstd + (-rstd * mean), one fma. No product in the moments
 * is fused and y's is (what matches python3-torch 1.13: every mean and rstd of 800 rows of 3 to 7
 * and 66 rows of 8 to 513, and y on rows of 3 to 2,100; tests/dtype/src/float_math.py).
 * The same for bfloat16, as torch 1.13 runs it: RowwiseMomentsImpl<BFloat16> is that template with
 * every value a c10::BFloat16, so each operation rounds to bfloat16; its vectors are
 * Vectorized<BFloat16>, LP_BF_LANES wide (c_vecs and the merge coefficients are bfloat16 too).
 * Matches python3-torch's mean, rstd and y on every row of 456 of 1 to 1,000 elements
 * (tests/dtype/src/layernorm_bf16.py). One function does both: with bf, every result is rounded
 * (LPR); without, LPR is nothing and the arithmetic is float's (no contraction: c11). */
#define LPR(v) (bf ? BR(v) : (v))
typedef struct {
    int64_t n;
    float m1[LP_BF_LANES], m2[LP_BF_LANES];
} lp_moments;

/* AddMomentsVec (lanes of them) or AddMoments (lanes 1): (n, m1, m2) merged into (*dn, dm1, dm2) */
static void lp_moments_add(bool bf, int64_t n, const float *m1, const float *m2, int64_t *dn, float *dm1,
                           float *dm2, int lanes)
{
    int64_t t = *dn + n;
    float c = t == 0 ? 0.0f : LPR(LPR((float)n) / LPR((float)t)), m0 = LPR((float)*dn);
    for (int l = 0; l < lanes; l++) {
        float d = LPR(m1[l] - dm1[l]);
        dm1[l] = LPR(dm1[l] + LPR(c * d));
        dm2[l] = LPR(dm2[l] + LPR(m2[l] + LPR(LPR(LPR(d * d) * c) * m0)));
    }
    *dn = t;
}

static void lp_row_moments(bool bf, const float *x, int64_t D, float *mean, float *var)
{
    enum { CHUNK = 16, DEPTH = 64 };
    int lanes = bf ? LP_BF_LANES : LP_LANES;
    int64_t nv = D / lanes, nchunk = (nv + CHUNK - 1) / CHUNK;
    lp_moments stk[DEPTH];
    memset(stk, 0, sizeof stk);
    int depth = 0;
    while (((int64_t)1 << depth) < nchunk) depth++; /* CeilLog2 */
    for (int64_t i = 0; i < nchunk; i++) {
        const float *xp = x + i * CHUNK * lanes;
        int64_t m0 = nv - i * CHUNK < CHUNK ? nv - i * CHUNK : CHUNK;
        float m1[LP_BF_LANES] = {0}, m2[LP_BF_LANES] = {0};
        for (int64_t j = 0; j < m0; j++) {
            float c = LPR(1.0f / LPR((float)(j + 1)));
            for (int l = 0; l < lanes; l++) {
                float xv = xp[j * lanes + l], d = LPR(xv - m1[l]);
                m1[l] = LPR(m1[l] + LPR(d * c));
                m2[l] = LPR(m2[l] + LPR(d * LPR(xv - m1[l])));
            }
        }
        lp_moments_add(bf, m0, m1, m2, &stk[0].n, stk[0].m1, stk[0].m2, lanes);
        int64_t mask = i + 1;
        for (int j = 1; j < depth && (mask & 1) == 0; j++) {
            lp_moments_add(bf, stk[j - 1].n, stk[j - 1].m1, stk[j - 1].m2, &stk[j].n, stk[j].m1, stk[j].m2, lanes);
            memset(&stk[j - 1], 0, sizeof stk[j - 1]);
            mask >>= 1;
        }
    }
    for (int j = 1; j < depth; j++)
        lp_moments_add(bf, stk[j].n, stk[j].m1, stk[j].m2, &stk[0].n, stk[0].m1, stk[0].m2, lanes);
    int64_t m0 = 0;
    float m1 = 0.0f, m2 = 0.0f;
    for (int64_t i = nv * lanes; i < D; i++) {
        float d = LPR(x[i] - m1);
        m0++;
        m1 = LPR(m1 + LPR(d / LPR((float)m0)));
        m2 = LPR(m2 + LPR(d * LPR(x[i] - m1)));
    }
    for (int l = 0; l < lanes; l++) lp_moments_add(bf, nv, &stk[0].m1[l], &stk[0].m2[l], &m0, &m1, &m2, 1);
    *mean = m1;
    *var = LPR(m2 / LPR((float)D));
}
#undef LPR

/* a row's mean and rstd = 1 / sqrt(var + eps): in float, or for bf16 in bfloat16 (torch's
   `T(1) / std::sqrt(rstd_val + eps)` with T and eps bfloat16: the sum, the root and the quotient
   each rounded); *mean and the returned rstd are what torch saves for the backward */
static float lp_row_stats(bs_dtype dt, const float *x, int64_t D, double eps, float *mean)
{
    float var;
    if (dt == BS_BF16) {
        lp_row_moments(true, x, D, mean, &var);
        return BR(1.0f / BR(sqrtf(BR(var + BR((float)eps)))));
    }
    lp_row_moments(false, x, D, mean, &var);
    return 1.0f / sqrtf(var + (float)eps);
}

bool ops_lp_layernorm(bs_dtype dt, const double *xs, int64_t rows, int64_t D, double eps, double *ys)
{
    float *x = malloc(sizeof(float) * (size_t)(D + 1));
    if (!x) return false;
    for (int64_t r = 0; r < rows; r++) {
        lp_floats(dt, xs + r * D, D, x);
        float mean, rstd = lp_row_stats(dt, x, D, eps, &mean);
        float bias = dt == BS_BF16 ? BR(-rstd * mean) : -rstd * mean; /* T bias: bfloat16 */
        for (int64_t j = 0; j < D; j++) ys[r * D + j] = bs_dtype_roundf(dt, fmaf(x[j], rstd, bias));
    }
    free(x);
    return true;
}

/* layer_norm's VJP as LayerNormBackwardKernelImplInternal computes dX, for the upstream u of the
 * normalised x (backstep records the module's * weight and + bias as ops of their own, so u is
 * already dY * gamma; torch's one kernel multiplies dY * x before gamma, which is where the two
 * can differ with a weight other than ones): with a = rstd, s = 1 / D,
 * ds = sum(u * x), db = sum(u) (vec::map3_reduce_all, map2_reduce_all), b = (db * mean - ds) *
 * a^3 * s, c = -b * mean - db * a * s, dx = a * u + b * x + c; the fmas are GCC's contractions in
 * torch's build, chosen by what matches python3-torch: with LayerNorm's weight at ones, all 5,672
 * elements of dx on rows of 3 to 300 are exact */
bool ops_lp_layernorm_vjp(bs_dtype dt, const double *xs, const double *us, int64_t rows, int64_t D,
                          double eps, double *dxs)
{
    float *x = malloc(sizeof(float) * (size_t)(2 * D + 1)), *u = x + D;
    if (!x) return false;
    float s = 1.0f / (float)D;
    for (int64_t r = 0; r < rows; r++) {
        lp_floats(dt, xs + r * D, D, x);
        lp_floats(dt, us + r * D, D, u);
        float mean, a = lp_row_stats(dt, x, D, eps, &mean);
        float ds = dt == BS_BF16 ? lp_reduce_bf16(u, x, D) : lp_reduce_all(dt, lp_addf, u, x, D, 3, 0.0f);
        float db = dt == BS_BF16 ? lp_reduce_bf16(u, NULL, D) : lp_reduce_all(dt, lp_addf, u, NULL, D, 0, 0.0f);
        float b = fmaf(db, mean, -ds) * a * a * a * s;
        float c = fmaf(-b, mean, -(db * a * s));
        for (int64_t j = 0; j < D; j++) dxs[r * D + j] += bs_dtype_roundf(dt, fmaf(b, x[j], a * u[j]) + c);
    }
    free(x);
    return true;
}

/* ==== arange (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp: cpu_serial_kernel_vec's two
 * vectors a step, Vectorized<T>::arange's lanes, the scalar op after them). Matches torch's values
 * for f64, f32, bf16 and f16 on 150 random ranges each; bf16's lanes differ from
 * round(start + i * step) from 256 up (torch.arange(6000.) in bf16 holds 4096 at 4112 to 4127). */
void ops_lp_arange(bs_dtype dt, double start, double step, int64_t n, double *d)
{
    if (!bs_dtype_in_float(dt) && dt != BS_F64) {
        for (int64_t i = 0; i < n; i++) d[i] = start + (double)i * step;
        return;
    }
    bool low = dt == BS_BF16 || dt == BS_F16;
    int64_t V = dt == BS_F64 ? 4 : dt == BS_F32 ? 8 : 16, i = 0;
#define AR_FMA(a, b, c) (low ? (double)fmaf((float)(a), (float)(b), (float)(c)) : fma((a), (b), (c)))
#define AR_ROUND(v) (dt == BS_F64 ? (v) : dt == BS_F32 ? (double)(float)(v) : (double)bs_dtype_roundf(dt, (float)(v)))
    double st = low ? (double)(float)start : start, sp = low ? (double)(float)step : step;
    for (; i + 2 * V <= n; i += 2 * V)
        for (int64_t v = i; v < i + 2 * V; v += V) {
            double base = AR_ROUND(AR_FMA(sp, (double)v, st));
            for (int64_t l = 0; l < V; l++) d[v + l] = AR_ROUND(AR_FMA((double)l, sp, base));
        }
    for (; i < n; i++) d[i] = AR_ROUND(AR_FMA(sp, (double)i, st));
#undef AR_FMA
#undef AR_ROUND
}
