/* core/ops_index.c: the ops that pick elements, what PyTorch's x[...] lowers to: select (x[i]),
 * slice (x[a:b:s]), index_select (x[idx]), where / masked_fill (a mask chooses between two
 * tensors), and cat (two tensors joined along a dim): forward, VJP, JVP, with PyTorch's shape rules and error text. Their index arithmetic
 * is core/index_math.h, which the CPU backend and CUDA share. Attributes stay as the user gave
 * them (a negative index, an omitted bound) and are resolved against the input's size here, so a
 * replay at other sizes picks what the same expression would. */
#include "ops_int.h"

#include "index_math.h"

#include <string.h>

/* ==== Gathers: shared ==== */

static bs_ix_gather gather_of(bs_op op, const bs_tensor *in, const bs_attr *a)
{
    return bs_ix_gather_of(op, &in[0].shape, a, op == BS_OP_INDEX_SELECT ? bs_tensor_numel(&in[1]) : 0);
}

static const double *index_of(bs_op op, const bs_tensor *in)
{
    return op == BS_OP_INDEX_SELECT ? in[1].data : NULL;
}

/* y = the rows of x the gather picks (x NULL: a zero tangent) */
static void gather_fwd(bs_op op, const bs_tensor *in, const bs_attr *a, const double *x, double *y)
{
    bs_ix_gather g = gather_of(op, in, a);
    const double *idx = index_of(op, in);
    size_t row = sizeof(double) * (size_t)g.inner;
    for (int64_t p = 0; p < g.outer; p++)
        for (int64_t j = 0; j < g.len; j++) {
            double *dst = y + (p * g.len + j) * g.inner;
            if (x)
                memcpy(dst, x + (p * g.n + bs_ix_src_row(&g, j, idx, NULL)) * g.inner, row);
            else
                memset(dst, 0, row);
        }
}

/* dx += each row of G, at the row of x it was read from (repeated rows add) */
static void gather_vjp(bs_op op, const bs_tensor *in, const bs_attr *a, const double *G, double *dx)
{
    bs_ix_gather g = gather_of(op, in, a);
    const double *idx = index_of(op, in);
    for (int64_t p = 0; p < g.outer; p++)
        for (int64_t j = 0; j < g.len; j++) {
            const double *src = G + (p * g.len + j) * g.inner;
            double *dst = dx + (p * g.n + bs_ix_src_row(&g, j, idx, NULL)) * g.inner;
            for (int64_t i = 0; i < g.inner; i++) dst[i] += src[i];
        }
}

/* the dim along which x is indexed, or a dimension error; a 0-d x is refused as PyTorch does */
static bs_status gather_dim(const char *what, const bs_shape *x, const bs_attr *a, int *d, char *err,
                            size_t errlen)
{
    if (x->ndim == 0)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "%s() cannot be applied to a 0-dim tensor.", what);
    return ops_dim_norm(a->dim, x->ndim, d, err, errlen);
}

/* ==== select ==== */
/* y = x[..., index, ...] along dim (the dim removed);  dx[..., index, ...] += G */
bs_status op_select_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                          char *err, size_t errlen)
{
    int d;
    char sz[96];
    bs_status st = gather_dim("select", &in[0], a, &d, err, errlen);
    if (st != BS_OK)
        return st;
    if (!bs_ix_row_ok(a->start, in[0].d[d]))
        return ops_fail(BS_ERR_VALUE, err, errlen,
                        "select(): index %lld out of range for tensor of size %s at dimension %d",
                        (long long)a->start, ops_sizes_str(&in[0], sz, sizeof sz), d);
    bs_shape r = {0, {0}};
    for (int k = 0; k < in[0].ndim; k++)
        if (k != d)
            r.d[r.ndim++] = in[0].d[k];
    *out = r;
    return BS_OK;
}

