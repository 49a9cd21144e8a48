/* gpu/backend_gpu.cu: the "gpu" backend: device setup, buffers, host transfers, the op table
 * (an X-macro over core/ops.def), dispatch with dtype checks, accumulation and optimizer steps. */
#include "gpu_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== The op table ==== */

struct gpu_op_entry {
    gpu_fwd_fn fwd;
    gpu_vjp_fn vjp;
};

/* One row per line of ops.def, in its order (the bs_op enum's order). An op without
 * gpu_fwd_<fn>/gpu_vjp_<fn> in gpu/ops_*.cu leaves an undefined reference: the build fails. */
static const gpu_op_entry gpu_op_table[] = {
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, dc, help) {gpu_fwd_##fn, gpu_vjp_##fn},
#include "ops.def"
#undef BS_OP
};
static_assert(sizeof gpu_op_table / sizeof gpu_op_table[0] == BS_OP_COUNT,
              "gpu_op_table must have one entry per op of ops.def");

static bool dtype_ok(bs_dtype t) { return t == BS_F32 || t == BS_BF16 || t == BS_F64; }

/* ==== Errors and scratch memory ==== */

bs_status gpu_cuda_status(gpu_ctx *c, cudaError_t err, const char *what)
{
    if (err == cudaSuccess)
        return BS_OK;
    snprintf(c->msg, sizeof c->msg, "%s: %s", what, cudaGetErrorString(err));
    switch (err) {
    case cudaErrorMemoryAllocation:
        return BS_ERR_NOMEM;
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorInvalidDeviceFunction:
    case cudaErrorUnsupportedPtxVersion:
        return BS_ERR_UNSUPPORTED;
    default:
        return BS_ERR_STATE;
    }
}

bs_status gpu_blas_status(gpu_ctx *c, cublasStatus_t st, const char *what)
{
    if (st == CUBLAS_STATUS_SUCCESS)
        return BS_OK;
    snprintf(c->msg, sizeof c->msg, "%s: %s", what, cublasGetStatusString(st));
    switch (st) {
    case CUBLAS_STATUS_ALLOC_FAILED:
        return BS_ERR_NOMEM;
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return BS_ERR_UNSUPPORTED;
    default:
        return BS_ERR_STATE;
    }
}

void *gpu_tmp_alloc(gpu_ctx *c, size_t bytes)
{
    void *p = NULL;
    cudaError_t err = cudaMallocAsync(&p, bytes ? bytes : 16, c->stream);
    if (err != cudaSuccess) {
        cudaGetLastError(); /* not sticky: clear it */
        snprintf(c->msg, sizeof c->msg, "scratch of %zu bytes: %s", bytes, cudaGetErrorString(err));
        return NULL;
    }
    return p;
}

void gpu_tmp_free(gpu_ctx *c, void *p)
{
    if (p)
        cudaFreeAsync(p, c->stream);
}

/* ==== Broadcast maps ==== */

bc_map bc_make(const bs_shape *out, const bs_shape *a, const bs_shape *b)
{
    const bs_shape *in[2] = {a, b ? b : a};
    int nd = out->ndim;
    int64_t s[2][BS_MAX_DIMS];
    for (int t = 0; t < 2; t++) {
        int64_t stride = 1;
        for (int k = nd - 1; k >= 0; k--) {
            int ki = k - (nd - in[t]->ndim);
            int64_t dk = ki >= 0 ? in[t]->d[ki] : 1;
            s[t][k] = dk == 1 ? 0 : stride;
            stride *= dk;
        }
    }
    bc_map m;
    memset(&m, 0, sizeof m);
    for (int k = 0; k < nd; k++) {
        int64_t dk = out->d[k];
        if (dk == 1)
            continue;
        int p = m.nd - 1;
        if (p >= 0 && m.s[0][p] == s[0][k] * dk && m.s[1][p] == s[1][k] * dk) {
            m.d[p] *= dk; /* dims p and k walk both inputs as one dim */
            m.s[0][p] = s[0][k];
            m.s[1][p] = s[1][k];
        } else {
            m.d[m.nd] = dk;
            m.s[0][m.nd] = s[0][k];
            m.s[1][m.nd] = s[1][k];
            m.nd++;
        }
    }
    if (m.nd == 0) {
        m.nd = 1;
        m.d[0] = 1;
    }
    return m;
}

