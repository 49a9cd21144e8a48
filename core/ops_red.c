/* core/ops_red.c: reductions (sum mean max), matmul (OpenBLAS dgemm, torch.matmul's 1-D/2-D and
 * batched rules), and the ops that move data (transpose, reshape): forward, VJP, JVP. */
#include "ops_int.h"
#include "blas.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Reductions: shared layout ====
 * A reduction over dim d sees its input as (outer, len, inner) and writes (outer, inner); the
 * output index is o*inner + i, the input index (o*len + j)*inner + i, with or without keepdim.
 * BS_DIM_ALL is one row of len = numel. */
typedef struct {
    int64_t outer, len, inner;
} red_layout;

static red_layout red_layout_of(const bs_shape *in, const bs_attr *a)
{
    red_layout L;
    int dim = a ? a->dim : BS_DIM_ALL, d = 0;
    if (dim == BS_DIM_ALL || ops_dim_norm(dim, in->ndim, &d, NULL, 0) != BS_OK) {
        L.outer = 1;
        L.len = bs_shape_numel(in);
        L.inner = 1;
        return L;
    }
    ops_dim_split(in, d, &L.outer, &L.len, &L.inner);
    return L;
}

static bs_status red_shape(const bs_shape *in, const bs_attr *a, bs_shape *out, char *err,
                           size_t errlen)
{
    int dim = a ? a->dim : BS_DIM_ALL, d;
    bool keep = a ? a->keepdim : false;
    bs_shape r = {0, {0}};
    if (dim == BS_DIM_ALL) {
        if (keep) { /* as sum(x, dim=(0, 1, ...), keepdim=True) */
            r.ndim = in->ndim;
            for (int k = 0; k < r.ndim; k++)
                r.d[k] = 1;
        }
        *out = r;
        return BS_OK;
    }
    bs_status st = ops_dim_norm(dim, in->ndim, &d, err, errlen);
    if (st != BS_OK)
        return st;
    for (int k = 0; k < in->ndim; k++) {
        if (k == d && !keep)
            continue;
        r.d[r.ndim++] = k == d ? 1 : in->d[k];
    }
    *out = r;
    return BS_OK;
}

/* ==== sum ==== */
/* y[o,i] = sum_j x[o,j,i];  dx[o,j,i] += G[o,i] */
bs_status op_sum_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen)
{
    return red_shape(&in[0], a, out, err, errlen);
}

static void red_sum(const double *x, red_layout L, double scale, double *y)
{
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < L.len; j++)
                s += x[(o * L.len + j) * L.inner + i];
            y[o * L.inner + i] = scale == 1.0 ? s : s / scale;
        }
}

static void red_spread(const double *G, red_layout L, double scale, double *dx)
{
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t j = 0; j < L.len; j++)
            for (int64_t i = 0; i < L.inner; i++)
                dx[(o * L.len + j) * L.inner + i] +=
                    scale == 1.0 ? G[o * L.inner + i] : G[o * L.inner + i] / scale;
}

/* the float path: torch's sum (ops_lp_sum), then for mean a division by n in the dtype, as torch
 * 1.13's mean on the CPU is sum(...).div_(n); y (out) rounded. false: no memory (the double loop
 * runs instead) */
static bool red_sum_f(const bs_tensor *x, const bs_attr *a, bool mean, bs_tensor *out)
{
    bs_dtype dt = out->dtype;
    int64_t n = bs_tensor_numel(x), m = bs_tensor_numel(out);
    float *xf = malloc(sizeof(float) * (size_t)(n + m + 1)), *yf = xf + n;
    if (!xf) return false;
    for (int64_t j = 0; j < n; j++) xf[j] = ops_in(dt, x->data[j]);
    int dim = a ? a->dim : BS_DIM_ALL, d = 0;
    unsigned mask = 0;
    if (dim == BS_DIM_ALL || ops_dim_norm(dim, x->shape.ndim, &d, NULL, 0) != BS_OK)
        mask = (1u << x->shape.ndim) - 1;
    else
        mask = 1u << d;
    ops_lp_sum(dt, xf, &x->shape, mask, yf);
    float len = ops_in(dt, (double)red_layout_of(&x->shape, a).len);
    for (int64_t j = 0; j < m; j++) out->data[j] = mean ? bs_dtype_roundf(dt, yf[j] / len) : yf[j];
    free(xf);
    return true;
}

