/* tests/run/test_backend_cpu.c: the CPU backend against the eager engine: every op of ops.def
 * (walked by X-macro, so an op without a CPU kernel fails here), forward and VJP (din +=), in f64
 * and f32, over shapes that exercise broadcasting, batching, dims and keepdim; the optimizer
 * updates against core/optim.c; upload, download, fill and accumulate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backstep.h"

#include "run_test.h"

/* ==== Inputs ==== */

static uint64_t rng = 0x1234567;
static double urand(void) /* [0, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static double uni(double lo, double hi) { return lo + (hi - lo) * urand(); }

static bs_shape S(int nd, int64_t a, int64_t b, int64_t c, int64_t d)
{
    bs_shape s = {nd, {a, b, c, d}};
    for (int k = nd; k < BS_MAX_DIMS; k++) s.d[k] = 0;
    return s;
}
#define S0() S(0, 0, 0, 0, 0)
#define S1(a) S(1, a, 0, 0, 0)
#define S2(a, b) S(2, a, b, 0, 0)
#define S3(a, b, c) S(3, a, b, c, 0)
#define S4(a, b, c, d) S(4, a, b, c, d)

typedef struct {
    int nin;
    bs_shape in[BS_MAX_INPUTS];
    bs_dtype dt[BS_MAX_INPUTS]; /* BS_F64 (float input) or BS_I64 */
    bs_attr attr;
} tcase;

/* values for input k of op in its domain */
static void fill_input(bs_op op, int k, const tcase *c, double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = uni(-2, 2);
        if (fabs(v) < 0.05) v = 0.3; /* keep away from kinks (relu, abs) */
        switch (op) {
        case BS_OP_LOG: case BS_OP_SQRT: v = uni(0.5, 2); break;
        case BS_OP_POW: v = k == 0 ? uni(0.5, 2) : uni(-1, 2); break;
        case BS_OP_DIV: if (k == 1) v = (urand() < 0.5 ? -1 : 1) * uni(0.5, 2); break;
        case BS_OP_BCE: v = k == 0 ? uni(0.05, 0.95) : urand(); break;
        case BS_OP_INDEX_SELECT: /* indices in [-n, n) of dim attr.dim, repeats likely */
            if (k == 1) {
                const bs_shape *z = &c->in[0];
                int d = c->attr.dim < 0 ? c->attr.dim + z->ndim : c->attr.dim;
                int64_t m = z->ndim ? z->d[d] : 1;
                v = (double)(int64_t)(urand() * (double)(2 * m)) - (double)m;
            }
            break;
        case BS_OP_WHERE: case BS_OP_MASKED_FILL: /* the mask: 0, 1 or another nonzero value */
            if (k == (op == BS_OP_WHERE ? 0 : 1)) v = urand() < 0.4 ? 0 : urand() < 0.7 ? 1 : -3;
            break;
        case BS_OP_CROSS_ENTROPY:
            if (k == 1 && c->dt[1] == BS_I64) {
                const bs_shape *z = &c->in[0];
                int64_t C = z->ndim == 1 ? z->d[0] : z->d[1];
                v = (double)(int64_t)(urand() * (double)C);
                if (i == 1) v = -100; /* ignore_index */
            } else if (k == 1) {
                v = urand();
            }
            break;
        default: break;
        }
        x[i] = v;
    }
}

