/* gpu/gpu_int.h: internals shared by the CUDA backend's files: the backend state, element
 * traits, broadcast index maps, launch helpers and the generic reduction. CUDA C++; with GPU_EMU
 * defined the same sources build as plain C++ whose "kernels" are host loops (tests/gpu). */
#ifndef BS_GPU_INT_H
#define BS_GPU_INT_H

#include "bsgpu.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

typedef __nv_bfloat16 bf16;

/* ==== Backend state ==== */

struct gpu_ctx {
    int device;
    cudaStream_t stream;    /* every kernel and copy is queued here */
    cublasHandle_t blas;    /* bound to stream */
    int *d_flag;            /* (2,) a kernel found a value error: [0] GPU_FLAG_*, [1] the value */
    char msg[256];          /* last error, for bs_gpu_errmsg */
};

/* forward: e->out = op(in); vjp: din += VJP of input i given upstream g. `in` are e->in with
 * integer inputs already converted where the op wants floats. */
typedef bs_status (*gpu_fwd_fn)(gpu_ctx *c, const bs_exec *e, const void *const *in);
typedef bs_status (*gpu_vjp_fn)(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,
                                const void *g, void *din);

/* One forward and one VJP per op of core/ops.def, defined in gpu/ops_*.cu. */
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, dc, help)                              \
    bs_status gpu_fwd_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in);            \
    bs_status gpu_vjp_##fn(gpu_ctx *c, const bs_exec *e, const void *const *in, int i,      \
                           const void *g, void *din);
#include "ops.def"
#undef BS_OP

/* The plan feature "transposed operands" (core's bs_backend.matmul_t_*), ops_red.cu: a 2-D matmul
   (x's leading dims taken as rows) whose operand a and/or b is read transposed in place from its
   source, forward, and the VJP for input `which` added into d; the same cases as the CPU
   backend's, through cuBLAS's transpose flags. */
bs_status gpu_matmul_t_fwd(gpu_ctx *c, const bs_exec *e, bool ta, bool tb, const void *a, const void *b);
bs_status gpu_matmul_t_vjp(gpu_ctx *c, const bs_exec *e, bool ta, bool tb, const void *a, const void *b,
                           int which, const void *g, void *d);

/* The plan feature "fused bias + activation" (core's bs_backend.bias_act_*), ops_ew.cu */
bool gpu_bias_act_ok(const bs_exec *add, const bs_exec *act);
bs_status gpu_bias_act_fwd(gpu_ctx *c, const bs_exec *add, const bs_exec *act);
bs_status gpu_bias_act_vjp(gpu_ctx *c, const bs_exec *add, const bs_exec *act, const void *g, void *da, void *db);

/* value errors kernels raise through c->d_flag */
enum { GPU_FLAG_NONE = 0, GPU_FLAG_CLASS = 1, GPU_FLAG_DOMAIN = 2, GPU_FLAG_INDEX = 3 };
/* wait for the stream, read and clear the flag: *code GPU_FLAG_*, *value what the kernel put */
bs_status gpu_take_flag(gpu_ctx *c, int *code, int64_t *value);

/* Record a failure in c->msg and map it to a status (BS_OK for cudaSuccess). */
bs_status gpu_cuda_status(gpu_ctx *c, cudaError_t err, const char *what);
bs_status gpu_blas_status(gpu_ctx *c, cublasStatus_t st, const char *what);

/* Scratch memory from the stream-ordered pool; NULL when out of memory (then c->msg says so). */
void *gpu_tmp_alloc(gpu_ctx *c, size_t bytes);
void gpu_tmp_free(gpu_ctx *c, void *p);

/* Run `expr` with T_ bound to the element type of dtype dt (f32, f64, bf16). */
#define BS_GPU_DISPATCH(dt, ...)                                                            \
    do {                                                                                    \
        switch (dt) {                                                                       \
        case BS_F32: { typedef float T_; return __VA_ARGS__; }                              \
        case BS_F64: { typedef double T_; return __VA_ARGS__; }                             \
        case BS_BF16: { typedef bf16 T_; return __VA_ARGS__; }                              \
        default: return BS_ERR_UNSUPPORTED;                                                 \
        }                                                                                   \
    } while (0)