bs_status op_sum_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                     size_t errlen)
{
    if (bs_dtype_in_float(out->dtype) && red_sum_f(&in[0], a, false, out))
        return BS_OK;
    red_sum(in[0].data, red_layout_of(&in[0].shape, a), 1.0, out->data);
    return BS_OK;
}

void op_sum_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                int i, bs_tensor *din)
{
    if (i == 0)
        red_spread(g->data, red_layout_of(&in[0].shape, a), 1.0, din->data);
}

void op_sum_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout)
{
    if (!din[0].data) {
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
        return;
    }
    red_sum(din[0].data, red_layout_of(&in[0].shape, a), 1.0, dout->data);
}

double op_sum_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return ops_numel_d(&in[0]);
}

/* SumBackward0/1 keep the input's sizes only */
int op_sum_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                 bs_saved *sv)
{
    return 0;
}

/* ==== mean ==== */
/* y[o,i] = sum_j x[o,j,i] / n  (n = len of the reduced dim, or numel);  dx[o,j,i] += G[o,i] / n */
bs_status op_mean_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                        char *err, size_t errlen)
{
    if (dt && dt[0] == BS_I64) /* PyTorch will not guess a float dtype for an integer mean */
        return ops_fail(BS_ERR_TYPE, err, errlen,
                        "mean(): could not infer output dtype. Input dtype must be either a "
                        "floating point or complex dtype. Got: %s", ops_torch_dtype(dt[0]));
    return red_shape(&in[0], a, out, err, errlen);
}

bs_status op_mean_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                      size_t errlen)
{
    if (bs_dtype_in_float(out->dtype) && red_sum_f(&in[0], a, true, out))
        return BS_OK;
    red_layout L = red_layout_of(&in[0].shape, a);
    red_sum(in[0].data, L, (double)L.len, out->data);
    return BS_OK;
}

void op_mean_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                 int i, bs_tensor *din)
{
    red_layout L = red_layout_of(&in[0].shape, a);
    if (i != 0)
        return;
    if (bs_dtype_in_float(g->dtype)) { /* grad.expand(...) / n in the dtype */
        bs_dtype dt = g->dtype;
        float len = ops_in(dt, (double)L.len);
        for (int64_t o = 0; o < L.outer; o++)
            for (int64_t j = 0; j < L.len; j++)
                for (int64_t k = 0; k < L.inner; k++)
                    din->data[(o * L.len + j) * L.inner + k] += (float)g->data[o * L.inner + k] / len;
        return;
    }
    red_spread(g->data, L, (double)L.len, din->data);
}

void op_mean_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                 const bs_tensor *din, bs_tensor *dout)
{
    red_layout L = red_layout_of(&in[0].shape, a);
    if (!din[0].data) {
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
        return;
    }
    red_sum(din[0].data, L, (double)L.len, dout->data);
}

double op_mean_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return ops_numel_d(&in[0]) + ops_numel_d(out);
}

/* MeanBackward0 (all elements) keeps sizes and numel; MeanBackward1 (along dim) keeps self */
int op_mean_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                  bs_saved *sv)
{
    return (!a || a->dim == BS_DIM_ALL) ? 0 : ops_save_in(sv, 0, "self", 0);
}

/* ==== max ==== */
/* With dim: y[o,i] = max_j x[o,j,i]; the gradient goes to the first maximal j (a NaN counts as
 * the maximum, as in PyTorch):  dx[o,argmax,i] += G[o,i].
 * Full reduction: y = max(x); the gradient is split evenly among the tied maxima:
 *   dx[j] += G / count  for every j with x[j] == y (x[j] NaN when y is NaN). */
static bool max_full(const bs_attr *a) { return !a || a->dim == BS_DIM_ALL; }

bs_status op_max_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen)
{
    bs_status st = red_shape(&in[0], a, out, err, errlen);
    if (st != BS_OK)
        return st;
    if (max_full(a)) {
        if (bs_shape_numel(&in[0]) == 0)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "max(): Expected reduction dim to be specified for input.numel() == 0. "
                            "Specify the reduction dim with the 'dim' argument.");
    } else {
        int d;
        ops_dim_norm(a->dim, in[0].ndim, &d, NULL, 0);
        if (in[0].ndim > 0 && in[0].d[d] == 0)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "max(): Expected reduction dim %d to have non-zero size.", d);
    }
    return BS_OK;
}

