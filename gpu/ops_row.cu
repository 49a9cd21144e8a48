/* gpu/ops_row.cu: row-wise ops (softmax, log_softmax, layernorm) and cross_entropy on the GPU,
 * forward and VJP side by side (the elementwise losses are in ops_loss.cu). A row is the run of
 * elements along one dim, taken by one warp (stride `inner` between its elements). */
#include "gpu_int.h"

#include <stdio.h>

/* ==== Rows ==== */

struct row_view {
    int64_t outer, D, inner; /* the tensor as (outer, D, inner), rows = outer*inner */
};

/* attr.dim as core reads it: BS_DIM_ALL means the last dim */
static row_view rows_along(const bs_shape *s, int dim)
{
    row_view v;
    if (dim == BS_DIM_ALL)
        dim = -1;
    gpu_split_dim(s, gpu_norm_dim(dim, s->ndim), &v.outer, &v.D, &v.inner);
    return v;
}

/* first element of row r */
static __device__ __forceinline__ int64_t row_base(const row_view &v, int64_t r)
{
    int64_t o = r / v.inner, i = r - o * v.inner;
    return o * v.D * v.inner + i;
}

/* max and sum of exp(x - max) over the row at base, every lane gets both */
template <class T>
static __device__ __forceinline__ void row_max_sumexp(const T *x, const row_view &v, int64_t base, const gpu_warp &w,
                                                      typename tr<T>::A *mx, typename tr<T>::A *se)
{
    typedef typename tr<T>::A A;
    A m = -(A)INFINITY;
    for (int64_t j = w.lane; j < v.D; j += w.width) {
        A a = tr<T>::ld(x[base + j * v.inner]);
        m = (a > m || a != a) ? a : m;
    }
    m = w.max(m);
    A s = 0;
    for (int64_t j = w.lane; j < v.D; j += w.width)
        s += m_exp(tr<T>::ld(x[base + j * v.inner]) - m);
    *mx = m;
    *se = w.sum(s);
}

/* ==== Softmax and log_softmax ==== */

/* softmax: y = exp(a - max) / sum(exp(a - max));  log_softmax: y = a - max - log(sum(exp(a - max))) */
template <class T> static bs_status softmax_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in, bool lg)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)in[0];
    T *y = (T *)e->out;
    row_view v = rows_along(&e->in_shape[0], e->attr.dim);
    launch_rows(c, v.outer * v.inner, [=] __device__(int64_t r, gpu_warp w) {
        int64_t base = row_base(v, r);
        A m, s;
        row_max_sumexp(x, v, base, w, &m, &s);
        A ls = m_log(s);
        for (int64_t j = w.lane; j < v.D; j += w.width) {
            A a = tr<T>::ld(x[base + j * v.inner]) - m;
            y[base + j * v.inner] = tr<T>::st(lg ? a - ls : m_exp(a) / s);
        }
    });
    return BS_OK;
}

/* softmax:     da += y * (g - sum(g*y, dim))
 * log_softmax: da += g - softmax(a) * sum(g, dim)   (softmax recomputed from a, as the CPU does:
 *              the saved output may have been rounded to bf16) */
template <class T>
static bs_status softmax_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_,
                               void *din_, bool lg)
{
    typedef typename tr<T>::A A;
    const T *y = (const T *)e->out, *x = (const T *)in[0], *g = (const T *)g_;
    T *din = (T *)din_;
    row_view v = rows_along(&e->in_shape[0], e->attr.dim);
    launch_rows(c, v.outer * v.inner, [=] __device__(int64_t r, gpu_warp w) {
        int64_t base = row_base(v, r);
        A m = 0, se = 1, s = 0;
        if (lg)
            row_max_sumexp(x, v, base, w, &m, &se);
        for (int64_t j = w.lane; j < v.D; j += w.width) {
            int64_t k = base + j * v.inner;
            s += lg ? tr<T>::ld(g[k]) : tr<T>::ld(g[k]) * tr<T>::ld(y[k]);
        }
        s = w.sum(s);
        for (int64_t j = w.lane; j < v.D; j += w.width) {
            int64_t k = base + j * v.inner;
            A gk = tr<T>::ld(g[k]);
            A d = lg ? gk - m_exp(tr<T>::ld(x[k]) - m) / se * s : tr<T>::ld(y[k]) * (gk - s);
            din[k] = tr<T>::st(tr<T>::ld(din[k]) + d);
        }
    });
    return BS_OK;
}