/* ==== Element traits: storage type T, arithmetic type A ==== */

template <class T> struct tr;
template <> struct tr<float> {
    typedef float A;
    static __device__ __forceinline__ float ld(float x) { return x; }
    static __device__ __forceinline__ float st(float v) { return v; }
};
template <> struct tr<double> {
    typedef double A;
    static __device__ __forceinline__ double ld(double x) { return x; }
    static __device__ __forceinline__ double st(double v) { return v; }
};
template <> struct tr<bf16> {
    typedef float A;
    static __device__ __forceinline__ float ld(bf16 x) { return __bfloat162float(x); }
    static __device__ __forceinline__ bf16 st(float v) { return __float2bfloat16_rn(v); }
};

/* math in the arithmetic type (float or double) */
static __device__ __forceinline__ float m_exp(float x) { return expf(x); }
static __device__ __forceinline__ double m_exp(double x) { return exp(x); }
static __device__ __forceinline__ float m_log(float x) { return logf(x); }
static __device__ __forceinline__ double m_log(double x) { return log(x); }
static __device__ __forceinline__ float m_log1p(float x) { return log1pf(x); }
static __device__ __forceinline__ double m_log1p(double x) { return log1p(x); }
static __device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
static __device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
static __device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
static __device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
static __device__ __forceinline__ float m_sin(float x) { return sinf(x); }
static __device__ __forceinline__ double m_sin(double x) { return sin(x); }
static __device__ __forceinline__ float m_cos(float x) { return cosf(x); }
static __device__ __forceinline__ double m_cos(double x) { return cos(x); }
static __device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
static __device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }
static __device__ __forceinline__ float m_abs(float x) { return fabsf(x); }
static __device__ __forceinline__ double m_abs(double x) { return fabs(x); }
static __device__ __forceinline__ float m_erf(float x) { return erff(x); }
static __device__ __forceinline__ double m_erf(double x) { return erf(x); }
static __device__ __forceinline__ float m_fma(float x, float y, float z) { return fmaf(x, y, z); }
static __device__ __forceinline__ double m_fma(double x, double y, double z) { return fma(x, y, z); }
template <class A> static __device__ __forceinline__ A m_max(A x, A y) { return x > y ? x : y; }

/* ==== Launching ====
 * Every kernel of the backend is launched by launch_each (one thread per element), launch_grid
 * (the same threads, each given its range: a kernel that serves several ops switches on the op
 * once, outside its element loop), launch_rows (one warp per row) or red_run (below). Built with GPU_EMU (tests/gpu, a plain C++ compiler and
 * no device), the same lambdas run as host loops: a warp is then one lane wide. */

#define GPU_BLOCK 256

/* A thread's share of [0, n) in launch_grid: first, first + step, ... < n (under GPU_EMU the one
 * "thread" takes everything). GPU_EACH(r, i) loops i over it. */
struct gpu_range {
    int64_t first, n, step;
};
#define GPU_EACH(r, i) for (int64_t i = (r).first; i < (r).n; i += (r).step)

/* The warp running a row: lanes stride through the row by `width`; sum/max combine one value per
 * lane and give every lane the result. */
struct gpu_warp {
    int lane, width;
#ifdef GPU_EMU
    template <class A> A sum(A v) const { return v; }
    template <class A> A max(A v) const { return v; }
#else
    template <class A> __device__ __forceinline__ A sum(A v) const
    {
        for (int off = 16; off; off >>= 1)
            v += __shfl_xor_sync(0xffffffffu, v, off);
        return v;
    }
    template <class A> __device__ __forceinline__ A max(A v) const /* NaN wins */
    {
        for (int off = 16; off; off >>= 1) {
            A o = __shfl_xor_sync(0xffffffffu, v, off);
            v = (o > v || o != o) ? o : v;
        }
        return v;
    }
#endif
};