/* index j (0..len-1) of the first maximum of row (o, i) */
static int64_t max_argmax(const double *x, red_layout L, int64_t o, int64_t i)
{
    int64_t best = 0;
    double bv = x[(o * L.len) * L.inner + i];
    for (int64_t j = 1; j < L.len && !isnan(bv); j++) {
        double v = x[(o * L.len + j) * L.inner + i];
        if (isnan(v) || v > bv) {
            bv = v;
            best = j;
        }
    }
    return best;
}

/* entries tied at the full maximum m */
static bool max_hit(double v, double m) { return isnan(m) ? isnan(v) : v == m; }

bs_status op_max_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                     size_t errlen)
{
    red_layout L = red_layout_of(&in[0].shape, a);
    const double *x = in[0].data;
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t i = 0; i < L.inner; i++)
            out->data[o * L.inner + i] = x[(o * L.len + max_argmax(x, L, o, i)) * L.inner + i];
    return BS_OK;
}

void op_max_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                int i, bs_tensor *din)
{
    if (i != 0)
        return;
    const double *x = in[0].data;
    if (max_full(a)) {
        int64_t n = bs_tensor_numel(&in[0]), count = 0;
        double m = out->data[0];
        for (int64_t j = 0; j < n; j++)
            count += max_hit(x[j], m);
        double share = g->data[0] / (double)count;
        for (int64_t j = 0; j < n; j++)
            if (max_hit(x[j], m))
                din->data[j] += share;
        return;
    }
    red_layout L = red_layout_of(&in[0].shape, a);
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t k = 0; k < L.inner; k++)
            din->data[(o * L.len + max_argmax(x, L, o, k)) * L.inner + k] += g->data[o * L.inner + k];
}

/* dy = t at the argmax (with dim); dy = mean of t over the tied maxima (full reduction) */
void op_max_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout)
{
    const double *x = in[0].data, *t = din[0].data;
    int64_t m_out = bs_tensor_numel(dout);
    if (!t) {
        memset(dout->data, 0, sizeof(double) * (size_t)m_out);
        return;
    }
    if (max_full(a)) {
        int64_t n = bs_tensor_numel(&in[0]), count = 0;
        double m = out->data[0], s = 0.0;
        for (int64_t j = 0; j < n; j++)
            if (max_hit(x[j], m)) {
                s += t[j];
                count++;
            }
        dout->data[0] = s / (double)count;
        return;
    }
    red_layout L = red_layout_of(&in[0].shape, a);
    for (int64_t o = 0; o < L.outer; o++)
        for (int64_t k = 0; k < L.inner; k++)
            dout->data[o * L.inner + k] = t[(o * L.len + max_argmax(x, L, o, k)) * L.inner + k];
}

double op_max_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return ops_numel_d(&in[0]);
}

/* with dim: the int64 indices; full reduction: input and output */
/* MaxBackward1 (all elements) keeps self and result; MaxBackward0 (along dim) the int64 indices */
int op_max_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                 bs_saved *sv)
{
    if (max_full(a))
        return ops_save_result(sv, ops_save_in(sv, 0, "self", 0));
    return ops_save_buffer(sv, 0, "indices", out, BS_I64);
}

/* ==== matmul ====
 * torch.matmul: a 1-D a is a row (1, K) whose row dim is dropped from the result, a 1-D b a
 * column (K, 1) whose column dim is dropped; dims before the last two are batch dims and
 * broadcast. Each batch is C (M, N) = A (M, K) @ B (K, N), all row-major and contiguous, so
 * dropping a size-1 dim does not change the layout. */
typedef struct {
    int64_t M, K, N;                       /* per-batch sizes */
    bs_shape abatch, bbatch, batch;        /* batch shapes of a, b and their broadcast */
} mm_plan;

static void mm_plan_of(const bs_shape *A, const bs_shape *B, mm_plan *p)
{
    int na = A->ndim, nb = B->ndim;
    p->M = na >= 2 ? A->d[na - 2] : 1;
    p->K = A->d[na - 1];
    p->N = nb >= 2 ? B->d[nb - 1] : 1;
    p->abatch.ndim = na > 2 ? na - 2 : 0;
    p->bbatch.ndim = nb > 2 ? nb - 2 : 0;
    for (int k = 0; k < p->abatch.ndim; k++)
        p->abatch.d[k] = A->d[k];
    for (int k = 0; k < p->bbatch.ndim; k++)
        p->bbatch.d[k] = B->d[k];
    bs_shape_broadcast(&p->abatch, &p->bbatch, &p->batch);
}