/* ==== Device setup ==== */

#ifndef GPU_EMU
static __global__ void k_probe(int *flag)
{
    flag[0] = GPU_FLAG_NONE;
    flag[1] = 0;
}
#endif

bs_status gpu_take_flag(gpu_ctx *c, int *code, int64_t *value)
{
    int h[2] = {0, 0};
    cudaError_t e = cudaMemcpyAsync(h, c->d_flag, sizeof h, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess && h[0] != GPU_FLAG_NONE)
        e = cudaMemsetAsync(c->d_flag, 0, sizeof h, c->stream);
    *code = h[0];
    *value = h[1];
    return gpu_cuda_status(c, e, "reading the value-error flag");
}

static gpu_ctx *ctx_of(const bs_backend *b) { return (gpu_ctx *)b->impl; }

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
}

static void ctx_destroy(gpu_ctx *c)
{
    if (!c)
        return;
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    if (c->d_flag)
        cudaFree(c->d_flag);
    if (c->blas)
        cublasDestroy(c->blas);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    cudaGetLastError();
    free(c);
}

static bs_status gpu_open(bs_backend *b, char *err, size_t errlen)
{
    if (b->impl)
        return BS_OK;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        set_err(err, errlen, "no CUDA device: %s%s",
                e != cudaSuccess ? cudaGetErrorString(e) : "no device found", "");
        cudaGetLastError();
        return BS_ERR_UNSUPPORTED;
    }
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        set_err(err, errlen, "no CUDA device: %s%s", cudaGetErrorString(e), "");
        cudaGetLastError();
        return BS_ERR_UNSUPPORTED;
    }
    gpu_ctx *c = (gpu_ctx *)calloc(1, sizeof *c);
    if (!c) {
        set_err(err, errlen, "%s%s", "out of host memory", "");
        return BS_ERR_NOMEM;
    }
    c->device = 0;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaMalloc((void **)&c->d_flag, 2 * sizeof(int))) != cudaSuccess) {
        set_err(err, errlen, "CUDA device unusable: %s%s", cudaGetErrorString(e), "");
        ctx_destroy(c);
        return BS_ERR_UNSUPPORTED;
    }
    /* kernels built for this architecture (or PTX it can JIT)? */
#ifndef GPU_EMU
    k_probe<<<1, 1, 0, c->stream>>>(c->d_flag);
    e = cudaGetLastError();
#else
    e = cudaMemsetAsync(c->d_flag, 0, 2 * sizeof(int), c->stream);
#endif
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) {
        char what[160];
        snprintf(what, sizeof what, "CUDA kernels do not run on %.100s (sm_%d%d)", prop.name, prop.major,
                 prop.minor);
        set_err(err, errlen, "%s: %s", what, cudaGetErrorString(e));
        ctx_destroy(c);
        return BS_ERR_UNSUPPORTED;
    }
    /* keep scratch memory in the stream-ordered pool between ops instead of returning it */
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess) {
        uint64_t keep = UINT64_MAX;
        cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    cudaGetLastError();
    cublasStatus_t bst = cublasCreate(&c->blas);
    if (bst == CUBLAS_STATUS_SUCCESS)
        bst = cublasSetStream(c->blas, c->stream);
    if (bst != CUBLAS_STATUS_SUCCESS) {
        set_err(err, errlen, "cuBLAS: %s%s", cublasGetStatusString(bst), "");
        ctx_destroy(c);
        return BS_ERR_UNSUPPORTED;
    }
    snprintf(b->device, sizeof b->device, "%.96s (sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    b->impl = c;
    return BS_OK;
}

static void gpu_close(bs_backend *b)
{
    ctx_destroy(ctx_of(b));
    b->impl = NULL;
}

static bool gpu_supports_dtype(const bs_backend *b, bs_dtype t) { return dtype_ok(t); }

/* from the op table: an op is supported when it has both functions (always, by construction) */
static bool gpu_supports(const bs_backend *b, bs_op op, bs_dtype t)
{
    if ((int)op < 0 || op >= BS_OP_COUNT || !dtype_ok(t))
        return false;
    return gpu_op_table[op].fwd && gpu_op_table[op].vjp;
}

/* ==== Buffers and transfers ==== */

static size_t elem_size(bs_dtype t)
{
    switch (t) {
    case BS_F64: return 8;
    case BS_F32: return 4;
    case BS_BF16: return 2;
    case BS_I64: return 4; /* int32 on the device */
    default: return 0;
    }
}

static void *gpu_alloc(bs_backend *b, size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 16);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (ctx_of(b))
            gpu_cuda_status(ctx_of(b), e, "alloc");
        return NULL;
    }
    return p;
}