static inline unsigned gpu_grid(int64_t threads)
{
    int64_t g = (threads + GPU_BLOCK - 1) / GPU_BLOCK;
    if (g > (1 << 20))
        g = 1 << 20; /* grid-stride loops cover the rest */
    return (unsigned)(g < 1 ? 1 : g);
}

#ifdef GPU_EMU

template <class F> static inline void launch_each(gpu_ctx *c, int64_t n, F f)
{
    for (int64_t i = 0; i < n; i++)
        f(i);
}

template <class F> static inline void launch_rows(gpu_ctx *c, int64_t rows, F f)
{
    gpu_warp w = {0, 1};
    for (int64_t r = 0; r < rows; r++)
        f(r, w);
}

template <class F> static inline void launch_grid(gpu_ctx *c, int64_t n, F f)
{
    gpu_range r = {0, n, 1};
    f(r);
}

#else

/* f(i) for i in [0, n), grid-stride */
template <class F> __global__ void k_each(F f, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        f(i);
}

template <class F> static inline void launch_each(gpu_ctx *c, int64_t n, F f)
{
    if (n > 0)
        k_each<<<gpu_grid(n), GPU_BLOCK, 0, c->stream>>>(f, n);
}

/* f(row, warp) for row in [0, rows): one warp per row, all 32 lanes take part (warp-uniform
 * loop), so f may combine values across the warp */
template <class F> __global__ void k_rows(F f, int64_t rows)
{
    gpu_warp w = {(int)(threadIdx.x & 31), 32};
    int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5; r < rows; r += warps)
        f(r, w);
}

template <class F> static inline void launch_rows(gpu_ctx *c, int64_t rows, F f)
{
    if (rows > 0)
        k_rows<<<gpu_grid(rows * 32), GPU_BLOCK, 0, c->stream>>>(f, rows);
}

/* f(range) once per thread, f looping over the thread's grid-stride range itself */
template <class F> __global__ void k_grid(F f, int64_t n)
{
    gpu_range r = {blockIdx.x * (int64_t)blockDim.x + threadIdx.x, n, (int64_t)gridDim.x * blockDim.x};
    f(r);
}

template <class F> static inline void launch_grid(gpu_ctx *c, int64_t n, F f)
{
    if (n > 0)
        k_grid<<<gpu_grid(n), GPU_BLOCK, 0, c->stream>>>(f, n);
}

#endif

/* ==== Broadcast index maps ====
 * An output index of a broadcasting op, split into coordinates over the (coalesced) output dims,
 * gives each input's element offset through that input's strides (0 along broadcast dims). */
struct bc_map {
    int nd;          /* 1..4 after coalescing */
    int64_t d[4];    /* output sizes */
    int64_t s[2][4]; /* element strides of input 0 and input 1 */
};

/* out is the broadcast of a and b (b NULL: a alone) */
bc_map bc_make(const bs_shape *out, const bs_shape *a, const bs_shape *b);

/* I: uint32_t when the output has fewer than 2^31 elements (cheap division), else int64_t */
template <class I>
static __device__ __forceinline__ void bc_offsets(const bc_map &m, int64_t idx, int64_t *o0,
                                                  int64_t *o1)
{
    I r = (I)idx, a = 0, b = 0;
    for (int k = m.nd - 1; k > 0; k--) {
        I dk = (I)m.d[k];
        I q = r / dk, cq = r - q * dk;
        a += cq * (I)m.s[0][k];
        b += cq * (I)m.s[1][k];
        r = q;
    }
    a += r * (I)m.s[0][0];
    b += r * (I)m.s[1][0];
    *o0 = (int64_t)a;
    *o1 = (int64_t)b;
}

static inline bool bc_small(int64_t n) { return n < ((int64_t)1 << 31); }

/* *p += v from many threads at once (index_select's VJP, where rows repeat); under GPU_EMU the
   threads run one after the other */
template <class T> static __device__ __forceinline__ void gpu_atomic_add(T *p, typename tr<T>::A v)
{
#ifdef GPU_EMU
    *p = tr<T>::st(tr<T>::ld(*p) + v);
#else
    atomicAdd(p, tr<T>::st(v));
#endif
}

