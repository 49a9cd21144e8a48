/* gpu/ops_ew.cu: elementwise ops on the GPU, forward and VJP side by side: binary ops broadcast
 * (NumPy rules, strides from bc_make) and their VJPs sum over the broadcast dims. Each op's
 * arithmetic is its entry in core/ew_math.h, compiled here for the device (A the functor's
 * scalar type, m_* gpu_int.h's overloads). */
#include "gpu_int.h"

#include "ew_math.h"

/* ==== Unary ops ====
 * Each op is a struct: f(a, k, k2) the forward, d(a, o, g, k, k2) the VJP contribution
 * g * d o/d a (o is the forward's output, k and k2 the op's scalar attributes).
 *
 * One kernel per dtype runs the forward of every unary op and one their VJPs: the op is a kernel
 * argument that each thread switches on once, outside its element loop, so every case is the
 * loop the op's own kernel was (the same arithmetic, contracted the same way). A kernel per op
 * and dtype (19 x 3 x 2 of them, each with its host stub and lambda type) was a third of
 * ops_ew.cu's compile time. */
#define UNARY_FN(ID, fn, FWD, VJP)                                                           \
    struct u_##fn {                                                                          \
        template <class A> static __device__ __forceinline__ A f(A a, A k, A k2) { return FWD; } \
        template <class A> static __device__ __forceinline__ A d(A a, A o, A g, A k, A k2)   \
        {                                                                                    \
            return VJP;                                                                      \
        }                                                                                    \
    };
#define GPU_EW1(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) UNARY_FN(ID, fn, FWD, VJP)
BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1

template <class T> static bs_status unary_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int op)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)in[0];
    T *o = (T *)e->out;
    A k = (A)e->attr.k, k2 = (A)e->attr.k2;
    launch_grid(c, bs_shape_numel(&e->out_shape), [=] __device__(gpu_range r) {
        switch (op) {
#define GPU_EW1(ID, fn, ...)                                                                 \
    case BS_OP_##ID:                                                                         \
        GPU_EACH(r, i) o[i] = tr<T>::st(u_##fn::f(tr<T>::ld(a[i]), k, k2));                  \
        break;
            BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1
        }
    });
    return BS_OK;
}

/* da += g * f'(a), elementwise (same shape) */
template <class T>
static bs_status unary_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_, void *din_, int op)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)in[0], *o = (const T *)e->out, *g = (const T *)g_;
    T *din = (T *)din_;
    A k = (A)e->attr.k, k2 = (A)e->attr.k2;
    launch_grid(c, bs_shape_numel(&e->in_shape[0]), [=] __device__(gpu_range r) {
        switch (op) {
#define GPU_EW1(ID, fn, ...)                                                                 \
    case BS_OP_##ID:                                                                         \
        GPU_EACH(r, i)                                                                       \
        {                                                                                    \
            A d = u_##fn::d(tr<T>::ld(a[i]), tr<T>::ld(o[i]), tr<T>::ld(g[i]), k, k2);        \
            din[i] = tr<T>::st(tr<T>::ld(din[i]) + d);                                       \
        }                                                                                    \
        break;
            BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1
        }
    });
    return BS_OK;
}

#define GPU_EW1(ID, fn, ...)                                                                 \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, unary_fwd_t<T_>(c, e, in, BS_OP_##ID));                    \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, unary_vjp_t<T_>(c, e, in, g, din, BS_OP_##ID));            \
    }
BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1

/* ==== Bias + activation, fused (the plan feature supports_bias_act) ====
 * act(x + b) with b a row of W elements repeated over x's rows, for the activations ew_math.h
 * flags BS_EW_ACT: forward writes a = x + b and o = act(a) in one pass; backward writes
 * da = g * act'(a) and adds each column's sum of da into db (one thread a column). */

bool gpu_bias_act_ok(const bs_exec *add, const bs_exec *act)
{
    int fl = 0;
    switch (act->op) {
#define GPU_EW1(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                       \
    case BS_OP_##ID: fl = (FLAGS); break;
        BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1
    default: break;
    }
    if (add->op != BS_OP_ADD || !(fl & BS_EW_ACT) ||
        add->dtype != act->dtype || !bs_shape_eq(&add->in_shape[0], &add->out_shape) ||
        !bs_shape_eq(&act->out_shape, &add->out_shape))
        return false;
    const bs_shape *o = &add->out_shape, *b = &add->in_shape[1];
    int64_t w = bs_shape_numel(b);
    if (b->ndim < 1 || b->ndim > o->ndim || w < 1)
        return false;
    for (int k = 0; k < b->ndim; k++) /* b is the trailing dims of the output */
        if (b->d[b->ndim - 1 - k] != o->d[o->ndim - 1 - k])
            return false;
    return true;
}

template <class T> static bs_status bias_act_fwd_t(gpu_ctx *c, const bs_exec *add, const bs_exec *act)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)add->in[0], *b = (const T *)add->in[1];
    T *a = (T *)add->out, *o = (T *)act->out;
    int64_t w = bs_shape_numel(&add->in_shape[1]);
    A k = (A)act->attr.k, k2 = (A)act->attr.k2;
    int op = act->op;
    launch_grid(c, bs_shape_numel(&add->out_shape), [=] __device__(gpu_range r) {
        switch (op) {
#define GPU_EW1(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                           case BS_OP_##ID:                                                                                 if ((FLAGS) & BS_EW_ACT)                                                                         GPU_EACH(r, i)                                                                               {                                                                                                T s = tr<T>::st(tr<T>::ld(x[i]) + tr<T>::ld(b[i % w]));                                      a[i] = s;                                                                                    o[i] = tr<T>::st(u_##fn::f(tr<T>::ld(s), k, k2));                                        }                                                                                        break;
            BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1
        }
    });
    return BS_OK;
}