static void gpu_free(bs_backend *b, void *p)
{
    if (p)
        cudaFree(p);
}

static bs_status gpu_upload(bs_backend *b, void *dst, const double *src, int64_t n, bs_dtype t)
{
    gpu_ctx *c = ctx_of(b);
    size_t es = elem_size(t);
    if (!c)
        return BS_ERR_STATE;
    if (!es)
        return BS_ERR_UNSUPPORTED;
    if (n <= 0)
        return BS_OK;
    void *h = malloc((size_t)n * es);
    if (!h) {
        snprintf(c->msg, sizeof c->msg, "upload: out of host memory");
        return BS_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case BS_F64: ((double *)h)[i] = src[i]; break;
        case BS_F32: ((float *)h)[i] = (float)src[i]; break;
        case BS_BF16: ((bf16 *)h)[i] = __double2bfloat16(src[i]); break;
        default: {
            double v = src[i];
            if (!(v >= -2147483648.0 && v <= 2147483647.0) || v != floor(v)) {
                snprintf(c->msg, sizeof c->msg, "upload: %g is not an int32 index", v);
                free(h);
                return BS_ERR_VALUE;
            }
            ((int32_t *)h)[i] = (int32_t)v;
        }
        }
    }
    cudaError_t e = cudaMemcpyAsync(dst, h, (size_t)n * es, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    free(h);
    return gpu_cuda_status(c, e, "upload");
}

static bs_status gpu_download(bs_backend *b, double *dst, const void *src, int64_t n, bs_dtype t)
{
    gpu_ctx *c = ctx_of(b);
    size_t es = elem_size(t);
    if (!c)
        return BS_ERR_STATE;
    if (!es)
        return BS_ERR_UNSUPPORTED;
    if (n <= 0)
        return BS_OK;
    void *h = malloc((size_t)n * es);
    if (!h) {
        snprintf(c->msg, sizeof c->msg, "download: out of host memory");
        return BS_ERR_NOMEM;
    }
    cudaError_t e = cudaMemcpyAsync(h, src, (size_t)n * es, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) {
        for (int64_t i = 0; i < n; i++) {
            switch (t) {
            case BS_F64: dst[i] = ((double *)h)[i]; break;
            case BS_F32: dst[i] = ((float *)h)[i]; break;
            case BS_BF16: dst[i] = __bfloat162float(((bf16 *)h)[i]); break;
            default: dst[i] = ((int32_t *)h)[i]; break;
            }
        }
    }
    free(h);
    return gpu_cuda_status(c, e, "download");
}

template <class T> static bs_status fill_t(gpu_ctx *c, void *dst, double v, int64_t n)
{
    T *p = (T *)dst;
    typename tr<T>::A x = (typename tr<T>::A)v;
    launch_each(c, n, [=] __device__(int64_t i) { p[i] = tr<T>::st(x); });
    return BS_OK;
}

static bs_status gpu_fill(bs_backend *b, void *dst, double v, int64_t n, bs_dtype t)
{
    gpu_ctx *c = ctx_of(b);
    if (!c)
        return BS_ERR_STATE;
    bs_status s = BS_OK;
    if (t == BS_I64) {
        int32_t *p = (int32_t *)dst;
        int32_t x = (int32_t)v;
        launch_each(c, n, [=] __device__(int64_t i) { p[i] = x; });
    } else if (dtype_ok(t)) {
        switch (t) {
        case BS_F32: s = fill_t<float>(c, dst, v, n); break;
        case BS_F64: s = fill_t<double>(c, dst, v, n); break;
        default: s = fill_t<bf16>(c, dst, v, n); break;
        }
    } else {
        return BS_ERR_UNSUPPORTED;
    }
    return s != BS_OK ? s : gpu_cuda_status(c, cudaGetLastError(), "fill");
}

/* ==== Dispatch ==== */