static bs_status mm_mismatch(const bs_shape *A, const bs_shape *B, const mm_plan *p, char *err,
                             size_t errlen)
{
    int na = A->ndim, nb = B->ndim;
    long long M = p->M, K = p->K, N = p->N, Kb = nb >= 2 ? B->d[nb - 2] : B->d[0];
    long long ra = bs_shape_numel(&p->abatch) * M; /* a folded to rows */
    long long rb = bs_shape_numel(&p->bbatch) * N; /* b.mT folded to rows */
    if (na == 1 && nb == 1)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "inconsistent tensor size, expected tensor [%lld] and src [%lld] to have "
                        "the same number of elements, but got %lld and %lld elements respectively",
                        K, Kb, K, Kb);
    if (na >= 2 && nb == 1)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "size mismatch, got %lld, %lldx%lld,%lld", ra,
                        ra, K, Kb);
    if (nb == 2)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)", ra, K,
                        Kb, N);
    /* nb >= 3 */
    if (na == 1)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "size mismatch, got %lld, %lldx%lld,%lld", rb,
                        rb, Kb, K);
    if (na == 2)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld)", rb,
                        Kb, K, M);
    return ops_fail(BS_ERR_SHAPE, err, errlen,
                    "Expected size for first two dimensions of batch2 tensor to be: [%lld, %lld] "
                    "but got: [%lld, %lld].",
                    (long long)bs_shape_numel(&p->batch), K, (long long)bs_shape_numel(&p->batch),
                    Kb);
}

bs_status op_matmul_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                          char *err, size_t errlen)
{
    const bs_shape *A = &in[0], *B = &in[1];
    int na = A->ndim, nb = B->ndim;
    if (na == 0 || nb == 0)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "both arguments to matmul need to be at least 1D, but they are %dD and %dD",
                        na, nb);
    mm_plan p;
    mm_plan_of(A, B, &p);
    int64_t Kb = nb >= 2 ? B->d[nb - 2] : B->d[0];
    if (na >= 3 && nb >= 3) {
        bs_status st = ops_broadcast(&p.abatch, &p.bbatch, &p.batch, err, errlen);
        if (st != BS_OK)
            return st;
    }
    if (p.K != Kb)
        return mm_mismatch(A, B, &p, err, errlen);
    if (p.M > INT_MAX || p.N > INT_MAX || p.K > INT_MAX)
        return ops_fail(BS_ERR_VALUE, err, errlen, "matmul: a dimension is larger than %d", INT_MAX);
    bs_shape r = p.batch;
    if (na >= 2)
        r.d[r.ndim++] = p.M;
    if (nb >= 2)
        r.d[r.ndim++] = p.N;
    *out = r;
    return BS_OK;
}

/* C (m, n) = alpha * op(A) @ op(B) + beta * C, row-major; tolerates empty sizes */
static void mm_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double *A,
                    const double *B, double beta, double *C)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        if (beta == 0.0)
            memset(C, 0, sizeof(double) * (size_t)(m * n));
        return;
    }
    int lda = (int)(ta ? m : k), ldb = (int)(tb ? k : n);
    bs_blas_dgemm(ta, tb, (int)m, (int)n, (int)k, 1.0, A, lda, B, ldb, beta, C, (int)n);
}

/* Calls body once per output batch with pointers to that batch's a, b and c matrices. */
#define MM_FOR_BATCHES(p, a_base, b_base, c_base, A_, B_, C_, body)                              \
    do {                                                                                         \
        ops_iter it_;                                                                            \
        int64_t nb_ = bs_shape_numel(&(p).batch);                                                \
        ops_iter_init(&it_, &(p).batch, &(p).abatch, &(p).bbatch);                               \
        for (int64_t b_ = 0; b_ < nb_; b_++, ops_iter_next(&it_)) {                              \
            A_ = (a_base) + it_.off[0] * (p).M * (p).K;                                          \
            B_ = (b_base) + it_.off[1] * (p).K * (p).N;                                          \
            C_ = (c_base) + b_ * (p).M * (p).N;                                                  \
            body;                                                                                \
        }                                                                                        \
    } while (0)

