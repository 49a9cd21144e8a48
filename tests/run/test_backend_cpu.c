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
    bs_shape in[2];
    bs_dtype dt[2];   /* BS_F64 (float input) or BS_I64 */
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
    }
    return n;
#undef ADD1
#undef ADD2
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
    int64_t nin[2] = {bs_shape_numel(&c->in[0]), c->nin > 1 ? bs_shape_numel(&c->in[1]) : 0};
    int64_t nout = bs_shape_numel(&out);
    double *x[2] = {NULL, NULL}, *ref = calloc((size_t)nout + 1, sizeof(double));
    double *got = calloc((size_t)nout + 1, sizeof(double));
    bs_tensor tin[2];
    bs_dtype bdt[2];
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
    free(x[0]);
    free(x[1]);
    return 1;
}

/* ==== Every op ==== */

static void test_ops(bs_backend *be)
{
    static const bs_op all[] = {
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, help) BS_OP_##ID,
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
    CHECK(!be->supports(be, BS_OP_ADD, BS_BF16), "cpu claims bf16");
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
    bs_node *pn = bs_node_at(c, p);
    bs_opt *o = bs_opt_new(c, &conf);
    void *pb = put(be, p0, N, t), *gb = be->alloc(be, N * esize(t)), *mb = be->alloc(be, N * esize(t)),
         *vb = be->alloc(be, N * esize(t));
    be->fill(be, mb, 0, N, t);
    be->fill(be, vb, 0, N, t);
    for (int step = 1; step <= 4; step++) {
        for (int i = 0; i < N; i++) g[i] = pn->grad.data[i] = uni(-1, 1);
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
    test_opts(be);
    be->close(be);
    if (failures) fprintf(stderr, "%d failure%s\n", failures, failures == 1 ? "" : "s");
    else printf("cpu backend: every op forward and VJP, f64 and f32, matches the eager engine\n");
    return failures ? 1 : 0;
}