/* int32 class indices -> T, for ops that read integer tensors as numbers */
template <class T> static bs_status int_to_float_t(gpu_ctx *c, const void *src, void **dst, int64_t n)
{
    T *o = (T *)gpu_tmp_alloc(c, (size_t)n * sizeof(T));
    if (!o)
        return BS_ERR_NOMEM;
    const int32_t *x = (const int32_t *)src;
    launch_each(c, n, [=] __device__(int64_t i) { o[i] = tr<T>::st((typename tr<T>::A)x[i]); });
    *dst = o;
    return BS_OK;
}

static bs_status int_to_float(gpu_ctx *c, bs_dtype t, const void *src, void **dst, int64_t n)
{
    BS_GPU_DISPATCH(t, int_to_float_t<T_>(c, src, dst, n));
}

/* e->in with integer inputs converted to e->dtype, except indices (BS_F_INDEX1: cross_entropy's
 * class indices, index_select's index), which stay int32 */
static bs_status prep_inputs(gpu_ctx *c, const bs_exec *e, const void **in, void **tmp)
{
    for (int i = 0; i < BS_MAX_INPUTS; i++) {
        in[i] = NULL;
        tmp[i] = NULL;
    }
    if (e->nin != bs_ops[e->op].arity) {
        snprintf(c->msg, sizeof c->msg, "%s takes %d inputs, got %d", bs_ops[e->op].name,
                 bs_ops[e->op].arity, e->nin);
        return BS_ERR_ARG;
    }
    for (int i = 0; i < e->nin; i++) {
        bool indices = (bs_ops[e->op].flags & BS_F_INDEX1) && i == 1;
        if (indices && e->in_dtype[i] == BS_I64) { /* indices stay int32 */
            in[i] = e->in[i];
        } else if (e->in_dtype[i] == e->dtype) {
            in[i] = e->in[i];
        } else if (e->in_dtype[i] == BS_I64) {
            bs_status s = int_to_float(c, e->dtype, e->in[i], &tmp[i], bs_shape_numel(&e->in_shape[i]));
            if (s != BS_OK)
                return s;
            in[i] = tmp[i];
        } else {
            snprintf(c->msg, sizeof c->msg, "%s: input %d is %s, the op runs in %s", bs_ops[e->op].name,
                     i, bs_dtype_name(e->in_dtype[i]), bs_dtype_name(e->dtype));
            return BS_ERR_TYPE;
        }
    }
    return BS_OK;
}

static bs_status check_exec(gpu_ctx *c, const bs_exec *e)
{
    if (!c)
        return BS_ERR_STATE;
    if ((int)e->op < 0 || e->op >= BS_OP_COUNT) {
        snprintf(c->msg, sizeof c->msg, "unknown op %d", (int)e->op);
        return BS_ERR_ARG;
    }
    if (!dtype_ok(e->dtype)) {
        snprintf(c->msg, sizeof c->msg, "%s: no %s kernels", bs_ops[e->op].name, bs_dtype_name(e->dtype));
        return BS_ERR_UNSUPPORTED;
    }
    return BS_OK;
}

static bs_status gpu_forward(bs_backend *b, const bs_exec *e)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = check_exec(c, e);
    if (s != BS_OK)
        return s;
    const void *in[BS_MAX_INPUTS];
    void *tmp[BS_MAX_INPUTS];
    s = prep_inputs(c, e, in, tmp);
    if (s == BS_OK)
        s = gpu_op_table[e->op].fwd(c, e, in);
    if (s == BS_OK)
        s = gpu_cuda_status(c, cudaGetLastError(), bs_ops[e->op].name);
    for (int i = 0; i < BS_MAX_INPUTS; i++)
        gpu_tmp_free(c, tmp[i]);
    return s;
}

static bs_status gpu_vjp(bs_backend *b, const bs_exec *e, int i, const void *g, void *din)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = check_exec(c, e);
    if (s != BS_OK)
        return s;
    if (i < 0 || i >= e->nin || i >= BS_MAX_INPUTS || !bs_ops[e->op].deriv[i] || e->in_dtype[i] == BS_I64) {
        snprintf(c->msg, sizeof c->msg, "%s: input %d has no gradient", bs_ops[e->op].name, i);
        return BS_ERR_ARG;
    }
    const void *in[BS_MAX_INPUTS];
    void *tmp[BS_MAX_INPUTS];
    s = prep_inputs(c, e, in, tmp);
    if (s == BS_OK)
        s = gpu_op_table[e->op].vjp(c, e, in, i, g, din);
    if (s == BS_OK)
        s = gpu_cuda_status(c, cudaGetLastError(), bs_ops[e->op].grad_fn);
    for (int k = 0; k < BS_MAX_INPUTS; k++)
        gpu_tmp_free(c, tmp[k]);
    return s;
}