/* ==== slice ==== */
/* y = x[..., start:stop:step, ...] along dim;  dx[..., start:stop:step, ...] += G */
bs_status op_slice_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                         char *err, size_t errlen)
{
    int d;
    bs_status st = gather_dim("slice", &in[0], a, &d, err, errlen);
    if (st != BS_OK)
        return st;
    if (a->step == 0)
        return ops_fail(BS_ERR_VALUE, err, errlen, "slice step cannot be zero");
    if (a->step < 0)
        return ops_fail(BS_ERR_VALUE, err, errlen, "step must be greater than zero");
    int64_t first;
    *out = in[0];
    out->d[d] = bs_ix_slice(in[0].d[d], a->start, a->stop, a->step, &first);
    return BS_OK;
}

/* ==== index_select ==== */
/* y = x with row j along dim read from row index[j] (negative: from the end);
 * dx[..., index[j], ...] += G[..., j, ...], repeated entries adding up */
bs_status op_index_select_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                                bs_shape *out, char *err, size_t errlen)
{
    int d;
    if (dt && dt[1] != BS_I64)
        return ops_fail(BS_ERR_TYPE, err, errlen,
                        "index_select(): Expected dtype int32 or int64 for index");
    if (in[1].ndim > 1)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "index_select(): Index is supposed to be a vector");
    bs_status st = ops_dim_norm(a->dim, in[0].ndim, &d, err, errlen);
    if (st != BS_OK)
        return st;
    *out = in[0];
    if (in[0].ndim == 0) {
        if (bs_shape_numel(&in[1]) != 1)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "index_select(): a 0-dim tensor takes one index, got %lld",
                            (long long)bs_shape_numel(&in[1]));
        return BS_OK;
    }
    out->d[d] = bs_shape_numel(&in[1]);
    return BS_OK;
}

/* the forward's value check: every index inside [-size, size) of its dim */
static bs_status index_check(const bs_tensor *in, const bs_attr *a, char *err, size_t errlen)
{
    int d = 0;
    ops_dim_norm(a->dim, in[0].shape.ndim, &d, NULL, 0);
    int64_t n = in[0].shape.ndim ? in[0].shape.d[d] : 1, k = bs_tensor_numel(&in[1]);
    for (int64_t j = 0; j < k; j++)
        if (!bs_ix_row_ok((int64_t)in[1].data[j], n))
            return ops_fail(BS_ERR_VALUE, err, errlen,
                            "index %lld is out of bounds for dimension %d with size %lld",
                            (long long)in[1].data[j], d, (long long)n);
    return BS_OK;
}

/* ==== The gathers' remaining functions, one definition for the three ==== */
#define GATHER_OP(fn, ID, CHECK)                                                                 \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        bs_status st = CHECK;                                                                    \
        if (st == BS_OK)                                                                         \
            gather_fwd(BS_OP_##ID, in, a, in[0].data, out->data);                               \
        return st;                                                                               \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0)                                                                              \
            gather_vjp(BS_OP_##ID, in, a, g->data, din->data);                                  \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        gather_fwd(BS_OP_##ID, in, a, din[0].data, dout->data);                                 \
    }                                                                                            \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)            \
    {                                                                                            \
        return 0.0; /* moves data */                                                             \
    }
GATHER_OP(select, SELECT, BS_OK)
GATHER_OP(slice, SLICE, BS_OK)
GATHER_OP(index_select, INDEX_SELECT, index_check(in, a, err, errlen))
#undef GATHER_OP

/* SelectBackward0 and SliceBackward0 keep sizes and ints only (the results are views) */
int op_select_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                    bs_saved *sv)
{
    return 0;
}

int op_slice_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                   bs_saved *sv)
{
    return 0;
}

/* IndexSelectBackward0 keeps the index (and self's sizes) */
int op_index_select_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,
                          const bs_attr *a, bs_saved *sv)
{
    return ops_save_in(sv, 0, "index", 1);
}

/* ==== The choice: where, masked_fill ====
 * out = a where c is nonzero, else b, the three broadcast; (c, a, b) are the op's inputs in
 * bs_ix_choice_roles's order. One iterator walks c and a, another b, side by side. */