bs_status gpu_fwd_softmax(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, softmax_fwd_t<T_>(c, e, in, false));
}
bs_status gpu_vjp_softmax(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, softmax_vjp_t<T_>(c, e, in, g, din, false));
}
bs_status gpu_fwd_log_softmax(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, softmax_fwd_t<T_>(c, e, in, true));
}
bs_status gpu_vjp_log_softmax(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, softmax_vjp_t<T_>(c, e, in, g, din, true));
}

/* ==== Layernorm (last dim, no affine) ==== */

/* mean and 1/std of row r (biased variance, two passes) */
template <class T>
static __device__ __forceinline__ void row_moments(const T *x, const row_view &v, int64_t base, const gpu_warp &w,
                                                   typename tr<T>::A eps, typename tr<T>::A *mean,
                                                   typename tr<T>::A *rstd)
{
    typedef typename tr<T>::A A;
    A s = 0;
    for (int64_t j = w.lane; j < v.D; j += w.width)
        s += tr<T>::ld(x[base + j]);
    A mu = w.sum(s) / (A)v.D;
    A q = 0;
    for (int64_t j = w.lane; j < v.D; j += w.width) {
        A d = tr<T>::ld(x[base + j]) - mu;
        q += d * d;
    }
    A var = w.sum(q) / (A)v.D;
    *mean = mu;
    *rstd = (A)1 / m_sqrt(var + eps);
}

/* y = (a - mean) / sqrt(var + eps), along the last dim */
template <class T> static bs_status layernorm_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)in[0];
    T *y = (T *)e->out;
    row_view v = rows_along(&e->in_shape[0], -1);
    A eps = (A)e->attr.k;
    launch_rows(c, v.outer * v.inner, [=] __device__(int64_t r, gpu_warp w) {
        int64_t base = r * v.D;
        A mu, rs;
        row_moments(x, v, base, w, eps, &mu, &rs);
        for (int64_t j = w.lane; j < v.D; j += w.width)
            y[base + j] = tr<T>::st((tr<T>::ld(x[base + j]) - mu) * rs);
    });
    return BS_OK;
}

/* xhat = (a - mean) * rstd:  da += (g - mean(g) - xhat * mean(g * xhat)) * rstd */
template <class T>
static bs_status layernorm_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_, void *din_)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)in[0], *g = (const T *)g_;
    T *din = (T *)din_;
    row_view v = rows_along(&e->in_shape[0], -1);
    A eps = (A)e->attr.k;
    launch_rows(c, v.outer * v.inner, [=] __device__(int64_t r, gpu_warp w) {
        int64_t base = r * v.D;
        A mu, rs;
        row_moments(x, v, base, w, eps, &mu, &rs);
        A sg = 0, sgx = 0;
        for (int64_t j = w.lane; j < v.D; j += w.width) {
            A gj = tr<T>::ld(g[base + j]);
            sg += gj;
            sgx += gj * (tr<T>::ld(x[base + j]) - mu) * rs;
        }
        A mg = w.sum(sg) / (A)v.D, mgx = w.sum(sgx) / (A)v.D;
        for (int64_t j = w.lane; j < v.D; j += w.width) {
            A xh = (tr<T>::ld(x[base + j]) - mu) * rs;
            A d = (tr<T>::ld(g[base + j]) - mg - xh * mgx) * rs;
            din[base + j] = tr<T>::st(tr<T>::ld(din[base + j]) + d);
        }
    });
    return BS_OK;
}