/* ==== Accumulation ==== */

template <class T> static bs_status accumulate_t(gpu_ctx *c, void *dst, const void *src, int64_t n)
{
    T *d = (T *)dst;
    const T *x = (const T *)src;
    launch_each(c, n, [=] __device__(int64_t i) { d[i] = tr<T>::st(tr<T>::ld(d[i]) + tr<T>::ld(x[i])); });
    return BS_OK;
}

static bs_status gpu_accumulate(bs_backend *b, void *dst, const void *src, int64_t n, bs_dtype t)
{
    gpu_ctx *c = ctx_of(b);
    if (!c)
        return BS_ERR_STATE;
    bs_status s;
    switch (t) {
    case BS_F32: s = accumulate_t<float>(c, dst, src, n); break;
    case BS_F64: s = accumulate_t<double>(c, dst, src, n); break;
    case BS_BF16: s = accumulate_t<bf16>(c, dst, src, n); break;
    default: return BS_ERR_UNSUPPORTED;
    }
    return s != BS_OK ? s : gpu_cuda_status(c, cudaGetLastError(), "accumulate");
}

/* ==== Optimizer steps (torch.optim's single-tensor formulas) ====
 * SGD:  d = g + wd*p;  with momentum: buf = d at t == 1, else buf = mu*buf + (1 - dampening)*d,
 *       d = nesterov ? d + mu*buf : buf;  p -= lr*d
 * Adam: d = g + wd*p;  m = b1*m + (1-b1)*d;  v = b2*v + (1-b2)*d^2;
 *       p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps)
 * State lives in the parameter's dtype; the rounded state is what the update uses, as in torch. */
template <class T>
static bs_status opt_t(gpu_ctx *c, const bs_opt_conf *cf, int64_t t, void *p_, const void *g_,
                       void *m_, void *v_, int64_t n)
{
    typedef typename tr<T>::A A;
    T *p = (T *)p_, *m = (T *)m_, *v = (T *)v_;
    const T *g = (const T *)g_;
    A lr = (A)cf->lr, wd = (A)cf->weight_decay;
    if (cf->kind == BS_OPT_SGD) {
        A mu = (A)cf->momentum, damp = (A)cf->dampening;
        bool nesterov = cf->nesterov, first = t <= 1;
        if (mu != 0 && !m)
            return BS_ERR_ARG;
        launch_each(c, n, [=] __device__(int64_t i) {
            A pi = tr<T>::ld(p[i]);
            A d = tr<T>::ld(g[i]);
            if (wd != 0)
                d += wd * pi;
            if (mu != 0) {
                A buf = first ? d : mu * tr<T>::ld(m[i]) + (1 - damp) * d;
                m[i] = tr<T>::st(buf);
                buf = tr<T>::ld(m[i]);
                d = nesterov ? d + mu * buf : buf;
            }
            p[i] = tr<T>::st(pi - lr * d);
        });
        return BS_OK;
    }
    if (cf->kind != BS_OPT_ADAM)
        return BS_ERR_ARG;
    if (!m || !v)
        return BS_ERR_ARG;
    A b1 = (A)cf->beta1, b2 = (A)cf->beta2, eps = (A)cf->eps;
    A step = (A)(cf->lr / (1.0 - pow(cf->beta1, (double)t)));
    A rbc2 = (A)(1.0 / sqrt(1.0 - pow(cf->beta2, (double)t)));
    launch_each(c, n, [=] __device__(int64_t i) {
        A pi = tr<T>::ld(p[i]);
        A d = tr<T>::ld(g[i]);
        if (wd != 0)
            d += wd * pi;
        m[i] = tr<T>::st(b1 * tr<T>::ld(m[i]) + (1 - b1) * d);
        v[i] = tr<T>::st(b2 * tr<T>::ld(v[i]) + (1 - b2) * d * d);
        A mi = tr<T>::ld(m[i]), vi = tr<T>::ld(v[i]);
        p[i] = tr<T>::st(pi - step * mi / (m_sqrt(vi) * rbc2 + eps));
    });
    (void)lr;
    return BS_OK;
}