static int cases_for(bs_op op, tcase *out)
{
    int n = 0;
    const bs_op_info *info = &bs_ops[op];
#define ADD2(a, b)                                                                               \
    do {                                                                                         \
        out[n] = (tcase){2, {a, b}, {BS_F64, BS_F64}, bs_attr_default(op)};                     \
        n++;                                                                                     \
    } while (0)
#define ADD3(a, b, c)                                                                            \
    do {                                                                                         \
        out[n] = (tcase){3, {a, b, c}, {BS_F64, BS_F64, BS_F64}, bs_attr_default(op)};          \
        n++;                                                                                     \
    } while (0)
#define ADD1(a)                                                                                  \
    do {                                                                                         \
        out[n] = (tcase){1, {a, S0()}, {BS_F64, BS_F64}, bs_attr_default(op)};                  \
        n++;                                                                                     \
    } while (0)
    switch (info->kind) {
    case BS_K_EW:
        if (info->arity == 2) {
            ADD2(S2(3, 4), S2(3, 4));
            ADD2(S2(3, 4), S1(4));
            ADD2(S1(4), S2(3, 4));
            ADD2(S2(3, 1), S2(1, 4));
            ADD2(S0(), S2(2, 3));
            ADD2(S2(2, 3), S0());
            ADD2(S3(2, 1, 3), S2(4, 3));
        } else {
            ADD1(S2(3, 5));
            ADD1(S0());
            ADD1(S3(2, 3, 4));
        }
        break;
    case BS_K_MAT:
        ADD2(S2(3, 4), S2(4, 5));
        ADD2(S1(4), S2(4, 5));
        ADD2(S2(3, 4), S1(4));
        ADD2(S1(4), S1(4));
        ADD2(S3(2, 3, 4), S2(4, 5));
        ADD2(S3(2, 3, 4), S3(2, 4, 5));
        ADD2(S2(3, 4), S3(2, 4, 5));
        ADD2(S4(2, 1, 3, 4), S3(3, 4, 2));
        break;
    case BS_K_SHAPE:
        if (op == BS_OP_RESHAPE) {
            ADD1(S2(3, 4));
            out[n - 1].attr.shape = S2(2, 6);
            ADD1(S2(3, 4));
            out[n - 1].attr.shape = S1(12);
            ADD1(S3(2, 3, 4));
            out[n - 1].attr.shape = S2(4, -1);
        } else if (op == BS_OP_PERMUTE) { /* runs of the last dim copied whole, and not */
            ADD1(S4(2, 3, 4, 5));
            out[n - 1].attr.shape = S4(0, 2, 1, 3);
            ADD1(S4(2, 3, 4, 5));
            out[n - 1].attr.shape = S4(0, 1, -1, -2);
            ADD1(S3(2, 3, 4));
            out[n - 1].attr.shape = S3(2, 0, 1);
            ADD1(S2(37, 45));
            out[n - 1].attr.shape = S2(1, 0);
            ADD1(S1(5));
            out[n - 1].attr.shape = S1(0);
        } else {
            ADD1(S2(3, 4));
            ADD1(S2(37, 45)); /* more than one 32x32 tile */
            ADD1(S1(5));
            ADD1(S3(2, 3, 4));
            ADD1(S4(2, 3, 4, 5));
        }
        break;
    case BS_K_RED: {
        int dims[] = {BS_DIM_ALL, 0, 1, 2, -1};
        for (int d = 0; d < 5; d++)
            for (int kd = 0; kd < 2; kd++) {
                ADD1(S3(3, 4, 5));
                out[n - 1].attr.dim = dims[d];
                out[n - 1].attr.keepdim = kd;
            }
        ADD1(S1(7));
        break;
    }
    case BS_K_ROW:
        ADD1(S2(3, 4));
        ADD1(S3(2, 3, 4));
        ADD1(S1(5));
        if (op != BS_OP_LAYERNORM) {
            ADD1(S2(3, 4));
            out[n - 1].attr.dim = 0;
            ADD1(S3(2, 3, 4));
            out[n - 1].attr.dim = 1;
        }
        break;
    case BS_K_LOSS:
        if (op == BS_OP_CROSS_ENTROPY) {
            ADD2(S2(5, 4), S1(5));
            out[n - 1].dt[1] = BS_I64;
            ADD2(S1(4), S0());
            out[n - 1].dt[1] = BS_I64;
            ADD2(S3(2, 3, 4), S2(2, 4));
            out[n - 1].dt[1] = BS_I64;
            ADD2(S2(5, 4), S2(5, 4)); /* class probabilities */
        } else {
            ADD2(S2(3, 4), S2(3, 4));
            ADD2(S0(), S0());
            if (op != BS_OP_BCE) ADD2(S2(3, 4), S1(4));
        }
        break;
    case BS_K_INDEX:
        if (op == BS_OP_SELECT || op == BS_OP_SLICE) {
            int dims[] = {0, 1, -1, 2};
            for (int d = 0; d < 4; d++) {
                ADD1(S3(3, 5, 4));
                out[n - 1].attr.dim = dims[d];
                out[n - 1].attr.start = op == BS_OP_SELECT ? -1 - d : d - 2;
                if (op == BS_OP_SLICE) out[n - 1].attr.step = 1 + d % 3;
            }
            ADD1(S2(37, 45)); /* whole rows, and a slice past the end */
            out[n - 1].attr.start = 1;
            out[n - 1].attr.stop = 100;
            ADD1(S1(6));
            out[n - 1].attr.start = -2;
        } else if (op == BS_OP_INDEX_SELECT) {
            int dims[] = {0, 1, -1};
            for (int d = 0; d < 3; d++) {
                ADD2(S3(3, 5, 4), S1(7));
                out[n - 1].attr.dim = dims[d];
                out[n - 1].dt[1] = BS_I64;
            }
            ADD2(S2(6, 3), S0());
            out[n - 1].dt[1] = BS_I64;
            ADD2(S1(5), S1(3));
            out[n - 1].dt[1] = BS_I64;
        } else if (op == BS_OP_CAT) { /* along each dim of a 3-D pair, and whole long rows */
            int dims[] = {0, 1, -1};
            for (int d = 0; d < 3; d++) {
                ADD2(S3(3, 5, 4), S3(3, 5, 4));
                out[n - 1].attr.dim = dims[d];
            }
            ADD2(S2(37, 45), S2(2, 45));
            ADD2(S1(6), S1(3));
        } else if (op == BS_OP_TRIL || op == BS_OP_TRIU) { /* diagonals in and past the edges */
            int64_t diags[] = {0, 1, -2, 9, -9};
            for (int d = 0; d < 5; d++) {
                ADD1(d % 2 ? S3(2, 4, 6) : S2(5, 3));
                out[n - 1].attr.start = diags[d];
            }
        } else if (op == BS_OP_WHERE) {
            ADD3(S2(3, 4), S2(3, 4), S2(3, 4));
            ADD3(S1(4), S2(3, 4), S0());
            ADD3(S2(3, 1), S1(4), S2(1, 4));
            out[n - 1].dt[0] = BS_I64; /* an integer mask, int32 on the backend */
            ADD3(S3(2, 1, 3), S2(4, 1), S1(3));
        } else {
            ADD3(S2(3, 4), S2(3, 4), S0());
            ADD3(S2(3, 4), S1(4), S0());
            ADD3(S1(4), S2(3, 4), S0());
            out[n - 1].dt[1] = BS_I64;
        }
        break;
    }
    return n;
#undef ADD1
#undef ADD2
#undef ADD3
}