/* y = choose(c, a, b), with a tangent's a and b (NULL: zero) when ta/tb are given */
static void choice_fwd(bs_op op, const bs_tensor *in, const double *const *v, bs_tensor *out)
{
    int rc, ra, rb;
    bs_ix_choice_roles(op, &rc, &ra, &rb);
    ops_iter ica, ib;
    int64_t n = bs_tensor_numel(out);
    const double *C = in[rc].data, *A = v[ra], *B = v[rb];
    ops_iter_init(&ica, &out->shape, &in[rc].shape, &in[ra].shape);
    ops_iter_init(&ib, &out->shape, &in[rb].shape, NULL);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&ica), ops_iter_next(&ib))
        out->data[o] = BS_IX_CHOOSE(C[ica.off[0]], A ? A[ica.off[1]] : 0.0, B ? B[ib.off[0]] : 0.0);
}

static bs_status choice_shape(const bs_shape *c, const bs_shape *a, const bs_shape *b,
                              bs_shape *out, char *err, size_t errlen)
{
    bs_shape ca;
    bs_status st = ops_broadcast(c, a, &ca, err, errlen);
    return st != BS_OK ? st : ops_broadcast(&ca, b, out, err, errlen);
}

/* din_i += G where input i is chosen, summed over the dims i was broadcast along */
static void choice_vjp(bs_op op, const bs_tensor *in, const bs_tensor *out, const bs_tensor *g, int i,
                       bs_tensor *din)
{
    int rc, ra, rb;
    bs_ix_choice_roles(op, &rc, &ra, &rb);
    if (i != ra && i != rb)
        return;
    ops_iter it;
    int64_t n = bs_tensor_numel(out);
    ops_iter_init(&it, &out->shape, &in[rc].shape, &in[i].shape);
    for (int64_t o = 0; o < n; o++, ops_iter_next(&it))
        din->data[it.off[1]] +=
            BS_IX_CHOICE_VJP(in[rc].data[it.off[0]], g->data[o], i == ra ? 1 : 2, 0.0);
}

#define CHOICE_OP(fn, ID)                                                                        \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        const double *v[BS_MAX_INPUTS] = {in[0].data, in[1].data, in[2].data};                   \
        choice_fwd(BS_OP_##ID, in, v, out);                                                      \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        choice_vjp(BS_OP_##ID, in, out, g, i, din);                                              \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        const double *v[BS_MAX_INPUTS] = {din[0].data, din[1].data, din[2].data};                \
        choice_fwd(BS_OP_##ID, in, v, dout);                                                     \
    }                                                                                            \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)            \
    {                                                                                            \
        return ops_numel_d(out); /* a compare per element */                                    \
    }
CHOICE_OP(where, WHERE)
CHOICE_OP(masked_fill, MASKED_FILL)
#undef CHOICE_OP

/* ==== where ==== */
bs_status op_where_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                         char *err, size_t errlen)
{
    return choice_shape(&in[0], &in[1], &in[2], out, err, errlen);
}

/* WhereBackward0 keeps the condition */
int op_where_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                   bs_saved *sv)
{
    return ops_save_in(sv, 0, "condition", 0);
}

/* ==== masked_fill ==== */
/* x.masked_fill(mask, value) out of place: the mask and x broadcast (PyTorch reports the mask as
 * tensor a), value is 0-d */
bs_status op_masked_fill_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,
                               bs_shape *out, char *err, size_t errlen)
{
    if (in[2].ndim != 0)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                        "with %d dimension(s).", in[2].ndim);
    return choice_shape(&in[1], &in[2], &in[0], out, err, errlen);
}

/* MaskedFillBackward0 (a number value) and MaskedFillBackward1 (a tensor) keep the mask */
int op_masked_fill_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,
                         const bs_attr *a, bs_saved *sv)
{
    return ops_save_in(sv, 0, "mask", 1);
}

/* ==== cat ==== */
/* y = a then b along dim;  da += G's first size(a, dim) rows along dim, db += the rest.
 * PyTorch's checks and words: no 0-d inputs, the same number of dims, equal sizes off dim */