bs_status op_matmul_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                        size_t errlen)
{
    if (bs_dtype_in_float(out->dtype) && ops_lp_matmul(in, a, NULL, 0, out))
        return BS_OK;
    mm_plan p;
    const double *A, *B;
    double *C;
    mm_plan_of(&in[0].shape, &in[1].shape, &p);
    MM_FOR_BATCHES(p, in[0].data, in[1].data, out->data, A, B, C,
                   mm_gemm(false, false, p.M, p.N, p.K, A, B, 0.0, C));
    return BS_OK;
}

/* dA += G @ B^T, dB += A^T @ G per batch; a broadcast batch accumulates into the same slice,
 * which sums the gradient over the broadcast batch dims. */
void op_matmul_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                   int i, bs_tensor *din)
{
    if (bs_dtype_in_float(g->dtype) && (i == 0 || i == 1) && ops_lp_matmul(in, a, g, i, din))
        return;
    mm_plan p;
    const double *A, *B;
    double *G;
    mm_plan_of(&in[0].shape, &in[1].shape, &p);
    double *Gbase = g->data; /* read only */
    if (i == 0) {
        MM_FOR_BATCHES(p, in[0].data, in[1].data, Gbase, A, B, G,
                       mm_gemm(false, true, p.M, p.K, p.N, G, B, 1.0,
                               din->data + (A - in[0].data)));
    } else if (i == 1) {
        MM_FOR_BATCHES(p, in[0].data, in[1].data, Gbase, A, B, G,
                       mm_gemm(true, false, p.K, p.N, p.M, A, G, 1.0,
                               din->data + (B - in[1].data)));
    }
}

/* dC = tA @ B + A @ tB */
void op_matmul_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                   const bs_tensor *din, bs_tensor *dout)
{
    mm_plan p;
    const double *A, *B;
    double *C;
    mm_plan_of(&in[0].shape, &in[1].shape, &p);
    const double *TA = din[0].data, *TB = din[1].data;
    if (!TA && !TB) {
        memset(dout->data, 0, sizeof(double) * (size_t)bs_tensor_numel(dout));
        return;
    }
    MM_FOR_BATCHES(p, in[0].data, in[1].data, dout->data, A, B, C, {
        double beta = 0.0;
        if (TA) {
            mm_gemm(false, false, p.M, p.N, p.K, TA + (A - in[0].data), B, 0.0, C);
            beta = 1.0;
        }
        if (TB)
            mm_gemm(false, false, p.M, p.N, p.K, A, TB + (B - in[1].data), beta, C);
    });
}

double op_matmul_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    mm_plan p;
    mm_plan_of(&in[0], &in[1], &p);
    return 2.0 * (double)p.M * (double)p.N * (double)p.K * ops_numel_d(&p.batch);
}

/* torch.matmul keeps, under the names of the kernel it dispatches to (mm: self, mat2; mv: self,
 * vec; dot: self, tensor; bmm: self, mat2), each operand only for the other's grad: X @ W1 with X
 * data keeps X alone. A 1-D operand is kept as a view (unsqueezed), a batch as a view (folded or
 * expanded). A 1-D or 2-D a times a batched b is computed as (b.mT @ a.mT).mT, which folds a copy
 * of b.mT: that copy is what is kept for d/da. */
int op_matmul_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                    bs_saved *sv)
{
    int na = in[0].shape.ndim, nb = in[1].shape.ndim, k = 0;
    const char *ra = "self", *rb = na <= 2 && nb == 1 ? (na == 1 ? "tensor" : "vec") : "mat2";
    if (na <= 2 && nb >= 3) {
        ra = "mat2";
        rb = "self";
    }
    if (in[1].requires_grad) k = ops_save_in(sv, k, ra, 0);
    if (in[0].requires_grad) {
        if (na <= 2 && nb >= 3)
            k = ops_save_buffer(sv, k, rb, &in[1].shape, in[1].dtype);
        else
            k = ops_save_in(sv, k, rb, 1);
    }
    return k;
}

/* ==== transpose ==== */
/* y = x.T: y[j_{n-1}, ..., j_0] = x[j_0, ..., j_{n-1}];  dx = G.T */
bs_status op_transpose_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                             bs_shape *out, char *err, size_t errlen)
{
    bs_shape r = in[0];
    for (int k = 0; k < r.ndim; k++)
        r.d[k] = in[0].d[r.ndim - 1 - k];
    *out = r;
    return BS_OK;
}