/* ==== One case on one dtype ==== */

static double tol_of(bs_dtype t) { return t == BS_F64 ? 1e-10 : 2e-4; }

static double max_diff(const double *a, const double *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (d > m || isnan(d)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}

static size_t esize(bs_dtype t) { return t == BS_I64 ? 4 : t == BS_F32 ? 4 : 8; }

static void *put(bs_backend *be, const double *x, int64_t n, bs_dtype t)
{
    void *b = be->alloc(be, (size_t)(n ? n : 1) * esize(t));
    if (b) be->upload(be, b, x, n, t);
    return b;
}

static int run_case(bs_backend *be, bs_op op, const tcase *c, bs_dtype t)
{
    const bs_op_info *info = &bs_ops[op];
    char sa[64], sb[64];
    bs_shape out;
    char err[256];
    if (info->shape(c->in, c->dt, &c->attr, &out, err, sizeof err)) return 0;
    bs_shape_str(&c->in[0], sa, sizeof sa);
    bs_shape_str(&c->in[1], sb, sizeof sb);
    int64_t nin[BS_MAX_INPUTS] = {0};
    for (int k = 0; k < c->nin; k++) nin[k] = bs_shape_numel(&c->in[k]);
    int64_t nout = bs_shape_numel(&out);
    double *x[BS_MAX_INPUTS] = {NULL}, *ref = calloc((size_t)nout + 1, sizeof(double));
    double *got = calloc((size_t)nout + 1, sizeof(double));
    bs_tensor tin[BS_MAX_INPUTS];
    bs_dtype bdt[BS_MAX_INPUTS];
    for (int k = 0; k < c->nin; k++) {
        x[k] = calloc((size_t)nin[k] + 1, sizeof(double));
        fill_input(op, k, c, x[k], nin[k]);
        /* the eager reference sees what the backend holds */
        if (c->dt[k] != BS_I64)
            for (int64_t i = 0; i < nin[k]; i++) x[k][i] = bs_dtype_round(t, x[k][i]);
        tin[k] = (bs_tensor){c->dt[k], c->in[k], x[k]};
        bdt[k] = c->dt[k] == BS_I64 ? BS_I64 : t;
    }
    bs_tensor tout = {BS_F64, out, ref};
    if (info->fwd(tin, &c->attr, &tout, err, sizeof err)) {
        fprintf(stderr, "eager %s %s %s: %s\n", info->name, sa, sb, err);
        failures++;
        goto done;
    }
    bs_exec e;
    memset(&e, 0, sizeof e);
    e.op = op;
    e.attr = c->attr;
    e.nin = c->nin;
    for (int k = 0; k < c->nin; k++) {
        e.in[k] = put(be, x[k], nin[k], bdt[k]);
        e.in_shape[k] = c->in[k];
        e.in_dtype[k] = bdt[k];
    }
    e.out = be->alloc(be, (size_t)(nout ? nout : 1) * esize(t));
    e.out_shape = out;
    e.dtype = t;
    CHECK(be->forward(be, &e) == BS_OK, "%s forward failed", info->name);
    be->download(be, got, e.out, nout, t);
    double d = max_diff(got, ref, nout);
    CHECK(d <= tol_of(t), "%s %s %s (dim %d keepdim %d) %s forward: diff %g", info->name, sa, sb,
          c->attr.dim, c->attr.keepdim, bs_dtype_name(t), d);
    /* VJPs: din starts at random values and must come back as din + J^T g */
    double *g = calloc((size_t)nout + 1, sizeof(double));
    for (int64_t i = 0; i < nout; i++) g[i] = bs_dtype_round(t, uni(-1, 1));
    void *gb = put(be, g, nout, t);
    for (int k = 0; k < c->nin; k++) {
        if (!info->deriv[k] || c->dt[k] == BS_I64) continue;
        double *d0 = calloc((size_t)nin[k] + 1, sizeof(double));
        double *dref = calloc((size_t)nin[k] + 1, sizeof(double));
        double *dgot = calloc((size_t)nin[k] + 1, sizeof(double));
        for (int64_t i = 0; i < nin[k]; i++) dref[i] = d0[i] = bs_dtype_round(t, uni(-1, 1));
        bs_tensor tg = {BS_F64, out, g}, tdin = {BS_F64, c->in[k], dref};
        info->vjp(tin, &tout, &c->attr, &tg, k, &tdin);
        void *db = put(be, d0, nin[k], t);
        /* the backend's VJP reads its own forward output, which is what it computed */
        CHECK(be->vjp(be, &e, k, gb, db) == BS_OK, "%s vjp failed", info->name);
        be->download(be, dgot, db, nin[k], t);
        double dv = max_diff(dgot, dref, nin[k]);
        CHECK(dv <= tol_of(t) * 5, "%s %s %s (dim %d keepdim %d) %s VJP of input %d: diff %g",
              info->name, sa, sb, c->attr.dim, c->attr.keepdim, bs_dtype_name(t), k, dv);
        be->free(be, db);
        free(d0);
        free(dref);
        free(dgot);
    }
    be->free(be, gb);
    free(g);
    for (int k = 0; k < c->nin; k++) be->free(be, (void *)e.in[k]);
    be->free(be, e.out);
done:
    free(ref);
    free(got);
    for (int k = 0; k < BS_MAX_INPUTS; k++) free(x[k]);
    return 1;
}

/* ==== Every op ==== */

static void test_ops(bs_backend *be)
{
    static const bs_op all[] = {
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, dc, help) BS_OP_##ID,
#include "ops.def"
#undef BS_OP
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        bs_op op = all[i];
        CHECK(be->supports(be, op, BS_F32) && be->supports(be, op, BS_F64),
              "the cpu backend has no kernel for %s (add it to core/backend_cpu.c)", bs_ops[op].name);
        if (!be->supports(be, op, BS_F64)) continue;
        tcase cs[32];
        int n = cases_for(op, cs), ran = 0;
        for (int k = 0; k < n; k++) {
            ran += run_case(be, op, &cs[k], BS_F64);
            run_case(be, op, &cs[k], BS_F32);
        }
        CHECK(ran > 0, "%s: no test case fits its shape rules", bs_ops[op].name);
    }
    /* f16 and bf16: 2-byte buffers that read back as bs_dtype_round gives (normals, subnormals,
       overflow to inf, underflow to 0), and an op computed in f32 and rounded once */
    static const double lpv[] = {1.0, -2.5, 6e-8, 3e-5, 65504, 65519, 70000, 1e-9, 0.1, -1e39, 3.14159};
    const bs_dtype lpt[] = {BS_F16, BS_BF16};
    for (int d = 0; d < 2; d++) {
        int n = (int)(sizeof lpv / sizeof lpv[0]);
        CHECK(be->supports(be, BS_OP_ADD, lpt[d]), "cpu has no %s", bs_dtype_name(lpt[d]));
        void *buf = be->alloc(be, (size_t)n * 2), *two = be->alloc(be, (size_t)n * 2), *sum = be->alloc(be, (size_t)n * 2);
        double back[16], twos[16];
        for (int i = 0; i < n; i++) twos[i] = 2.0;
        CHECK(!be->upload(be, buf, lpv, n, lpt[d]) && !be->download(be, back, buf, n, lpt[d]), "%s round trip",
              bs_dtype_name(lpt[d]));
        for (int i = 0; i < n; i++)
            CHECK(back[i] == bs_dtype_round(lpt[d], lpv[i]) || (isnan(back[i]) && isnan(bs_dtype_round(lpt[d], lpv[i]))),
                  "%s: %g reads back as %g, not %g", bs_dtype_name(lpt[d]), lpv[i], back[i], bs_dtype_round(lpt[d], lpv[i]));
        be->upload(be, two, twos, n, lpt[d]);
        bs_exec e = {.op = BS_OP_MUL, .nin = 2, .in = {buf, two}, .in_shape = {{1, {n}}, {1, {n}}},
                     .in_dtype = {lpt[d], lpt[d]}, .out = sum, .out_shape = {1, {n}}, .dtype = lpt[d]};
        CHECK(!be->forward(be, &e) && !be->download(be, back, sum, n, lpt[d]), "%s mul", bs_dtype_name(lpt[d]));
        for (int i = 0; i < n; i++)
            CHECK(back[i] == bs_dtype_round(lpt[d], 2.0 * bs_dtype_round(lpt[d], lpv[i])) || isnan(back[i]),
                  "%s: 2 * %g gives %g", bs_dtype_name(lpt[d]), lpv[i], back[i]);
        be->free(be, buf);
        be->free(be, two);
        be->free(be, sum);
    }
}