bs_status op_cat_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen)
{
    for (int k = 0; k < 2; k++)
        if (in[k].ndim == 0)
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "zero-dimensional tensor (at position %d) cannot be concatenated", k);
    if (in[0].ndim != in[1].ndim)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "Tensors must have same number of dimensions: got %d and %d",
                        in[0].ndim, in[1].ndim);
    int d;
    bs_status st = ops_dim_norm(a->dim, in[0].ndim, &d, err, errlen);
    if (st != BS_OK)
        return st;
    for (int k = 0; k < in[0].ndim; k++)
        if (k != d && in[0].d[k] != in[1].d[k])
            return ops_fail(BS_ERR_SHAPE, err, errlen,
                            "Sizes of tensors must match except in dimension %d. Expected size %lld but got "
                            "size %lld for tensor number 1 in the list.",
                            d, (long long)in[0].d[k], (long long)in[1].d[k]);
    *out = in[0];
    out->d[d] = in[0].d[d] + in[1].d[d];
    return BS_OK;
}

/* y = a and b joined (x, y NULL: a zero tangent) */
static void cat_fwd(const bs_tensor *in, const bs_attr *a, const double *x, const double *y, double *out, int64_t n)
{
    bs_ix_cat c = bs_ix_cat_of(&in[0].shape, &in[1].shape, a->dim);
    for (int64_t o = 0; o < n; o++) {
        int64_t off;
        const double *src = bs_ix_cat_src(&c, o, &off) ? y : x;
        out[o] = src ? src[off] : 0.0;
    }
}

bs_status op_cat_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err, size_t errlen)
{
    cat_fwd(in, a, in[0].data, in[1].data, out->data, bs_tensor_numel(out));
    return BS_OK;
}

void op_cat_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g, int i,
                bs_tensor *din)
{
    bs_ix_cat c = bs_ix_cat_of(&in[0].shape, &in[1].shape, a->dim);
    int64_t n = bs_tensor_numel(out);
    for (int64_t o = 0; o < n; o++) {
        int64_t off;
        if (bs_ix_cat_src(&c, o, &off) == i)
            din->data[off] += g->data[o];
    }
}

void op_cat_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout)
{
    cat_fwd(in, a, din[0].data, din[1].data, dout->data, bs_tensor_numel(dout));
}

double op_cat_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return 0.0; /* moves data */
}

/* CatBackward0 keeps the dim and the inputs' sizes, no tensor */
int op_cat_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a, bs_saved *sv)
{
    return 0;
}

/* ==== permute ==== */
/* y = x.permute(dims): y[j_0, ..., j_{n-1}] = x[...] with x's dim dims[k] at index j_k;
 * dx = G permuted back (each of G's elements added to the element of x it came from). The
 * dims are kept as given and resolved against x's rank each time (index_math.h). */
bs_status op_permute_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                           char *err, size_t errlen)
{
    int nd = in[0].ndim, perm[BS_MAX_DIMS];
    if (!a || a->shape.ndim != nd)
        return ops_fail(BS_ERR_SHAPE, err, errlen,
                        "permute(sparse_coo): number of dimensions in the tensor input does not match "
                        "the length of the desired ordering of dimensions i.e. input.dim() = %d is not "
                        "equal to len(dims) = %d", nd, a ? a->shape.ndim : 0);
    for (int k = 0; k < nd; k++) {
        int d;
        bs_status st = ops_dim_norm((int)a->shape.d[k], nd, &d, err, errlen);
        if (st != BS_OK)
            return st;
    }
    if (!bs_ix_perm(a, nd, perm))
        return ops_fail(BS_ERR_VALUE, err, errlen, "permute(): duplicate dims are not allowed.");
    bs_shape r = in[0];
    for (int k = 0; k < nd; k++)
        r.d[k] = in[0].d[perm[k]];
    *out = r;
    return BS_OK;
}

