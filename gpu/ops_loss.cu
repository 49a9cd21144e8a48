/* gpu/ops_loss.cu: the mean-reduced elementwise losses (mse, bce, bce_with_logits) on the GPU,
 * forward and VJP side by side. Apart from ops_row.cu so that the two compile in parallel (their
 * broadcasting reductions are most of the backend's device code). */
#include "gpu_int.h"

#include <stdio.h>

/* ==== Elementwise losses: mean over the broadcast shape of f(a, b) ====
 * Each loss is a struct: f(a, b) the term, d0/d1(a, b) its derivatives by a and b. The VJP of
 * input i is  g * d_i(a, b) / n, summed over the dims input i was broadcast along. */

template <class Op, class T, class I> struct ld_loss {
    const T *a, *b;
    bc_map m;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        int64_t ia, ib;
        bc_offsets<I>(m, k, &ia, &ib);
        return Op::f(tr<T>::ld(a[ia]), tr<T>::ld(b[ib]));
    }
};

template <class Op, class T, class I> struct ld_loss_vjp {
    const T *a, *b, *g;
    bc_map m;
    int which;
    typename tr<T>::A inv_n;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        int64_t ia, ib;
        bc_offsets<I>(m, k, &ia, &ib);
        typename tr<T>::A x = tr<T>::ld(a[ia]), y = tr<T>::ld(b[ib]);
        return tr<T>::ld(g[0]) * inv_n * (which ? Op::d1(x, y) : Op::d0(x, y));
    }
};

static bs_status loss_shape(gpu_ctx *c, const bs_exec *e, bs_shape *s)
{
    if (!bs_shape_broadcast(&e->in_shape[0], &e->in_shape[1], s)) {
        snprintf(c->msg, sizeof c->msg, "%s: input and target shapes do not broadcast", bs_ops[e->op].name);
        return BS_ERR_SHAPE;
    }
    return BS_OK;
}

template <class Op, class T, class I> static bs_status loss_fwd_ti(gpu_ctx *c, const bs_exec *e, const void *const *in, const bs_shape *s)
{
    typedef typename tr<T>::A A;
    int64_t n = bs_shape_numel(s);
    ld_loss<Op, T, I> ld = {(const T *)in[0], (const T *)in[1], bc_make(s, &e->in_shape[0], &e->in_shape[1])};
    st_write<T> st = {(T *)e->out, (A)(1.0 / (double)n)};
    return red_all<A, c_sum<A>>(c, ld, st, n);
}

template <class Op, class T> static bs_status loss_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    typedef typename tr<T>::A A;
    bs_shape s;
    bs_status st = loss_shape(c, e, &s);
    if (st != BS_OK)
        return st;
    if (Op::checks) { /* inputs outside the domain are a value error, as on the CPU */
        const T *a = (const T *)in[0];
        int *flag = c->d_flag;
        launch_each(c, bs_shape_numel(&e->in_shape[0]), [=] __device__(int64_t k) {
            if (!Op::ok(tr<T>::ld(a[k])))
                flag[0] = GPU_FLAG_DOMAIN;
        });
    }
    if (bc_small(bs_shape_numel(&s)))
        st = loss_fwd_ti<Op, T, uint32_t>(c, e, in, &s);
    else
        st = loss_fwd_ti<Op, T, int64_t>(c, e, in, &s);
    if (st != BS_OK || !Op::checks)
        return st;
    int code = 0;
    int64_t value = 0;
    st = gpu_take_flag(c, &code, &value);
    if (st == BS_OK && code) {
        snprintf(c->msg, sizeof c->msg, "all elements of input should be between 0 and 1");
        return BS_ERR_VALUE;
    }
    (void)sizeof(A);
    return st;
}

template <class Op, class T, class I>
static bs_status loss_vjp_ti(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din, const bs_shape *s)
{
    typedef typename tr<T>::A A;
    ld_loss_vjp<Op, T, I> ld = {(const T *)in[0], (const T *)in[1], (const T *)g,
                                bc_make(s, &e->in_shape[0], &e->in_shape[1]), i,
                                (A)(1.0 / (double)bs_shape_numel(s))};
    return accum_to_shape<T>(c, ld, s, &e->in_shape[i], (T *)din);
}

template <class Op, class T>
static bs_status loss_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    bs_shape s;
    bs_status st = loss_shape(c, e, &s);
    if (st != BS_OK)
        return st;
    if (bc_small(bs_shape_numel(&s)))
        return loss_vjp_ti<Op, T, uint32_t>(c, e, in, i, g, din, &s);
    return loss_vjp_ti<Op, T, int64_t>(c, e, in, i, g, din, &s);
}

#define LOSS_FN(fn, CHECK, F, D0, D1)                                                        \
    struct l_##fn {                                                                          \
        static const bool checks = CHECK;                                                    \
        template <class A> static __device__ __forceinline__ bool ok(A a)                    \
        {                                                                                    \
            return !CHECK || (a >= A(0) && a <= A(1));                                       \
        }                                                                                    \
        template <class A> static __device__ __forceinline__ A f(A a, A b) { return F; }     \
        template <class A> static __device__ __forceinline__ A d0(A a, A b) { return D0; }   \
        template <class A> static __device__ __forceinline__ A d1(A a, A b) { return D1; }   \
    };                                                                                       \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, loss_fwd_t<l_##fn, T_>(c, e, in));                        \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, loss_vjp_t<l_##fn, T_>(c, e, in, i, g, din));             \
    }

/* mse: mean((a - b)^2);  da: 2(a - b)/n,  db: -2(a - b)/n */
LOSS_FN(mse, false, (a - b) * (a - b), A(2) * (a - b), A(-2) * (a - b))

/* bce (p = a, t = b): mean(-(t*log(p) + (1-t)*log(1-p))), logs clamped at -100 as PyTorch,
 * p outside [0, 1] a value error;
 * dp: (p - t) / max(p(1-p), 1e-12) / n  (= (-t/p + (1-t)/(1-p))/n),  dt: (log(1-p) - log(p)) / n */
LOSS_FN(bce, true,
        -(b * m_max(m_log(a), A(-100)) + (A(1) - b) * m_max(m_log1p(-a), A(-100))),
        (a - b) / m_max(a * (A(1) - a), A(1e-12)),
        m_max(m_log1p(-a), A(-100)) - m_max(m_log(a), A(-100)))

/* bce_with_logits (z = a, t = b): mean(max(z, 0) - z*t + log(1 + exp(-|z|))) (stable);
 * dz: (sigmoid(z) - t)/n,  dt: -z/n */
LOSS_FN(bce_with_logits, false,
        m_max(a, A(0)) - a * b + m_log1p(m_exp(-m_abs(a))),
        (a >= A(0) ? A(1) / (A(1) + m_exp(-a)) : m_exp(a) / (A(1) + m_exp(a))) - b,
        -a)