/* ==== gelu(approximate='tanh') in f32, to the bit ====
 * PyTorch's float32 kernel (torch 1.13, each point its own one-element tensor: its scalar loop),
 * from tests/ops/gen_ew_fixtures.py: the backend's f32 loop computes in float with the same
 * fused multiply-adds (core/ew_math.h), so every bit agrees, forward and VJP. */
static const double fx_gelu48_x[] = {0.19880261899349827, 0.14097466573177225, 5.509615890088204, 4.103071195610334, 3.36407599163525, 5.579241588010128, 1.803687008341571, 2.213488726230425, -2.420344630910389, -2.3950425097398638, 2.303321714548079, 1.5520665503534912, 5.892741892375421, 1.3444169546941735, 1.7410912709210598, -3.1476438364793893, 0.38631619697842934, -0.8731244128781674, 1.3740508607610897, 5.07982492922207, 4.372364813798178, 5.796644580030879, -4.325441978256877, 2.183281043615093, -0.30004724172363345, -7.28775572010705, -0.456394870481011, -8.072751318531559, 5.226315093486191, -1.5718830621371582, -0.8516369706584375, 1.3577265063030886, -3.8074343244549613, 3.853930358482989, -1.6747094665332913, -1.010086923227027, 0.33596721080349706, 0.4788985064957453, 1.7256243049183335, -1.6998912285155785, 2.021473941704508, -2.8115185959903854, 2.184177132806769, 0.133970133745937, 1.9188985996153014, 0.9516451727904953, -4.587139266749186, 2.195873395290265};
static const double fx_gelu48_g[] = {1.2349828412037434, 0.9760049770226039, 0.1343319820950475, -0.08164691771217654, 0.2085945464949805, -1.7196224128603383, 0.5389467248159018, -2.219386425548944, -0.37321646696733984, -1.5441264247453323, -0.16284188039102038, -0.9692689983614968, -0.6541102621535176, -1.378913736646689, -1.4245652245923288, -0.4275695310980957, -0.3225976433994464, 0.2546306881185898, -0.25429147515013184, 1.0885145540738355, -0.5353489725617118, -0.8100385030760908, -0.8180754920535276, -0.05970588749567211, 1.380471285391596, 1.1961309178087804, 0.7343127212250506, -0.20718236993031286, 1.096496342929667, -0.3373714686427381, 0.41816242131728704, 1.200821341924654, 1.1967129956999676, 0.16350058685014293, -1.2235604456898856, -1.027332272758184, -0.010523485762374246, -1.3956527997608248, -0.7829668726294312, -1.1591256085444752, 2.106576662628057, 1.5845706732027236, 1.1333131092468562, 3.1579516553647218, 0.12756956489428473, 1.3834762724297625, 0.5600871543204671, 1.3030785716126612};
static const double fx_gelu48_y_f32[] = {0.11506475508213043, 0.07838954776525497, 5.509615898132324, 4.103028774261475, 3.36303973197937, 5.579241752624512, 1.73934006690979, 2.1840336322784424, -0.018357422202825546, -0.01950627565383911, 2.279176950454712, 1.4582384824752808, 5.892741680145264, 1.223983645439148, 1.669888973236084, -0.0022378619760274887, 0.25124138593673706, -0.16713474690914154, 1.2574173212051392, 5.079824924468994, 4.372354507446289, 5.796644687652588, -1.3535362086258829e-05, 2.151859998703003, -0.1146417185664177, -0.0, -0.14790844917297363, -0.0, 5.226315021514893, -0.0913470908999443, -0.16805027425289154, 1.238996982574463, -0.0001704325113678351, 3.853792190551758, -0.07885142415761948, -0.15795892477035522, 0.21217694878578186, 0.3275492787361145, 1.6526730060577393, -0.07590670883655548, 1.9778956174850464, -0.006467901170253754, 2.152815818786621, 0.074123814702034, 1.8661601543426514, 0.7891222834587097, -3.1442700674233492e-06, 2.165283203125};
static const double fx_gelu48_dx_f32[] = {0.8108161091804504, 0.5970574021339417, 0.13433198630809784, -0.08166413754224777, 0.20939870178699493, -1.7196223735809326, 0.5963757038116455, -2.3604345321655273, 0.01654583215713501, 0.07178130000829697, -0.1717616468667984, -1.0910879373550415, -0.6541102528572083, -1.5551533699035645, -1.5846797227859497, 0.0032497276552021503, -0.2559296786785126, -0.0117861432954669, -0.28698718547821045, 1.0885157585144043, -0.5353794097900391, -0.8100385069847107, 5.9457175666466355e-05, -0.06368395686149597, 0.3695109188556671, 0.0, 0.11755345016717911, -0.0, 1.096496343612671, 0.042067404836416245, -0.016253577545285225, 1.3547719717025757, -0.0009047840721905231, 0.1636027842760086, 0.1442970633506775, 0.08770336210727692, -0.007978744804859161, -1.1922166347503662, -0.8720314502716064, 0.13436995446681976, 2.2830703258514404, -0.029974060133099556, 1.2087188959121704, 1.914516568183899, 0.1396617442369461, 1.4808764457702637, -1.0358718100178521e-05, 1.3882205486297607};