/* iterator over y's elements whose off[0] is the matching element of x */
static void tr_iter(ops_iter *it, const bs_shape *x)
{
    int n = x->ndim;
    int64_t xs[BS_MAX_DIMS], s = 1;
    for (int k = n - 1; k >= 0; k--) {
        xs[k] = s;
        s *= x->d[k];
    }
    for (int k = 0; k < BS_MAX_DIMS; k++) {
        int ky = k - (BS_MAX_DIMS - n); /* y's dim at padded position k */
        it->d[k] = ky >= 0 ? x->d[n - 1 - ky] : 1;
        it->st[0][k] = ky >= 0 ? xs[n - 1 - ky] : 0;
        it->st[1][k] = 0;
        it->idx[k] = 0;
    }
    it->off[0] = it->off[1] = 0;
}

bs_status op_transpose_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                           size_t errlen)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    tr_iter(&it, &in[0].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        out->data[o] = in[0].data[it.off[0]];
    return BS_OK;
}

void op_transpose_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                      const bs_tensor *g, int i, bs_tensor *din)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    if (i != 0)
        return;
    tr_iter(&it, &in[0].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        din->data[it.off[0]] += g->data[o];
}

void op_transpose_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                      const bs_tensor *din, bs_tensor *dout)
{
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    const double *t = din[0].data;
    tr_iter(&it, &in[0].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        dout->data[o] = t ? t[it.off[0]] : 0.0;
}

double op_transpose_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return 0.0;
}

/* a view: PermuteBackward0 keeps the dims only */
int op_transpose_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                       bs_saved *sv)
{
    return 0;
}

/* ==== reshape ==== */
/* y = x with shape attr.shape (one entry may be -1: inferred);  dx = reshape(G, x.shape) */
bs_status op_reshape_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                           bs_shape *out, char *err, size_t errlen)
{
    if (!a)
        return ops_fail(BS_ERR_ARG, err, errlen, "reshape needs a shape");
    bs_shape r = a->shape;
    char buf[96];
    int infer = -1;
    int64_t known = 1, n = bs_shape_numel(&in[0]);
    if (r.ndim < 0 || r.ndim > BS_MAX_DIMS)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "reshape: at most %d dimensions", BS_MAX_DIMS);
    for (int k = 0; k < r.ndim; k++) {
        if (r.d[k] == -1) {
            if (infer >= 0)
                return ops_fail(BS_ERR_VALUE, err, errlen, "only one dimension can be inferred");
            infer = k;
        } else if (r.d[k] < 0) {
            return ops_fail(BS_ERR_VALUE, err, errlen, "invalid shape dimension %lld",
                            (long long)r.d[k]);
        } else if (__builtin_mul_overflow(known, r.d[k], &known)) {
            return ops_fail(BS_ERR_SHAPE, err, errlen, "shape '%s' is invalid for input of size %lld",
                            ops_sizes_str(&a->shape, buf, sizeof buf), (long long)n);
        }
    }
    if (infer >= 0) {
        if (known == 0) {
            if (n == 0)
                return ops_fail(BS_ERR_SHAPE, err, errlen,
                                "cannot reshape tensor of 0 elements into shape %s because the "
                                "unspecified dimension size -1 can be any value and is ambiguous",
                                ops_sizes_str(&r, buf, sizeof buf));
        } else if (n % known == 0) {
            r.d[infer] = n / known;
            known = n;
        }
    }
    if (known != n || (infer >= 0 && r.d[infer] < 0))
        return ops_fail(BS_ERR_SHAPE, err, errlen, "shape '%s' is invalid for input of size %lld",
                        ops_sizes_str(&a->shape, buf, sizeof buf), (long long)n);
    *out = r;
    return BS_OK;
}

bs_status op_reshape_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                         size_t errlen)
{
    int64_t n = bs_tensor_numel(out);
    if (n > 0)
        memcpy(out->data, in[0].data, sizeof(double) * (size_t)n);
    return BS_OK;
}

void op_reshape_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *g, int i, bs_tensor *din)
{
    int64_t n = bs_tensor_numel(out);
    if (i == 0)
        for (int64_t j = 0; j < n; j++)
            din->data[j] += g->data[j];
}

void op_reshape_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,
                    const bs_tensor *din, bs_tensor *dout)
{
    int64_t n = bs_tensor_numel(out);
    for (int64_t j = 0; j < n; j++)
        dout->data[j] = din[0].data ? din[0].data[j] : 0.0;
}

double op_reshape_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return 0.0;
}

/* ViewBackward0 / ReshapeAliasBackward0 keep the sizes only */
int op_reshape_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                     bs_saved *sv)
{
    return 0;
}
