/* core/ops_int.h: internals shared by the op implementations (ops*.c): broadcast iteration,
 * dim normalisation, error text helpers, and the declarations of every op's six functions. */
#ifndef BS_OPS_INT_H
#define BS_OPS_INT_H

#include "backstep.h"

#include <stdarg.h>

/* ==== FLOP convention ====
 * flops() counts forward floating-point operations: one per add, sub, mul, div, compare or
 * max; OPS_FLOP_TR for each transcendental call (exp, log, sin, cos, tanh, pow, sqrt).
 * matmul is 2*M*N*K per batch; reshape and transpose move data and count 0. */
#define OPS_FLOP_TR 4.0

/* ==== Errors ==== */
/* printf into err (if err and errlen are non-zero); returns st for `return ops_fail(...)` */
bs_status ops_fail(bs_status st, char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* "[2, 3]" (PyTorch's sizes list) into buf */
char *ops_sizes_str(const bs_shape *s, char *buf, size_t len);
/* "torch.Size([2, 3])" into buf */
char *ops_torch_size_str(const bs_shape *s, char *buf, size_t len);
/* PyTorch's scalar type name: Double, Float, Half, BFloat16, Long */
const char *ops_torch_dtype(bs_dtype t);

/* ==== Dims ==== */
/* Python-style dim in [-ndim, ndim-1] (a 0-d tensor takes [-1, 0]) to 0..ndim-1 (0 for 0-d);
 * otherwise BS_ERR_VALUE with PyTorch's "Dimension out of range" text. */
bs_status ops_dim_norm(int dim, int ndim, int *out, char *err, size_t errlen);
/* Split shape s around dim d: outer = prod(d[0..d-1]), len = d[d], inner = prod(d[d+1..]).
 * A 0-d shape gives 1, 1, 1. */
void ops_dim_split(const bs_shape *s, int d, int64_t *outer, int64_t *len, int64_t *inner);
/* Binary broadcast of a and b into out, or BS_ERR_SHAPE with PyTorch's "The size of tensor a"
 * text. */
bs_status ops_broadcast(const bs_shape *a, const bs_shape *b, bs_shape *out, char *err,
                        size_t errlen);

/* ==== Broadcast iteration ====
 * Walks the elements of an output shape (padded on the left to 4 dims) in row-major order,
 * keeping for each of up to two inputs the flat offset of the element that broadcasts to it
 * (stride 0 along a broadcast dim). A three-input op (where) steps two iterators side by side.
 *
 *   ops_iter it; ops_iter_init(&it, &out_shape, &a_shape, &b_shape);
 *   for (int64_t o = 0; o < n; o++, ops_iter_next(&it)) use(a[it.off[0]], b[it.off[1]]);
 */
typedef struct {
    int64_t d[BS_MAX_DIMS];                   /* output sizes, left-padded with 1 */
    int64_t st[2][BS_MAX_DIMS];               /* input strides in the output frame */
    int64_t idx[BS_MAX_DIMS];                 /* current output index */
    int64_t off[2];                           /* current input offsets */
} ops_iter;

/* b may be NULL (one input); an input's dims must broadcast to out */
void ops_iter_init(ops_iter *it, const bs_shape *out, const bs_shape *a, const bs_shape *b);
/* strides of `in` in the frame of `out` (left-padded to 4 dims, 0 where in broadcasts) */
void ops_bcast_strides(const bs_shape *in, const bs_shape *out, int64_t st[BS_MAX_DIMS]);

static inline void ops_iter_next(ops_iter *it)
{
    for (int k = BS_MAX_DIMS - 1; k >= 0; k--) {
        it->idx[k]++;
        it->off[0] += it->st[0][k];
        it->off[1] += it->st[1][k];
        if (it->idx[k] < it->d[k])
            return;
        it->off[0] -= it->st[0][k] * it->d[k];
        it->off[1] -= it->st[1][k] * it->d[k];
        it->idx[k] = 0;
    }
}

/* ==== torch's float math (tmath.c) ====
 * exp, log, ... of a float in dtype dt as torch's CPU kernels compute it: SLEEF's 1-ulp functions
 * for f32 and bf16 on a CPU with AVX2 and FMA in a vector lane (tv 1), the C library's for f16, a
 * scalar tail (tv 0) and elsewhere */
float ops_t_exp(bs_dtype dt, int tv, float x);
float ops_t_log(bs_dtype dt, int tv, float x);
float ops_t_log1p(bs_dtype dt, int tv, float x);
float ops_t_expm1(bs_dtype dt, int tv, float x);
float ops_t_tanh(bs_dtype dt, int tv, float x);
float ops_t_sin(bs_dtype dt, int tv, float x);
float ops_t_cos(bs_dtype dt, int tv, float x);
float ops_t_erf(bs_dtype dt, int tv, float x);
float ops_t_pow(bs_dtype dt, int tv, float x, float y);
/* how many of n elements an op with a scalar tail runs in its vector lanes: torch's cpu_kernel_vec
 * loops over two vectors at a time (16 floats with AVX2, 32 bf16) and hands the rest to its
 * scalar lambda, which calls the C library; tv (above) is 0 for those */
int64_t ops_t_vecpart(bs_dtype dt, int64_t n);


/* ==== The float path (f32, f16, bf16) ====
 * An op whose dtype computes in float (bs_dtype_in_float) reads each input as torch's
 * TensorIterator does: cast to the op's dtype (a Python number or an f64 operand of an f16 op is
 * rounded to f16 first, through float as c10::Half(double) does), then widened to float. */
static inline float ops_in(bs_dtype dt, double v)
{
    return bs_dtype_roundf(dt, (float)v);
}

/* torch's sum over the dims of s flagged in mask (bit d: dim d; a size-1 dim may be flagged or
 * not), as its CPU kernel cascade_sum adds in float: the TensorIterator's order of dims, 4-way
 * and 8-lane partial sums, the level cascade. x (s), y (s with the flagged dims 1), each result
 * rounded to dt. (core/ops_lp.c, with the other float-path kernels) */
void ops_lp_sum(bs_dtype dt, const float *x, const bs_shape *s, unsigned mask, float *y);
/* sum_to: x (s) summed to the shape to (which broadcasts to s), as autograd's sum_to */
void ops_lp_sum_to(bs_dtype dt, const float *x, const bs_shape *s, const bs_shape *to, float *y);

/* matmul in the float path (core/ops_lp.c says what it matches): g NULL, the forward into res
 * (out's shape); else the VJP of input `which` for upstream g, added into res (that input's
 * shape). false: out of memory */
bool ops_lp_matmul(const bs_tensor *in, const bs_attr *a, const bs_tensor *g, int which,
                   bs_tensor *res);
/* matmul's attr.start in the float path: which operands are 2-D transposed views (x.T), as
 * torch's strides show them to its gemm (the tape sets them; the double path ignores them) */
#define BS_MM_VIEW_A 1
#define BS_MM_VIEW_B 2
/* nn.Linear's b + x @ wt as torch's addmm computes it (core/ops_lp.c), into y (M, N) */
bool ops_lp_addmm(bs_dtype dt, const bs_tensor *x, const bs_tensor *wt, bool wt_view,
                  const bs_tensor *b, double *y);

/* softmax (log: log_softmax) over rows of len at stride inner in the float path: y from x; the
 * VJP from the output y and upstream g, added into dx. false: out of memory */
bool ops_lp_softmax(bs_dtype dt, bool log, const double *x, int64_t outer, int64_t len,
                    int64_t inner, double *y);
bool ops_lp_softmax_vjp(bs_dtype dt, bool log, const double *y, const double *g, int64_t outer,
                        int64_t len, int64_t inner, double *dx);

/* the losses in the float path (core/ops_lp.c): g NULL, the forward into res[0]; else the VJP of
 * input `which` (upstream g, 0-d), added into res. false: not handled here (the double path runs) */
/* torch.arange's values, as its CPU kernel makes them: in pairs of vectors (32 bytes of the
   dtype each) whose lanes are base + l * step from a base start + step * idx rounded to the dtype,
   the rest start + step * idx; in double for f64 and f32, in float for f16 and bf16, each a * b + c
   one fma (GCC's contraction); i64 exact. d gets the values rounded to dt. */
void ops_lp_arange(bs_dtype dt, double start, double step, int64_t n, double *d);
/* layer_norm over rows of D without the affine, as torch's kernel (RowwiseMoments); false: no
 * memory */
bool ops_lp_layernorm(bs_dtype dt, const double *x, int64_t rows, int64_t D, double eps, double *y);
/* dx += its VJP for the upstream u (rows of D); false: no memory */
bool ops_lp_layernorm_vjp(bs_dtype dt, const double *x, const double *u, int64_t rows, int64_t D,
                          double eps, double *dx);
bool ops_lp_mse(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res);
bool ops_lp_bce(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res);
bool ops_lp_bce_logits(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, int which, double *res);
bool ops_lp_cross_entropy(bs_dtype dt, const bs_tensor *in, const bs_tensor *g, double *res);

/* ==== Small helpers ==== */
static inline size_t ops_bytes(const bs_shape *s, size_t elem)
{
    return (size_t)bs_shape_numel(s) * elem;
}
static inline double ops_numel_d(const bs_shape *s)
{
    return (double)bs_shape_numel(s);
}

/* ==== Saved tensors (bs_op_info.saved) ====
 * Each appends one entry to sv at index k and returns k + 1, so a saved() reads as the list of
 * what PyTorch's grad_fn keeps:  int k = 0; if (in[1].requires_grad) k = ops_save_in(sv, k, ...); */
static inline int ops_save_in(bs_saved *sv, int k, const char *role, int input)
{
    sv[k] = (bs_saved){.role = role, .kind = BS_SAVE_INPUT, .input = input};
    return k + 1;
}
static inline int ops_save_result(bs_saved *sv, int k)
{
    sv[k] = (bs_saved){.role = "result", .kind = BS_SAVE_RESULT, .input = -1};
    return k + 1;
}
static inline int ops_save_buffer(bs_saved *sv, int k, const char *role, const bs_shape *s,
                                  bs_dtype t)
{
    sv[k] = (bs_saved){.role = role, .kind = BS_SAVE_BUFFER, .input = -1, .shape = *s, .dtype = t};
    return k + 1;
}

/* ==== Every op's functions (named from ops.def) ==== */
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, dc, help)                                   \
    bs_status op_##fn##_shape(const bs_shape *in, const bs_dtype *dt, const bs_attr *a,          \
                              bs_shape *out, char *err, size_t errlen);                          \
    bs_status op_##fn##_fwd(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err,    \
                            size_t errlen);                                                      \
    void op_##fn##_vjp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *g, int i, bs_tensor *din);                               \
    void op_##fn##_jvp(const bs_tensor *in, const bs_tensor *out, const bs_attr *a,              \
                       const bs_tensor *din, bs_tensor *dout);                                   \
    double op_##fn##_flops(const bs_shape *in, const bs_shape *out, const bs_attr *a);           \
    int op_##fn##_saved(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a, \
                        bs_saved *sv);                                                           \
    OPS_SCALAR_DECL_##kind(fn)
/* elementwise ops also have scalar functions (bs_op_info.s_fwd, s_vjp) */
#define OPS_SCALAR_DECL_BS_K_EW(fn)                                                              \
    double op_##fn##_sfwd(double a, double b, double k, double k2);                              \
    double op_##fn##_svjp(double g, double a, double b, double y, double k, double k2, int i);
#define OPS_SCALAR_DECL_BS_K_RED(fn)
#define OPS_SCALAR_DECL_BS_K_SHAPE(fn)
#define OPS_SCALAR_DECL_BS_K_MAT(fn)
#define OPS_SCALAR_DECL_BS_K_ROW(fn)
#define OPS_SCALAR_DECL_BS_K_LOSS(fn)
#define OPS_SCALAR_DECL_BS_K_INDEX(fn)
#include "ops.def"
#undef BS_OP

#endif