static void test_gelu_tanh_f32(bs_backend *be)
{
    enum { N = 48 };
    bs_shape s = S1(N);
    double y[N], dx[N], zero[N] = {0};
    bs_exec e;
    memset(&e, 0, sizeof e);
    e.op = BS_OP_GELU;
    e.attr = bs_attr_default(BS_OP_GELU);
    e.attr.k = BS_GELU_TANH;
    e.nin = 1;
    e.in[0] = put(be, fx_gelu48_x, N, BS_F32);
    e.in_shape[0] = e.out_shape = s;
    e.in_dtype[0] = e.dtype = BS_F32;
    e.out = be->alloc(be, N * 4);
    void *g = put(be, fx_gelu48_g, N, BS_F32), *d = put(be, zero, N, BS_F32);
    CHECK(be->forward(be, &e) == BS_OK && be->vjp(be, &e, 0, g, d) == BS_OK, "gelu tanh f32 ran");
    be->download(be, y, e.out, N, BS_F32);
    be->download(be, dx, d, N, BS_F32);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += y[i] != fx_gelu48_y_f32[i] || dx[i] != fx_gelu48_dx_f32[i];
    CHECK(bad == 0, "gelu(approximate='tanh') f32: %d of %d points differ from torch's bits", bad, N);
    be->free(be, (void *)e.in[0]);
    be->free(be, e.out);
    be->free(be, g);
    be->free(be, d);
}