template <class T>
static bs_status bias_act_vjp_t(gpu_ctx *c, const bs_exec *add, const bs_exec *act, const void *g_, void *da_,
                                void *db_)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)add->out, *o = (const T *)act->out, *g = (const T *)g_;
    T *da = (T *)da_, *db = (T *)db_;
    int64_t n = bs_shape_numel(&add->out_shape), w = bs_shape_numel(&add->in_shape[1]);
    A k = (A)act->attr.k, k2 = (A)act->attr.k2;
    int op = act->op;
    launch_grid(c, n, [=] __device__(gpu_range r) {
        switch (op) {
#define GPU_EW1(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                           case BS_OP_##ID:                                                                                 if ((FLAGS) & BS_EW_ACT)                                                                         GPU_EACH(r, i) da[i] = tr<T>::st(u_##fn::d(tr<T>::ld(a[i]), tr<T>::ld(o[i]), tr<T>::ld(g[i]), k, k2));         break;
            BS_EW1_OPS(GPU_EW1)
#undef GPU_EW1
        }
    });
    if (db) {
        int64_t rows = n / w;
        launch_each(c, w, [=] __device__(int64_t j) {
            A s = 0;
            for (int64_t i = 0; i < rows; i++)
                s += tr<T>::ld(da[i * w + j]);
            db[j] = tr<T>::st(tr<T>::ld(db[j]) + s);
        });
    }
    return BS_OK;
}

bs_status gpu_bias_act_fwd(gpu_ctx *c, const bs_exec *add, const bs_exec *act)
{
    BS_GPU_DISPATCH(add->dtype, bias_act_fwd_t<T_>(c, add, act));
}

bs_status gpu_bias_act_vjp(gpu_ctx *c, const bs_exec *add, const bs_exec *act, const void *g, void *da, void *db)
{
    BS_GPU_DISPATCH(add->dtype, bias_act_vjp_t<T_>(c, add, act, g, da, db));
}

/* ==== Binary ops ====
 * f(a, b) the forward; d0(a, b, o, g) and d1(a, b, o, g) the contributions to da and db at one
 * output element (o the forward's output there), before the sum over broadcast dims. */

template <class Op, class T, class I>
static void binary_fwd_ti(gpu_ctx *c, const bs_exec *e, const T *a, const T *b, T *o)
{
    bc_map m = bc_make(&e->out_shape, &e->in_shape[0], &e->in_shape[1]);
    launch_each(c, bs_shape_numel(&e->out_shape), [=] __device__(int64_t i) {
        int64_t ia, ib;
        bc_offsets<I>(m, i, &ia, &ib);
        o[i] = tr<T>::st(Op::f(tr<T>::ld(a[ia]), tr<T>::ld(b[ib])));
    });
}

template <class Op, class T> static bs_status binary_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    const T *a = (const T *)in[0], *b = (const T *)in[1];
    T *o = (T *)e->out;
    if (bc_small(bs_shape_numel(&e->out_shape)))
        binary_fwd_ti<Op, T, uint32_t>(c, e, a, b, o);
    else
        binary_fwd_ti<Op, T, int64_t>(c, e, a, b, o);
    return BS_OK;
}

/* contribution of one output element to input `which`'s gradient */
template <class Op, class T, class I> struct ld_binary_vjp {
    const T *a, *b, *o, *g;
    bc_map m;
    int which;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        int64_t ia, ib;
        bc_offsets<I>(m, k, &ia, &ib);
        typename tr<T>::A x = tr<T>::ld(a[ia]), y = tr<T>::ld(b[ib]), ok = tr<T>::ld(o[k]),
                          gk = tr<T>::ld(g[k]);
        return which ? Op::d1(x, y, ok, gk) : Op::d0(x, y, ok, gk);
    }
};

template <class Op, class T, class I>
static bs_status binary_vjp_ti(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    ld_binary_vjp<Op, T, I> ld = {(const T *)in[0], (const T *)in[1], (const T *)e->out, (const T *)g,
                                  bc_make(&e->out_shape, &e->in_shape[0], &e->in_shape[1]), i};
    return accum_to_shape<T>(c, ld, &e->out_shape, &e->in_shape[i], (T *)din);
}

template <class Op, class T>
static bs_status binary_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    if (bc_small(bs_shape_numel(&e->out_shape)))
        return binary_vjp_ti<Op, T, uint32_t>(c, e, in, i, g, din);
    return binary_vjp_ti<Op, T, int64_t>(c, e, in, i, g, din);
}

#define BINARY_FN(fn, FWD, D0, D1)                                                           \
    struct b_##fn {                                                                          \
        template <class A> static __device__ __forceinline__ A f(A a, A b) { return FWD; }   \
        template <class A> static __device__ __forceinline__ A d0(A a, A b, A o, A g) { return D0; } \
        template <class A> static __device__ __forceinline__ A d1(A a, A b, A o, A g) { return D1; } \
    };                                                                                       \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, binary_fwd_t<b_##fn, T_>(c, e, in));                       \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, binary_vjp_t<b_##fn, T_>(c, e, in, i, g, din));            \
    }

/* every binary op of ew_math.h */
#define GPU_EW2(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) BINARY_FN(fn, FWD, VJP_A, VJP_B)
BS_EW2_OPS(GPU_EW2)
#undef GPU_EW2