/* ==== Reduction ====
 * Reduce a logical (outer, R, inner) array along R: value(o, i) = fold over j of
 * ld((o*R + j)*inner + i), handed to st(o*inner + i, value). Rows with inner == 1 take a warp
 * each; inner > 1 takes 32-wide tiles along inner (coalesced). When there are few outputs and
 * long rows, R is split into chunks whose partial results are folded by a second pass. */
template <class A> struct c_sum {
    static __device__ __forceinline__ A init() { return A(0); }
    static __device__ __forceinline__ A op(A x, A y) { return x + y; }
};
template <class A> struct c_max { /* NaN wins, as torch.max */
    static __device__ __forceinline__ A init() { return -(A)INFINITY; }
    static __device__ __forceinline__ A op(A x, A y) { return (x > y || x != x) ? x : y; }
};

template <class A> struct ld_acc { /* a plain array of A */
    const A *p;
    __device__ __forceinline__ A operator()(int64_t k) const { return p[k]; }
};
template <class T> struct ld_elem { /* a plain array of T, as A */
    const T *p;
    __device__ __forceinline__ typename tr<T>::A operator()(int64_t k) const { return tr<T>::ld(p[k]); }
};
template <class T> struct st_write { /* out[k] = v*scale */
    T *p;
    typename tr<T>::A scale;
    __device__ __forceinline__ void operator()(int64_t k, typename tr<T>::A v) const
    {
        p[k] = tr<T>::st(v * scale);
    }
};
template <class T> struct st_accum { /* out[k] += v*scale */
    T *p;
    typename tr<T>::A scale;
    __device__ __forceinline__ void operator()(int64_t k, typename tr<T>::A v) const
    {
        p[k] = tr<T>::st(tr<T>::ld(p[k]) + v * scale);
    }
};
template <class A> struct st_acc { /* out[k] = v, arithmetic type */
    A *p;
    __device__ __forceinline__ void operator()(int64_t k, A v) const { p[k] = v; }
};

/* one thread's share of a reduction: fold ld(base + j*step) for j = j0, j0 + by, ... < j1 */
template <class A, class C, class L>
static __device__ __forceinline__ A red_part(const L &ld, int64_t base, int64_t step, int64_t j0, int64_t j1, int64_t by)
{
    A v = C::init();
    for (int64_t j = j0; j < j1; j += by)
        v = C::op(v, ld(base + j * step));
    return v;
}

#ifndef GPU_EMU
/* rows with inner == 1: one warp per (chunk s, row o) */
template <class A, class C, class L, class S>
__global__ void k_red_warp(L ld, S st, A *part, int64_t outer, int64_t R, int64_t chunk, int64_t splits)
{
    int64_t w = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= outer * splits)
        return; /* w is the same for the whole warp */
    int64_t o = w % outer, s = w / outer;
    int64_t j0 = s * chunk, j1 = j0 + chunk < R ? j0 + chunk : R;
    A v = red_part<A, C>(ld, o * R, 1, j0 + lane, j1, 32);
    for (int off = 16; off; off >>= 1)
        v = C::op(v, __shfl_down_sync(0xffffffffu, v, off));
    if (lane == 0) {
        if (part)
            part[s * outer + o] = v;
        else
            st(o, v);
    }
}

/* inner > 1: a block of 32 (along inner) x 8 (along R) per (chunk s, row o, tile of inner) */
template <class A, class C, class L, class S>
__global__ void k_red_tile(L ld, S st, A *part, int64_t outer, int64_t R, int64_t inner,
                           int64_t chunk, int64_t tiles)
{
    __shared__ A sh[8][33];
    int64_t b = blockIdx.x;
    int64_t tile = b % tiles;
    b /= tiles;
    int64_t o = b % outer, s = b / outer;
    int64_t i = tile * 32 + threadIdx.x;
    int64_t j0 = s * chunk, j1 = j0 + chunk < R ? j0 + chunk : R;
    A v = i < inner ? red_part<A, C>(ld, o * R * inner + i, inner, j0 + threadIdx.y, j1, 8) : C::init();
    sh[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
        for (int y = 1; y < 8; y++)
            v = C::op(v, sh[y][threadIdx.x]);
        if (part)
            part[(s * outer + o) * inner + i] = v;
        else
            st(o * inner + i, v);
    }
}
#endif