bs_status gpu_fwd_layernorm(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, layernorm_fwd_t<T_>(c, e, in));
}
bs_status gpu_vjp_layernorm(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, layernorm_vjp_t<T_>(c, e, in, g, din));
}

/* ==== Cross entropy ====
 * Logits x with the classes along dim 1 (dim 0 for 1-D logits): (C), (N, C) or (N, C, d...); a row
 * is one (n, d...) position. Targets are either class indices (int32 on the device, x's shape
 * without the class dim; -100 is ignored, PyTorch's ignore_index) with W = the rows not ignored:
 *   L = sum_rows (logsumexp(x_row) - x_row[t]) / W;   dx_row += g * (softmax(x_row) - onehot(t)) / W
 * or class probabilities (float, x's shape) with W = the number of rows:
 *   L = -sum_rows sum_c t_c * log_softmax(x_row)_c / W;   dx_row += g * (softmax(x_row) * sum(t_row) - t_row) / W */

#define XENT_IGNORE (-100)

static row_view xent_view(const bs_shape *s)
{
    row_view v;
    gpu_split_dim(s, s->ndim == 1 ? 0 : 1, &v.outer, &v.D, &v.inner);
    return v;
}

static bool xent_probs(const bs_exec *e) { return e->in_dtype[1] != BS_I64; }

template <class T> struct st_div { /* out[k] = v / w[0] */
    T *p;
    const typename tr<T>::A *w;
    __device__ __forceinline__ void operator()(int64_t k, typename tr<T>::A v) const { p[k] = tr<T>::st(v / w[0]); }
};

/* W[0] = the rows whose class index is not ignored */
template <class A> static bs_status xent_weight(gpu_ctx *c, const int32_t *cls, int64_t rows, A *W)
{
    st_acc<A> sw = {W};
    return red_all<A, c_sum<A>>(c, [=] __device__(int64_t r) { return cls[r] != XENT_IGNORE ? A(1) : A(0); },
                                sw, rows);
}

template <class T> static bs_status xent_fwd_t(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)in[0];
    row_view v = xent_view(&e->in_shape[0]);
    int64_t rows = v.outer * v.inner;
    A *rl = (A *)gpu_tmp_alloc(c, (size_t)(rows + 1) * sizeof(A)); /* per-row losses, then W */
    if (!rl)
        return BS_ERR_NOMEM;
    A *W = rl + rows;
    bs_status s;
    ld_acc<A> ld = {rl};
    if (xent_probs(e)) {
        const T *t = (const T *)in[1];
        launch_rows(c, rows, [=] __device__(int64_t r, gpu_warp w) {
            int64_t base = row_base(v, r);
            A m, se;
            row_max_sumexp(x, v, base, w, &m, &se);
            A lse = m + m_log(se), acc = 0;
            for (int64_t j = w.lane; j < v.D; j += w.width) {
                int64_t k = base + j * v.inner;
                acc += tr<T>::ld(t[k]) * (tr<T>::ld(x[k]) - lse);
            }
            acc = w.sum(acc);
            if (w.lane == 0)
                rl[r] = -acc;
        });
        st_write<T> st = {(T *)e->out, (A)(1.0 / (double)rows)};
        s = red_all<A, c_sum<A>>(c, ld, st, rows);
        gpu_tmp_free(c, rl);
        return s;
    }
    const int32_t *cls = (const int32_t *)in[1];
    int *flag = c->d_flag;
    launch_rows(c, rows, [=] __device__(int64_t r, gpu_warp w) {
        int64_t base = row_base(v, r);
        int64_t t = cls[r]; /* rows are in (outer, inner) order, the target's order */
        if (t == XENT_IGNORE) {
            if (w.lane == 0)
                rl[r] = 0;
            return;
        }
        A m, se;
        row_max_sumexp(x, v, base, w, &m, &se);
        if (w.lane == 0) {
            if (t < 0 || t >= v.D) {
                flag[1] = (int)t;
                flag[0] = GPU_FLAG_CLASS;
                rl[r] = 0;
            } else {
                rl[r] = m + m_log(se) - tr<T>::ld(x[base + t * v.inner]);
            }
        }
    });
    s = xent_weight<A>(c, cls, rows, W);
    if (s == BS_OK) {
        st_div<T> st = {(T *)e->out, W};
        s = red_all<A, c_sum<A>>(c, ld, st, rows);
    }
    gpu_tmp_free(c, rl);
    if (s != BS_OK)
        return s;
    int code = 0;
    int64_t value = 0;
    s = gpu_take_flag(c, &code, &value);
    if (s == BS_OK && code) {
        snprintf(c->msg, sizeof c->msg, "Target %lld is out of bounds.", (long long)value);
        return BS_ERR_VALUE;
    }
    return s;
}