/* ==== Optimizers against core/optim.c ==== */

static void test_opt(bs_backend *be, bs_opt_conf conf, bs_dtype t, const char *what)
{
    bs_ctx *c = bs_ctx_new();
    enum { N = 37 };
    double p0[N], g[N], got[N];
    for (int i = 0; i < N; i++) p0[i] = uni(-1, 1);
    bs_shape s = S1(N);
    bs_id p = bs_leaf(c, p0, &s, BS_F64, true);
    bs_id L = bs_apply1(c, BS_OP_SUM, p);
    CHECK(bs_backward(c, L, NULL, false) == BS_OK, "backward");
    const bs_node *pn = bs_node_get(c, p);
    bs_opt *o = bs_opt_new(c, &conf);
    void *pb = put(be, p0, N, t), *gb = be->alloc(be, N * esize(t)), *mb = be->alloc(be, N * esize(t)),
         *vb = be->alloc(be, N * esize(t));
    be->fill(be, mb, 0, N, t);
    be->fill(be, vb, 0, N, t);
    for (int step = 1; step <= 4; step++) {
        for (int i = 0; i < N; i++) g[i] = uni(-1, 1);
        bs_tensor gt = {BS_F64, s, g};
        CHECK(bs_grad_set(c, p, &gt) == BS_OK, "grad_set");
        bs_opt_step(c, o);
        be->upload(be, gb, g, N, t);
        be->opt_step(be, &conf, step, pb, gb, mb, vb, N, t);
    }
    be->download(be, got, pb, N, t);
    double d = max_diff(got, pn->value.data, N);
    CHECK(d <= (t == BS_F64 ? 1e-12 : 1e-5), "%s %s: diff %g from core/optim.c", what,
          bs_dtype_name(t), d);
    be->free(be, pb);
    be->free(be, gb);
    be->free(be, mb);
    be->free(be, vb);
    bs_ctx_free(c);
}

