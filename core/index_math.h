/* core/index_math.h: the arithmetic of the indexing ops, written once for C and CUDA alike. The
 * eager kernels (core/ops_index.c), the CPU backend's loops (core/backend_cpu.c) and the CUDA
 * kernels (gpu/ops_index.cu, and through tests/gpu their host emulation) all call these.
 *
 * select, slice and index_select are one gather. The input is seen as (outer, n, inner) around
 * dim, the output as (outer, len, inner), and output row j is input row r(j):
 *   select        len 1, r(0) = index (negative: from the end)
 *   slice         r(j) = first + j * step, first and len from Python's slice rules
 *   index_select  r(j) = idx[j] (negative: from the end)
 * Dropping select's dim does not move an element, so its output is that layout too. The VJP adds
 * output row j of the gradient into input row r(j); index_select's rows may repeat, and their
 * gradients add.
 *
 * cat joins two inputs along dim: around dim the output is (outer, na + nb, inner), and output
 * row j is a's row j when j < na, else b's row j - na; the VJP hands each input its rows of G.
 *
 * where and masked_fill are one choice, elementwise with NumPy broadcasting: out = a where c is
 * nonzero, else b. where(cond, a, b) is (c, a, b) as it stands; masked_fill(x, mask, value) is
 * (c, a, b) = (mask, value, x). The VJPs: da += G where c, db += G where not c, each summed over
 * the dims it was broadcast along; c gets none. */
#ifndef BS_INDEX_MATH_H
#define BS_INDEX_MATH_H

#include "backstep.h"

#ifdef __CUDACC__
#define BS_IX_FN static __host__ __device__ __forceinline__
#else
#define BS_IX_FN static inline
#endif

/* ==== Gathers: select, slice, index_select ==== */

typedef struct {
    int64_t outer, n, inner; /* the input around dim */
    int64_t len;             /* output rows */
    int64_t first, step;     /* select, slice: output row j is input row first + j * step;
                                index_select: step 0, the rows come from the index tensor */
} bs_ix_gather;

/* a row index in [-n, n) counted from the start (negative: from the end) */
BS_IX_FN int64_t bs_ix_row(int64_t i, int64_t n) { return i < 0 ? i + n : i; }
BS_IX_FN int bs_ix_row_ok(int64_t i, int64_t n) { return i >= -n && i < n; }

/* Python's rules for a slice of a dim of size n, step > 0: start and stop count from the end when
 * negative and are clamped into [0, n] (BS_SLICE_NO_START, BS_SLICE_NO_STOP clamp to the ends);
 * *first gets the first row, the result is the number of rows */
BS_IX_FN int64_t bs_ix_slice(int64_t n, int64_t start, int64_t stop, int64_t step, int64_t *first)
{
    if (start < 0) start = start < -n ? 0 : start + n;
    else if (start > n) start = n;
    if (stop < 0) stop = stop < -n ? 0 : stop + n;
    else if (stop > n) stop = n;
    *first = start;
    return stop > start ? (stop - start - 1) / step + 1 : 0;
}

/* the gather of op (select, slice, index_select with an index of idx_len entries) over input
 * shape in, whose attributes its shape function has checked (dim in range, step > 0) */
BS_IX_FN bs_ix_gather bs_ix_gather_of(bs_op op, const bs_shape *in, const bs_attr *a,
                                      int64_t idx_len)
{
    bs_ix_gather g;
    int nd = in->ndim, d = nd == 0 ? 0 : (a->dim < 0 ? a->dim + nd : a->dim);
    g.outer = g.n = g.inner = 1;
    for (int k = 0; k < nd; k++) {
        if (k < d) g.outer *= in->d[k];
        else if (k == d) g.n = in->d[k];
        else g.inner *= in->d[k];
    }
    g.first = 0;
    g.step = 1;
    if (op == BS_OP_SELECT) {
        g.len = 1;
        g.first = bs_ix_row(a->start, g.n);
    } else if (op == BS_OP_SLICE) {
        g.step = a->step;
        g.len = bs_ix_slice(g.n, a->start, a->stop, a->step, &g.first);
    } else {
        g.len = idx_len;
        g.step = 0;
    }
    return g;
}

/* the input row of output row j; index_select's entries are idx_f (the eager engine's doubles) or
   idx_i (a backend's int32), the other NULL, and both NULL for select and slice */
BS_IX_FN int64_t bs_ix_src_row(const bs_ix_gather *g, int64_t j, const double *idx_f,
                               const int32_t *idx_i)
{
    return idx_f ? bs_ix_row((int64_t)idx_f[j], g->n)
         : idx_i ? bs_ix_row((int64_t)idx_i[j], g->n)
                 : g->first + j * g->step;
}