/* launch the reduction kernels (on the host under GPU_EMU, same chunks and partial layout).
 * Tiles false: the caller reduces with inner == 1 only (red_all), so the tiled kernel, which would
 * never run, is not instantiated (for the losses that was a fifth of their device code). */
template <class A, class C, bool Tiles, class L, class S>
static void red_launch(gpu_ctx *c, L ld, S st, A *part, int64_t outer, int64_t R, int64_t inner,
                       int64_t chunk, int64_t splits)
{
#ifdef GPU_EMU
    for (int64_t s = 0; s < splits; s++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t j0 = s * chunk, j1 = j0 + chunk < R ? j0 + chunk : R;
                A v = red_part<A, C>(ld, o * R * inner + i, inner, j0, j1, 1);
                if (part)
                    part[(s * outer + o) * inner + i] = v;
                else
                    st(o * inner + i, v);
            }
#else
    if (inner == 1) {
        unsigned blocks = (unsigned)((outer * splits * 32 + GPU_BLOCK - 1) / GPU_BLOCK);
        k_red_warp<A, C><<<blocks, GPU_BLOCK, 0, c->stream>>>(ld, st, part, outer, R, chunk, splits);
    } else if constexpr (Tiles) {
        int64_t tiles = (inner + 31) / 32;
        k_red_tile<A, C><<<(unsigned)(splits * outer * tiles), dim3(32, 8), 0, c->stream>>>(
            ld, st, part, outer, R, inner, chunk, tiles);
    }
#endif
}

template <class A, class C, bool Tiles = true, class L, class S>
static bs_status red_run(gpu_ctx *c, L ld, S st, int64_t outer, int64_t R, int64_t inner,
                         bool allow_split = true)
{
    if (!Tiles && inner != 1)
        return BS_ERR_STATE; /* red_all's contract: never reached */
    int64_t units = outer * inner;
    if (units <= 0)
        return BS_OK;
    int64_t splits = 1;
    if (allow_split && units < 16384 && R > 2048) {
        int64_t want = (65536 + units - 1) / units, most = (R + 1023) / 1024;
        splits = want < most ? want : most;
        if (splits > 1024)
            splits = 1024;
    }
    int64_t chunk = splits > 1 ? (R + splits - 1) / splits : R;
    A *part = NULL;
    if (splits > 1) {
        part = (A *)gpu_tmp_alloc(c, (size_t)(splits * units) * sizeof(A));
        if (!part)
            return BS_ERR_NOMEM;
    }
    red_launch<A, C, Tiles>(c, ld, st, part, outer, R, inner, chunk, splits);
    if (splits > 1) {
        /* partials are (splits, outer, inner): fold along splits */
        ld_acc<A> lp = {part};
        bs_status s = red_run<A, C, Tiles>(c, lp, st, 1, splits, units, false);
        gpu_tmp_free(c, part);
        return s;
    }
    return BS_OK;
}

/* st(0, fold of ld(j) for j in [0, n)): a reduction of everything to one value */
template <class A, class C, class L, class S> static bs_status red_all(gpu_ctx *c, L ld, S st, int64_t n)
{
    return red_run<A, C, false>(c, ld, st, 1, n, 1);
}

/* din (shape `in`) += the sum of contributions ld(k) (k over the elements of `out`) over the
 * dims along which `in` was broadcast to `out`. */
template <class T, class L>
static bs_status accum_to_shape(gpu_ctx *c, L ld, const bs_shape *out, const bs_shape *in, T *din);

/* ==== Small host helpers ==== */

/* dim < 0 counts from the end; returns the dim in [0, ndim) (0 for a 0-d tensor) */
static inline int gpu_norm_dim(int dim, int ndim)
{
    if (ndim == 0)
        return 0;
    if (dim < 0)
        dim += ndim;
    return dim < 0 ? 0 : (dim >= ndim ? ndim - 1 : dim);
}

