/* gpu/ops_index.cu: the ops that pick elements on the GPU, forward and VJP side by side: the gather
 * of select, slice and index_select, the choice of where and masked_fill and cat's join, with their index
 * arithmetic from core/index_math.h (compiled here for the device). One thread per output
 * element; index_select's VJP adds with atomics, since its rows may repeat (select's and slice's
 * rows are distinct, their VJP writes each input element once at most). */
#include "gpu_int.h"

#include "index_math.h"

#include <stdio.h>

/* ==== Gathers: select, slice, index_select ==== */

static bs_ix_gather gather_of(const bs_exec *e)
{
    int64_t nidx = e->op == BS_OP_INDEX_SELECT ? bs_shape_numel(&e->in_shape[1]) : 0;
    return bs_ix_gather_of(e->op, &e->in_shape[0], &e->attr, nidx);
}

/* y[o] = x at the element output o reads; an index out of range raises GPU_FLAG_INDEX (with the
   index) and reads nothing */
template <class T> static bs_status gather_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    const T *x = (const T *)in[0];
    T *y = (T *)e->out;
    const int32_t *idx = e->op == BS_OP_INDEX_SELECT ? (const int32_t *)in[1] : NULL;
    bs_ix_gather g = gather_of(e);
    int *flag = c->d_flag;
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t o) {
        if (idx) {
            int64_t j = (o / g.inner) % g.len;
            if (!bs_ix_row_ok(idx[j], g.n)) {
                flag[1] = idx[j];
                flag[0] = GPU_FLAG_INDEX;
                y[o] = tr<T>::st((typename tr<T>::A)0);
                return;
            }
        }
        y[o] = x[bs_ix_src(&g, o, NULL, idx)];
    });
    if (!idx)
        return BS_OK;
    int code = 0;
    int64_t value = 0;
    bs_status s = gpu_take_flag(c, &code, &value);
    if (s == BS_OK && code) {
        int nd = e->in_shape[0].ndim, d = nd == 0 ? 0 : (e->attr.dim < 0 ? e->attr.dim + nd : e->attr.dim);
        snprintf(c->msg, sizeof c->msg, "index %lld is out of bounds for dimension %d with size %lld",
                 (long long)value, d, (long long)g.n);
        return BS_ERR_VALUE;
    }
    return s;
}

/* din at the element output o read += g[o] (i is 0: the index gets no gradient) */
template <class T>
static bs_status gather_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g_,
                              void *din_)
{
    const T *G = (const T *)g_;
    T *d = (T *)din_;
    const int32_t *idx = e->op == BS_OP_INDEX_SELECT ? (const int32_t *)in[1] : NULL;
    bs_ix_gather g = gather_of(e);
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t o) {
        if (idx) {
            if (bs_ix_row_ok(idx[(o / g.inner) % g.len], g.n)) /* else the forward said so */
                gpu_atomic_add(d + bs_ix_src(&g, o, NULL, idx), tr<T>::ld(G[o]));
            return;
        }
        int64_t k = bs_ix_src(&g, o, NULL, NULL);
        d[k] = tr<T>::st(tr<T>::ld(d[k]) + tr<T>::ld(G[o]));
    });
    return BS_OK;
}

/* each op of the family: its forward and VJP, kind the gather or the choice */
#define GPU_INDEX_OP(fn, kind)                                                               \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, kind##_fwd_t<T_>(c, e, in));                               \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, kind##_vjp_t<T_>(c, e, in, i, g, din));                    \
    }
GPU_INDEX_OP(select, gather)
GPU_INDEX_OP(slice, gather)
GPU_INDEX_OP(index_select, gather)

/* ==== The choice: where, masked_fill ====
 * out = a where c, else b, the three broadcast: one map walks c and a, another b. The mask
 * arrives as numbers of the op's dtype (an integer mask was converted by prep_inputs). */

