/* gpu/ops_ew.cu: elementwise ops on the GPU, forward and VJP side by side: binary ops broadcast
 * (NumPy rules, strides from bc_make) and their VJPs sum over the broadcast dims. */
#include "gpu_int.h"

/* ==== Unary ops ====
 * Each op is a struct: f(a, k) the forward, d(a, o, g, k) the VJP contribution g * d o/d a
 * (o is the forward's output, k the op's scalar attribute). */

template <class Op, class T> static bs_status unary_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)in[0];
    T *o = (T *)e->out;
    A k = (A)e->attr.k;
    launch_each(c, bs_shape_numel(&e->out_shape),
                [=] __device__(int64_t i) { o[i] = tr<T>::st(Op::f(tr<T>::ld(a[i]), k)); });
    return BS_OK;
}

/* da += g * f'(a), elementwise (same shape) */
template <class Op, class T>
static bs_status unary_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_, void *din_)
{
    typedef typename tr<T>::A A;
    const T *a = (const T *)in[0], *o = (const T *)e->out, *g = (const T *)g_;
    T *din = (T *)din_;
    A k = (A)e->attr.k;
    launch_each(c, bs_shape_numel(&e->in_shape[0]), [=] __device__(int64_t i) {
        A d = Op::d(tr<T>::ld(a[i]), tr<T>::ld(o[i]), tr<T>::ld(g[i]), k);
        din[i] = tr<T>::st(tr<T>::ld(din[i]) + d);
    });
    return BS_OK;
}

#define GPU_UNARY(fn)                                                                        \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, unary_fwd_t<u_##fn, T_>(c, e, in));                       \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, unary_vjp_t<u_##fn, T_>(c, e, in, g, din));               \
    }

#define UNARY_FN(fn, FWD, VJP)                                                               \
    struct u_##fn {                                                                          \
        template <class A> static __device__ __forceinline__ A f(A a, A k) { return FWD; }   \
        template <class A> static __device__ __forceinline__ A d(A a, A o, A g, A k)         \
        {                                                                                    \
            return VJP;                                                                      \
        }                                                                                    \
    };                                                                                       \
    GPU_UNARY(fn)

/* neg: o = -a;  da += -g */
UNARY_FN(neg, -a, -g)
/* relu: o = max(a, 0) (NaN stays NaN);  da += g * [o > 0] (0 at a = 0, PyTorch's threshold_backward) */
UNARY_FN(relu, a > A(0) ? a : (a != a ? a : A(0)), o <= A(0) ? A(0) : g)
/* leaky_relu: o = a > 0 ? a : k*a;  da += g * (a > 0 ? 1 : k) */
UNARY_FN(leaky_relu, a > A(0) ? a : a * k, a > A(0) ? g : g * k)
/* sigmoid: o = 1/(1 + e^-a) (stable for either sign);  da += g * o*(1 - o) */
UNARY_FN(sigmoid, a >= A(0) ? A(1) / (A(1) + m_exp(-a)) : m_exp(a) / (A(1) + m_exp(a)), g * o * (A(1) - o))
/* tanh: o = tanh(a);  da += g * (1 - o^2) */
UNARY_FN(tanh, m_tanh(a), g * (A(1) - o * o))
/* exp: o = e^a;  da += g * o */
UNARY_FN(exp, m_exp(a), g * o)
/* log: o = log(a);  da += g / a */
UNARY_FN(log, m_log(a), g / a)
/* sqrt: o = sqrt(a);  da += g / (2*o) */
UNARY_FN(sqrt, m_sqrt(a), g / (A(2) * o))
/* abs: o = |a|;  da += g * sign(a), sign(0) = 0 and sign(NaN) = NaN as PyTorch's sgn */
UNARY_FN(abs, m_abs(a), a > A(0) ? g : (a < A(0) ? -g : (a != a ? a : A(0))))
/* sin: o = sin(a);  da += g * cos(a) */
UNARY_FN(sin, m_sin(a), g * m_cos(a))
/* cos: o = cos(a);  da += -g * sin(a) */
UNARY_FN(cos, m_cos(a), -g * m_sin(a))

/* ==== Binary ops ====
 * f(a, b) the forward; d0(a, b, g) and d1(a, b, g) the contributions to da and db at one output
 * element, before the sum over broadcast dims. */

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
    const T *a, *b, *g;
    bc_map m;
    int which;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const
    {
        int64_t ia, ib;
        bc_offsets<I>(m, k, &ia, &ib);
        typename tr<T>::A x = tr<T>::ld(a[ia]), y = tr<T>::ld(b[ib]), gk = tr<T>::ld(g[k]);
        return which ? Op::d1(x, y, gk) : Op::d0(x, y, gk);
    }
};

template <class Op, class T, class I>
static bs_status binary_vjp_ti(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    ld_binary_vjp<Op, T, I> ld = {(const T *)in[0], (const T *)in[1], (const T *)g,
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
        template <class A> static __device__ __forceinline__ A d0(A a, A b, A g) { return D0; } \
        template <class A> static __device__ __forceinline__ A d1(A a, A b, A g) { return D1; } \
    };                                                                                       \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in)              \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, binary_fwd_t<b_##fn, T_>(c, e, in));                      \
    }                                                                                        \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,       \
                           const void *g, void *din)                                         \
    {                                                                                        \
        BS_GPU_DISPATCH(e->dtype, binary_vjp_t<b_##fn, T_>(c, e, in, i, g, din));           \
    }

/* add: o = a + b;  da += sum_bcast(g), db += sum_bcast(g) */
BINARY_FN(add, a + b, g, g)
/* sub: o = a - b;  da += sum_bcast(g), db += sum_bcast(-g) */
BINARY_FN(sub, a - b, g, -g)
/* mul: o = a * b;  da += sum_bcast(g*b), db += sum_bcast(g*a) */
BINARY_FN(mul, a * b, g * b, g * a)
/* div: o = a / b;  da += sum_bcast(g/b), db += sum_bcast(-g*a/b^2) (as -g*((a/b)/b), PyTorch) */
BINARY_FN(div, a / b, g / b, -g * ((a / b) / b))
/* pow: o = a^b;  da += sum_bcast(g * b * a^(b-1)) (0 where b == 0),
 *                db += sum_bcast(g * a^b * log(a)) (0 where a == 0 and b >= 0), as PyTorch */
BINARY_FN(pow, m_pow(a, b),
          b == A(0) ? A(0) : g * b * m_pow(a, b - A(1)),
          (a == A(0) && b >= A(0)) ? A(0) : g * m_pow(a, b) * m_log(a))