template <class T> static bs_status xent_vjp_t(gpu_ctx *c, const bs_exec *e, const void *const *in, const void *g_, void *din_)
{
    typedef typename tr<T>::A A;
    const T *x = (const T *)in[0], *g = (const T *)g_;
    T *din = (T *)din_;
    row_view v = xent_view(&e->in_shape[0]);
    int64_t rows = v.outer * v.inner;
    if (xent_probs(e)) {
        const T *t = (const T *)in[1];
        A inv_rows = (A)(1.0 / (double)rows);
        launch_rows(c, rows, [=] __device__(int64_t r, gpu_warp w) {
            int64_t base = row_base(v, r);
            A m, se, S = 0;
            row_max_sumexp(x, v, base, w, &m, &se);
            for (int64_t j = w.lane; j < v.D; j += w.width)
                S += tr<T>::ld(t[base + j * v.inner]);
            S = w.sum(S);
            A wt = tr<T>::ld(g[0]) * inv_rows;
            for (int64_t j = w.lane; j < v.D; j += w.width) {
                int64_t k = base + j * v.inner;
                A p = m_exp(tr<T>::ld(x[k]) - m) / se;
                din[k] = tr<T>::st(tr<T>::ld(din[k]) + wt * (p * S - tr<T>::ld(t[k])));
            }
        });
        return BS_OK;
    }
    const int32_t *cls = (const int32_t *)in[1];
    A *W = (A *)gpu_tmp_alloc(c, sizeof(A));
    if (!W)
        return BS_ERR_NOMEM;
    bs_status s = xent_weight<A>(c, cls, rows, W);
    if (s == BS_OK)
        launch_rows(c, rows, [=] __device__(int64_t r, gpu_warp w) {
            int64_t t = cls[r];
            if (t < 0 || t >= v.D) /* ignored (or out of range: the forward said so) */
                return;
            int64_t base = row_base(v, r);
            A m, se;
            row_max_sumexp(x, v, base, w, &m, &se);
            A wt = tr<T>::ld(g[0]) / W[0];
            for (int64_t j = w.lane; j < v.D; j += w.width) {
                int64_t k = base + j * v.inner;
                A p = m_exp(tr<T>::ld(x[k]) - m) / se;
                din[k] = tr<T>::st(tr<T>::ld(din[k]) + wt * (p - (j == t ? A(1) : A(0))));
            }
        });
    gpu_tmp_free(c, W);
    return s;
}

bs_status gpu_fwd_cross_entropy(gpu_ctx *c, const bs_exec *e, const void *const *in)
{
    BS_GPU_DISPATCH(e->dtype, xent_fwd_t<T_>(c, e, in));
}
bs_status gpu_vjp_cross_entropy(gpu_ctx *c, const bs_exec *e, const void *const *in, int i, const void *g, void *din)
{
    BS_GPU_DISPATCH(e->dtype, xent_vjp_t<T_>(c, e, in, g, din));
}