/* the input offset of output element o */
BS_IX_FN int64_t bs_ix_src(const bs_ix_gather *g, int64_t o, const double *idx_f,
                           const int32_t *idx_i)
{
    int64_t i = o % g->inner, r = o / g->inner, j = r % g->len, p = r / g->len;
    return (p * g->n + bs_ix_src_row(g, j, idx_f, idx_i)) * g->inner + i;
}

/* ==== The join: cat ==== */

typedef struct {
    int64_t outer, na, nb, inner; /* a is (outer, na, inner) around dim, b (outer, nb, inner) */
} bs_ix_cat;

/* the join of shapes a and b (equal but along dim, which the shape function has checked) */
BS_IX_FN bs_ix_cat bs_ix_cat_of(const bs_shape *a, const bs_shape *b, int dim)
{
    bs_ix_cat c;
    int nd = a->ndim, d = dim < 0 ? dim + nd : dim;
    c.outer = c.inner = 1;
    c.na = nd ? a->d[d] : 1;
    c.nb = nd ? b->d[d] : 1;
    for (int k = 0; k < nd; k++) {
        if (k < d) c.outer *= a->d[k];
        else if (k > d) c.inner *= a->d[k];
    }
    return c;
}

/* where output element o comes from: returns 0 (a) or 1 (b), and the offset in that input */
BS_IX_FN int bs_ix_cat_src(const bs_ix_cat *c, int64_t o, int64_t *off)
{
    int64_t n = c->na + c->nb, i = o % c->inner, r = o / c->inner, j = r % n, p = r / n;
    if (j < c->na) {
        *off = (p * c->na + j) * c->inner + i;
        return 0;
    }
    *off = (p * c->nb + (j - c->na)) * c->inner + i;
    return 1;
}

/* ==== The choice: where, masked_fill ==== */

/* which inputs of op play c, a and b (out = a where c, else b) */
BS_IX_FN void bs_ix_choice_roles(bs_op op, int *c, int *a, int *b)
{
    if (op == BS_OP_MASKED_FILL) {
        *c = 1;
        *a = 2;
        *b = 0;
    } else {
        *c = 0;
        *a = 1;
        *b = 2;
    }
}

/* the choice and its VJPs at one output element: input `role` 1 is a, 2 is b */
#define BS_IX_CHOOSE(c, a, b) ((c) != 0 ? (a) : (b))
#define BS_IX_CHOICE_VJP(c, g, role, zero) (((c) != 0) == ((role) == 1) ? (g) : (zero))


/* ==== permute: the dims reordered ====
 * attr.shape holds the permutation as given (ndim entries, negatives from the end): output dim k
 * is input dim perm[k]. bs_ix_perm resolves it against the input's rank (0: not a permutation of
 * nd dims). bs_ix_perm_map gives each output dim's size and its stride in the input, so that
 * output element o (row-major) reads input offset sum_k idx_k(o) * st[k]. The VJP adds G back
 * through the same map: G's element o goes to that input offset. */
BS_IX_FN int bs_ix_perm(const bs_attr *a, int nd, int perm[BS_MAX_DIMS])
{
    if (a->shape.ndim != nd || nd > BS_MAX_DIMS) return 0;
    int seen = 0;
    for (int k = 0; k < nd; k++) {
        int64_t d = a->shape.d[k];
        if (d < -nd || d >= nd) return 0;
        int r = (int)(d < 0 ? d + nd : d);
        if (seen & (1 << r)) return 0;
        seen |= 1 << r;
        perm[k] = r;
    }
    return 1;
}

/* output dim k's size od[k] and its input stride st[k], for input shape in and permutation perm */
BS_IX_FN void bs_ix_perm_map(const bs_shape *in, const int *perm, int64_t od[BS_MAX_DIMS],
                             int64_t st[BS_MAX_DIMS])
{
    int64_t ist[BS_MAX_DIMS], s = 1;
    for (int k = in->ndim - 1; k >= 0; k--) {
        ist[k] = s;
        s *= in->d[k];
    }
    for (int k = 0; k < in->ndim; k++) {
        od[k] = in->d[perm[k]];
        st[k] = ist[perm[k]];
    }
}

/* ==== tril, triu: a triangle of the last two dims ====
 * Entry (row i, col j) of each matrix is kept when j - i <= diagonal (tril) or j - i >= diagonal
 * (triu), zero otherwise; the VJP keeps the same entries of G. The diagonal is attr.start. A
 * tensor of fewer than two dims is refused by the shape function, as torch does. */
BS_IX_FN int bs_ix_tri_keep(bs_op op, int64_t o, int64_t rows, int64_t cols, int64_t diagonal)
{
    int64_t j = o % cols, i = (o / cols) % rows;
    return op == BS_OP_TRIL ? j - i <= diagonal : j - i >= diagonal;
}

#endif