template <class T, class I> static void choice_fwd_ti(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    int rc, ra, rb;
    bs_ix_choice_roles(e->op, &rc, &ra, &rb);
    const T *C = (const T *)in[rc], *A = (const T *)in[ra], *B = (const T *)in[rb];
    T *y = (T *)e->out;
    bc_map mca = bc_make(&e->out_shape, &e->in_shape[rc], &e->in_shape[ra]);
    bc_map mb = bc_make(&e->out_shape, &e->in_shape[rb], NULL);
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t o) {
        int64_t ic, ia, ib, unused;
        bc_offsets<I>(mca, o, &ic, &ia);
        bc_offsets<I>(mb, o, &ib, &unused);
        y[o] = BS_IX_CHOOSE(tr<T>::ld(C[ic]), A[ia], B[ib]);
    });
}

template <class T> static bs_status choice_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    if (bc_small(bs_shape_numel(&e->out_shape)))
        choice_fwd_ti<T, uint32_t>(c, e, in);
    else
        choice_fwd_ti<T, int64_t>(c, e, in);
    return BS_OK;
}

/* the contribution of output element k to input `role`'s gradient (1: a, 2: b) */
template <class T, class I> struct ld_choice_vjp {
    const T *C, *G;
    bc_map m;
    int role;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        int64_t ic, unused;
        bc_offsets<I>(m, k, &ic, &unused);
        return BS_IX_CHOICE_VJP(tr<T>::ld(C[ic]), tr<T>::ld(G[k]), role, (typename tr<T>::A)0);
    }
};

template <class T, class I>
static bs_status choice_vjp_ti(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    int rc, ra, rb;
    bs_ix_choice_roles(e->op, &rc, &ra, &rb);
    if (i != ra && i != rb) {
        snprintf(c->msg, sizeof c->msg, "%s: input %d has no gradient", bs_ops[e->op].name, i);
        return BS_ERR_ARG;
    }
    ld_choice_vjp<T, I> ld = {(const T *)in[rc], (const T *)g, bc_make(&e->out_shape, &e->in_shape[rc], NULL),
                              i == ra ? 1 : 2};
    return accum_to_shape<T>(c, ld, &e->out_shape, &e->in_shape[i], (T *)din);
}

template <class T>
static bs_status choice_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    if (bc_small(bs_shape_numel(&e->out_shape)))
        return choice_vjp_ti<T, uint32_t>(c, e, in, i, g, din);
    return choice_vjp_ti<T, int64_t>(c, e, in, i, g, din);
}

GPU_INDEX_OP(where, choice)
GPU_INDEX_OP(masked_fill, choice)

/* ==== The join: cat ====
 * Output element o is one element of a or of b (bs_ix_cat_src); each input element is read by
 * one output element, so the VJP writes each at most once (no atomics). */

template <class T> static bs_status cat_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    const T *A = (const T *)in[0], *B = (const T *)in[1];
    T *y = (T *)e->out;
    bs_ix_cat j = bs_ix_cat_of(&e->in_shape[0], &e->in_shape[1], e->attr.dim);
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t o) {
        int64_t off;
        y[o] = bs_ix_cat_src(&j, o, &off) ? B[off] : A[off];
    });
    return BS_OK;
}

template <class T>
static bs_status cat_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g_, void *din_)
{
    if (i != 0 && i != 1) {
        snprintf(c->msg, sizeof c->msg, "cat: input %d has no gradient", i);
        return BS_ERR_ARG;
    }
    const T *G = (const T *)g_;
    T *d = (T *)din_;
    bs_ix_cat j = bs_ix_cat_of(&e->in_shape[0], &e->in_shape[1], e->attr.dim);
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t o) {
        int64_t off;
        if (bs_ix_cat_src(&j, o, &off) == i)
            d[off] = tr<T>::st(tr<T>::ld(d[off]) + tr<T>::ld(G[o]));
    });
    return BS_OK;
}