/* out[o] = x[offset of o], or x's element o gets g[o] added (add) */
static void permute_walk(const bs_shape *xs, const bs_attr *a, const double *x, double *y, bool add)
{
    int nd = xs->ndim, perm[BS_MAX_DIMS];
    int64_t od[BS_MAX_DIMS], st[BS_MAX_DIMS], idx[BS_MAX_DIMS] = {0};
    int64_t n = bs_shape_numel(xs), off = 0;
    if (!bs_ix_perm(a, nd, perm))
        return;
    if (nd == 0) {
        if (n)
            y[0] = add ? y[0] + x[0] : x ? x[0] : 0.0;
        return;
    }
    bs_ix_perm_map(xs, perm, od, st);
    for (int64_t o = 0; o < n; o++) {
        if (add)
            y[off] += x[o];
        else
            y[o] = x ? x[off] : 0.0;
        for (int k = nd - 1; k >= 0; k--) { /* the next output index, and its input offset */
            off += st[k];
            if (++idx[k] < od[k])
                break;
            off -= st[k] * od[k];
            idx[k] = 0;
        }
    }
}

bs_status op_permute_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,
                         size_t errlen)
{
    permute_walk(&in[0].shape, a, in[0].data, out->data, false);
    return BS_OK;
}

void op_permute_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                    int i, bs_tensor *din)
{
    if (i == 0)
        permute_walk(&in[0].shape, a, g->data, din->data, true);
}

void op_permute_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                    bs_tensor *dout)
{
    permute_walk(&in[0].shape, a, din[0].data, dout->data, false);
}

double op_permute_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)
{
    return 0.0; /* moves data */
}

/* a view: PermuteBackward0 keeps the dims only */
int op_permute_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                     bs_saved *sv)
{
    return 0;
}

/* ==== tril, triu ==== */
/* y = x with the entries outside the triangle of its last two dims zeroed; dx = the same
 * triangle of G. The diagonal is attr.start (0: the main one). */
static bs_status tri_shape(const char *name, const bs_shape *in, bs_shape *out, char *err,
                           size_t errlen)
{
    if (in[0].ndim < 2)
        return ops_fail(BS_ERR_SHAPE, err, errlen, "%s: input tensor must have at least 2 dimensions",
                        name);
    *out = in[0];
    return BS_OK;
}

/* y = the kept entries of x (x NULL: zeros); add: y += them */
static void tri_walk(bs_op op, const bs_shape *s, const bs_attr *a, const double *x, double *y,
                     bool add)
{
    int64_t n = bs_shape_numel(s), rows = s->d[s->ndim - 2], cols = s->d[s->ndim - 1];
    for (int64_t o = 0; o < n; o++) {
        bool keep = x && bs_ix_tri_keep(op, o, rows, cols, a->start);
        if (add)
            y[o] += keep ? x[o] : 0.0;
        else
            y[o] = keep ? x[o] : 0.0;
    }
}

#define TRI_OP(fn, ID)                                                                           \
    bs_status op_##fn##_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,          \
                              bs_shape *out, char *err, size_t errlen)                           \
    {                                                                                            \
        return tri_shape(#fn, in, out, err, errlen);                                             \
    }                                                                                            \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen)                                                       \
    {                                                                                            \
        tri_walk(BS_OP_##ID, &in[0].shape, a, in[0].data, out->data, false);                     \
        return BS_OK;                                                                            \
    }                                                                                            \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din)                                \
    {                                                                                            \
        if (i == 0)                                                                              \
            tri_walk(BS_OP_##ID, &in[0].shape, a, g->data, din->data, true);                     \
    }                                                                                            \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout)                                    \
    {                                                                                            \
        tri_walk(BS_OP_##ID, &in[0].shape, a, din[0].data, dout->data, false);                   \
    }                                                                                            \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a)            \
    {                                                                                            \
        return 0.0;                                                                              \
    }                                                                                            \
    /* TrilBackward0 / TriuBackward0 keep the diagonal only */                                  \
    int op_##fn##_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt,                \
                        const bs_attr *a, bs_saved *sv)                                          \
    {                                                                                            \
        return 0;                                                                                \
    }
TRI_OP(tril, TRIL)
TRI_OP(triu, TRIU)
#undef TRI_OP