static void test_opts(bs_backend *be)
{
    for (int t = 0; t < 2; t++) {
        bs_dtype dt = t ? BS_F32 : BS_F64;
        bs_opt_conf c = bs_opt_defaults(BS_OPT_SGD);
        c.lr = 0.1;
        test_opt(be, c, dt, "sgd");
        c.momentum = 0.9;
        c.dampening = 0.1;
        c.weight_decay = 0.01;
        test_opt(be, c, dt, "sgd momentum dampening weight_decay");
        c.dampening = 0;
        c.nesterov = true;
        test_opt(be, c, dt, "sgd nesterov");
        c = bs_opt_defaults(BS_OPT_ADAM);
        c.lr = 0.05;
        test_opt(be, c, dt, "adam");
        c.weight_decay = 0.1;
        test_opt(be, c, dt, "adam weight_decay");
    }
}

/* ==== Buffers ==== */

static void test_buffers(bs_backend *be)
{
    double x[5] = {1.5, -2.25, 3, 1e-3, 7}, y[5], z[5];
    for (int t = 0; t < 3; t++) {
        bs_dtype dt = t == 0 ? BS_F64 : t == 1 ? BS_F32 : BS_I64;
        void *b = be->alloc(be, 5 * esize(dt)), *c = be->alloc(be, 5 * esize(dt));
        be->upload(be, b, x, 5, dt);
        be->download(be, y, b, 5, dt);
        for (int i = 0; i < 5; i++)
            CHECK(y[i] == (dt == BS_I64 ? (double)(int)x[i] : bs_dtype_round(dt, x[i])),
                  "%s round trip %g -> %g", bs_dtype_name(dt), x[i], y[i]);
        be->fill(be, c, 2, 5, dt);
        be->download(be, z, c, 5, dt);
        for (int i = 0; i < 5; i++) CHECK(z[i] == 2, "fill %s", bs_dtype_name(dt));
        if (dt != BS_I64) {
            be->accumulate(be, c, b, 5, dt);
            be->download(be, z, c, 5, dt);
            for (int i = 0; i < 5; i++)
                CHECK(z[i] == bs_dtype_round(dt, 2 + y[i]), "accumulate %s", bs_dtype_name(dt));
        }
        be->free(be, b);
        be->free(be, c);
    }
    CHECK(be->sync(be) == BS_OK, "sync");
}

int main(void)
{
    bs_backend *be = bs_backend_cpu();
    char err[256];
    CHECK(be && be->open(be, err, sizeof err) == BS_OK, "open");
    CHECK(bs_backend_find("cpu") == be, "registry");
    test_buffers(be);
    test_ops(be);
    test_gelu_tanh_f32(be);
    test_opts(be);
    be->close(be);
    if (failures) fprintf(stderr, "%d failure%s\n", failures, failures == 1 ? "" : "s");
    else printf("cpu backend: every op forward and VJP, f64 and f32, matches the eager engine\n");
    return failures ? 1 : 0;
}