GPU_INDEX_OP(cat, cat)
#undef GPU_INDEX_OP

/* ==== permute ====
 * Output element o reads the input at the offset core/index_math.h's map gives (its dims' input
 * strides); the VJP adds G[o] back at that offset, each input element once (no atomics). */

template <class T, class I> static void permute_ti(gpu_ctx *c, const bs_exec *e, const T *src, T *dst, bool add)
{
    const bs_shape *s = &e->in_shape[0];
    int nd = s->ndim, perm[BS_MAX_DIMS];
    bs_ix_perm(&e->attr, nd, perm);
    int64_t od[BS_MAX_DIMS], st[BS_MAX_DIMS];
    bs_ix_perm_map(s, perm, od, st);
    bc_map m;
    m.nd = nd ? nd : 1;
    for (int k = 0; k < m.nd; k++) {
        m.d[k] = nd ? od[k] : 1;
        m.s[0][k] = m.s[1][k] = nd ? st[k] : 0;
    }
    launch_each(c, bs_shape_numel(s), [=] __device__(int64_t o) {
        int64_t is, unused;
        bc_offsets<I>(m, o, &is, &unused);
        if (add)
            dst[is] = tr<T>::st(tr<T>::ld(dst[is]) + tr<T>::ld(src[o]));
        else
            dst[o] = src[is];
    });
}

template <class T> static bs_status permute_t(gpu_ctx *c, const bs_exec *e, const void *src, void *dst, bool add)
{
    int perm[BS_MAX_DIMS];
    if (!bs_ix_perm(&e->attr, e->in_shape[0].ndim, perm)) {
        snprintf(c->msg, sizeof c->msg, "permute: the dims are not a permutation of the input's");
        return BS_ERR_ARG;
    }
    if (bc_small(bs_shape_numel(&e->in_shape[0])))
        permute_ti<T, uint32_t>(c, e, (const T *)src, (T *)dst, add);
    else
        permute_ti<T, int64_t>(c, e, (const T *)src, (T *)dst, add);
    return BS_OK;
}

bs_status gpu_fwd_permute(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, permute_t<T_>(c, e, in[0], e->out, false));
}
bs_status gpu_vjp_permute(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, permute_t<T_>(c, e, g, din, true));
}

/* ==== tril, triu ====
 * Elementwise: entry o is kept when core/index_math.h's bs_ix_tri_keep says so (the triangle of
 * its matrix), else zero; the VJP keeps the same entries of G. */

template <class T> static bs_status tri_t(gpu_ctx *c, const bs_exec *e, const void *src_, void *dst_, bool add)
{
    const T *src = (const T *)src_;
    T *dst = (T *)dst_;
    const bs_shape *s = &e->out_shape;
    if (s->ndim < 2) {
        snprintf(c->msg, sizeof c->msg, "%s: input tensor must have at least 2 dimensions", bs_ops[e->op].name);
        return BS_ERR_SHAPE;
    }
    int64_t rows = s->d[s->ndim - 2], cols = s->d[s->ndim - 1], diag = e->attr.start;
    bs_op op = e->op;
    launch_each(c, bs_shape_numel(s), [=] __device__(int64_t o) {
        bool keep = bs_ix_tri_keep(op, o, rows, cols, diag);
        if (add) {
            if (keep)
                dst[o] = tr<T>::st(tr<T>::ld(dst[o]) + tr<T>::ld(src[o]));
        } else {
            dst[o] = keep ? src[o] : tr<T>::st((typename tr<T>::A)0);
        }
    });
    return BS_OK;
}

#define GPU_TRI_OP(fn)                                                                       \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, tri_t<T_>(c, e, in[0], e->out, false));                    \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, tri_t<T_>(c, e, g, din, true));                            \
    }
GPU_TRI_OP(tril)
GPU_TRI_OP(triu)
#undef GPU_TRI_OP