/* view shape s as (outer, d[dim], inner) */
static inline void gpu_split_dim(const bs_shape *s, int dim, int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t o = 1, m = 1, in = 1;
    if (s->ndim > 0) {
        for (int k = 0; k < dim; k++)
            o *= s->d[k];
        m = s->d[dim];
        for (int k = dim + 1; k < s->ndim; k++)
            in *= s->d[k];
    }
    *outer = o;
    *n = m;
    *inner = in;
}

/* ==== accum_to_shape ==== */

template <class T, class L>
static bs_status accum_to_shape(gpu_ctx *c, L ld, const bs_shape *out, const bs_shape *in, T *din)
{
    typedef typename tr<T>::A A;
    int64_t n = bs_shape_numel(out);
    if (n == 0)
        return BS_OK;
    if (bs_shape_numel(in) == n) { /* same elements in the same order (leading 1s at most) */
        launch_each(c, n, [=] __device__(int64_t k) { din[k] = tr<T>::st(tr<T>::ld(din[k]) + ld(k)); });
        return BS_OK;
    }
    /* groups of adjacent output dims that are all kept or all reduced (size-1 dims dropped) */
    int64_t gs[BS_MAX_DIMS];
    bool gr[BS_MAX_DIMS];
    int ng = 0, nred = 0;
    for (int k = 0; k < out->ndim; k++) {
        int ki = k - (out->ndim - in->ndim);
        int64_t dout = out->d[k], din_k = ki >= 0 ? in->d[ki] : 1;
        if (dout == 1)
            continue;
        bool red = din_k == 1;
        if (ng > 0 && gr[ng - 1] == red) {
            gs[ng - 1] *= dout;
        } else {
            gs[ng] = dout;
            gr[ng] = red;
            ng++;
            nred += red;
        }
    }
    st_accum<T> sa = {din, (A)1};
    if (nred == 1) {
        int64_t outer = 1, R = 1, inner = 1;
        int k = 0;
        for (; !gr[k]; k++)
            outer *= gs[k];
        R = gs[k++];
        for (; k < ng; k++)
            inner *= gs[k];
        return red_run<A, c_sum<A>>(c, ld, sa, outer, R, inner);
    }
    /* several reduced groups: materialize, then fold the innermost reduced group at a time */
    A *t = (A *)gpu_tmp_alloc(c, (size_t)n * sizeof(A));
    if (!t)
        return BS_ERR_NOMEM;
    launch_each(c, n, [=] __device__(int64_t k) { t[k] = ld(k); });
    while (nred > 0) {
        int r = ng - 1;
        while (!gr[r])
            r--;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < r; k++)
            outer *= gs[k];
        for (int k = r + 1; k < ng; k++)
            inner *= gs[k];
        ld_acc<A> lt = {t};
        bs_status s;
        A *t2 = NULL;
        if (nred == 1) {
            s = red_run<A, c_sum<A>>(c, lt, sa, outer, gs[r], inner);
        } else {
            t2 = (A *)gpu_tmp_alloc(c, (size_t)(outer * inner) * sizeof(A));
            if (!t2) {
                gpu_tmp_free(c, t);
                return BS_ERR_NOMEM;
            }
            st_acc<A> s2 = {t2};
            s = red_run<A, c_sum<A>>(c, lt, s2, outer, gs[r], inner);
        }
        gpu_tmp_free(c, t);
        t = t2;
        if (s != BS_OK) {
            gpu_tmp_free(c, t);
            return s;
        }
        /* drop group r; its kept neighbours become one group */
        if (r + 1 < ng && r > 0) {
            gs[r - 1] *= gs[r + 1];
            for (int k = r; k + 2 < ng; k++) {
                gs[k] = gs[k + 2];
                gr[k] = gr[k + 2];
            }
            ng -= 2;
        } else {
            for (int k = r; k + 1 < ng; k++) {
                gs[k] = gs[k + 1];
                gr[k] = gr[k + 1];
            }
            ng -= 1;
        }
        nred--;
    }
    return BS_OK;
}

#endif