static bs_status gpu_opt_step(bs_backend *b, const bs_opt_conf *conf, int64_t t, void *p, const void *g,
                              void *m, void *v, int64_t n, bs_dtype dt)
{
    gpu_ctx *c = ctx_of(b);
    if (!c)
        return BS_ERR_STATE;
    if (t < 1) {
        snprintf(c->msg, sizeof c->msg, "opt_step: step counter must be >= 1");
        return BS_ERR_ARG;
    }
    bs_status s;
    switch (dt) {
    case BS_F32: s = opt_t<float>(c, conf, t, p, g, m, v, n); break;
    case BS_F64: s = opt_t<double>(c, conf, t, p, g, m, v, n); break;
    case BS_BF16: s = opt_t<bf16>(c, conf, t, p, g, m, v, n); break;
    default: return BS_ERR_UNSUPPORTED;
    }
    if (s == BS_ERR_ARG)
        snprintf(c->msg, sizeof c->msg, "opt_step: missing state buffer or unknown optimizer");
    return s != BS_OK ? s : gpu_cuda_status(c, cudaGetLastError(), "opt_step");
}

static bs_status gpu_sync(bs_backend *b)
{
    gpu_ctx *c = ctx_of(b);
    if (!c)
        return BS_ERR_STATE;
    return gpu_cuda_status(c, cudaStreamSynchronize(c->stream), "sync");
}

/* ==== Plan features ==== */

static bool gpu_supports_matmul_t(const bs_backend *b, bs_dtype t) { return dtype_ok(t); }

static bs_status gpu_matmul_t_fwd_be(bs_backend *b, const bs_exec *e, bool ta, bool tb, const void *a,
                                     const void *bm)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = gpu_matmul_t_fwd(c, e, ta, tb, a, bm);
    return s == BS_OK ? gpu_cuda_status(c, cudaGetLastError(), "matmul (transposed operand)") : s;
}

static bs_status gpu_matmul_t_vjp_be(bs_backend *b, const bs_exec *e, bool ta, bool tb, const void *a,
                                     const void *bm, int k, const void *g, void *din)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = gpu_matmul_t_vjp(c, e, ta, tb, a, bm, k, g, din);
    return s == BS_OK ? gpu_cuda_status(c, cudaGetLastError(), "MmBackward0 (transposed operand)") : s;
}

static bool gpu_supports_bias_act(const bs_backend *b, const bs_exec *add, const bs_exec *act)
{
    return dtype_ok(add->dtype) && gpu_bias_act_ok(add, act);
}

static bs_status gpu_bias_act_fwd_be(bs_backend *b, const bs_exec *add, const bs_exec *act)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = gpu_bias_act_fwd(c, add, act);
    return s == BS_OK ? gpu_cuda_status(c, cudaGetLastError(), "bias + activation") : s;
}

static bs_status gpu_bias_act_vjp_be(bs_backend *b, const bs_exec *add, const bs_exec *act, const void *g,
                                     void *da, void *db)
{
    gpu_ctx *c = ctx_of(b);
    bs_status s = gpu_bias_act_vjp(c, add, act, g, da, db);
    return s == BS_OK ? gpu_cuda_status(c, cudaGetLastError(), "bias + activation backward") : s;
}

/* ==== The backend ==== */

static bs_backend gpu_backend = {
    "gpu",
    NULL,
    "",
    gpu_open,
    gpu_close,
    gpu_supports,
    gpu_supports_dtype,
    gpu_alloc,
    gpu_free,
    gpu_upload,
    gpu_download,
    gpu_fill,
    gpu_forward,
    gpu_vjp,
    gpu_accumulate,
    gpu_opt_step,
    gpu_sync,
    gpu_supports_matmul_t,
    gpu_matmul_t_fwd_be,
    gpu_matmul_t_vjp_be,
    gpu_supports_bias_act,
    gpu_bias_act_fwd_be,
    gpu_bias_act_vjp_be,
};

extern "C" bs_backend *bs_gpu_backend(void) { return &gpu_backend; }

extern "C" void bs_gpu_register(void)
{
    static bool done = false;
    if (!done) {
        bs_backend_register(&gpu_backend);
        done = true;
    }
}

extern "C" const char *bs_gpu_errmsg(const bs_backend *b)
{
    gpu_ctx *c = ctx_of(b);
    return c ? c->msg : "";
}
