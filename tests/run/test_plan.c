/* tests/run/test_plan.c: replay plans against the eager engine: a replay at the recorded sizes
 * gives the tape's values and grads; replays at other sizes (size variables, param(expr)
 * re-evaluated, reshape targets rebound) match the eager engine at those sizes; literal data is
 * named when it cannot follow; :train on a backend matches :train on the tape; :run's --quiet
 * line has the documented form. Graphs are built by the REPL, as a user would type them. */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

#define BS_RUN_TEST_SESSION
#include "run_test.h"
#include "ew_math.h"

/* ==== Sessions ==== */





static bs_id id_of(sess *t, const char *name)
{
    bs_name *n = bs_name_find(t->s, name);
    return n && n->kind == BS_NAME_NODE ? n->id : BS_NONE;
}

static double rel(double a, double b)
{
    if (isnan(a) && isnan(b)) return 0;
    return fabs(a - b) / fmax(1.0, fabs(b));
}

/* ==== A graph that uses every kind of op ==== */

static const char *const GRAPH =
    "seed(3)\n"
    "N = dim(5); D = dim(4); H = dim(3); C = dim(3)\n"
    "x = randn(N, D)\n"
    "W1 = param(randn(D, H) * 0.5)\n"
    "b1 = param(zeros(H) + 0.1)\n"
    "h = relu(x @ W1 + b1)\n"
    "g = tanh(x @ W1 - b1)\n"
    "W2 = param(randn(H, C))\n"
    "b2 = param(randn(C) * 0.1)\n"
    "z = leaky_relu(h @ W2 + b2, 0.1) + sigmoid(g @ W2)\n"
    "q = softmax(z, dim=1)\n"
    "lq = log_softmax(z)\n"
    "r = reshape(z, N * C)\n"
    "u = sum(exp(-(h ** 2)), dim=1) + mean(cos(g) * sin(g), dim=1)\n"
    "v = max(z, dim=0, keepdim=True) + max(lq)\n"
    "w = layernorm(h.T).T / (abs(h) + 1)\n"
    "pp = sigmoid(z)\n"
    "m = z @ W2.T; m2 = W1.T @ x.T\n"
    "Q = param(randn(D, C)); R = param(randn(C, D)); m3 = W1.T @ Q + W1.T @ R.T\n"
    "L = cross_entropy(z, t) + mean(q * lq) + 0.1 * sum(abs(W1)) + mse(r, r * 0.5 + 1) \\\n"
    "    + sum(u) * 0.01 + sum(v) + mean(w) + bce(pp, ones(N, C) * 0.5) \\\n"
    "    + bce_with_logits(z, zeros(N, C)) + mean(sqrt(exp(g) + 1) * log(exp(h) + 1)) \\\n"
    "    + mean(m) + mean(m2 * m2) * 0.1 + mean(m3 * m3)\n";

/* a session with GRAPH recorded (its class-index target t first) */
static void graph_session(sess *t)
{
    sess_open(t, false);
    const char *e = eval(t, "t = tensor([0, 2, 1, 0, 2])");
    CHECK(!*e, "%s", e);
    e = eval(t, GRAPH);
    CHECK(!*e, "graph: %s", e);
}

/* L.backward() in the session, then a plan of L at the recorded sizes on the opened CPU backend
   in f64 without an update (NULL with the reason in err) */
static bs_plan *plan_after_backward(sess *t, const char *what, bs_backend *be, bs_id *L,
                                    char *err, size_t errlen)
{
    const char *e = eval(t, "L.backward()");
    CHECK(!*e, "%s backward: %s", what, e);
    *L = id_of(t, "L");
    be->open(be, err, errlen);
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;
    bs_plan *p = bs_plan_new(bs_session_ctx(t->s), *L, be, &o, err, errlen);
    CHECK(p, "%s plan: %s", what, err);
    return p;
}

/* every value and grad of the plan (run at the recorded sizes) against the tape's, up to node L:
   the largest relative difference; *compared counts the tensors */
static double plan_vs_tape(bs_plan *p, bs_ctx *c, bs_id L, int *compared)
{
    double worst = 0;
    *compared = 0;
    for (bs_id i = 0; i <= L; i++) {
        const bs_shape *sh = bs_plan_shape(p, i);
        const bs_node *n = bs_node_get(c, i);
        if (!sh) continue;
        int64_t k = bs_shape_numel(sh);
        double *buf = malloc((size_t)(k ? k : 1) * sizeof(double));
        CHECK(bs_shape_eq(sh, &n->value.shape), "node %d: shape changed at the recorded sizes", (int)i);
        CHECK(bs_plan_read(p, i, false, buf) == BS_OK, "read %d", (int)i);
        for (int64_t j = 0; j < k; j++) worst = fmax(worst, rel(buf[j], n->value.data[j]));
        (*compared)++;
        if (n->requires_grad && n->grad.data) {
            /* a transpose that its matmuls read in place has no grad of its own */
            bs_status rs = bs_plan_read(p, i, true, buf);
            CHECK(rs == BS_OK || n->op == BS_OP_TRANSPOSE, "read grad %d", (int)i);
            if (rs == BS_OK) {
                for (int64_t j = 0; j < k; j++) worst = fmax(worst, rel(buf[j], n->grad.data[j]));
                (*compared)++;
            }
        }
        free(buf);
    }
    return worst;
}

/* the tape's values and grads against a plan at the recorded sizes (f64, cpu) */
static void test_recorded_size(void)
{
    sess t;
    graph_session(&t);
    bs_ctx *c = bs_session_ctx(t.s);
    bs_backend *be = bs_backend_cpu();
    char err[512];
    bs_id L;
    bs_plan *p = plan_after_backward(&t, "graph", be, &L, err, sizeof err);
    if (!p) goto out;
    double loss = 0;
    CHECK(bs_plan_forward(p, &loss) == BS_OK && bs_plan_backward(p) == BS_OK, "%s",
          bs_plan_errmsg(p));
    CHECK(rel(loss, bs_node_get(c, L)->value.data[0]) < 1e-12, "loss %.17g vs tape %.17g", loss,
          bs_node_get(c, L)->value.data[0]);
    int compared;
    double worst = plan_vs_tape(p, c, L, &compared);
    CHECK(compared > 60, "only %d tensors compared", compared);
    CHECK(worst < 1e-12, "largest difference from the tape %g", worst);
    bs_plan_free(p);
out:
    be->close(be);
    sess_close(&t);
}

/* One schedule: the eager iterator and a replay plan step the same nodes in the same order
 * (core's bs__sched_build serves both). The graph has shared subexpressions, folded transposes,
 * an integer target, a no_grad branch whose inputs require grad (one of them reaches the root
 * only through it), and a detached copy; the plan
 * is built while the eager pass is live (after three steps), which must not disturb the pass. */
static void test_one_schedule(void)
{
    sess t;
    graph_session(&t);
    const char *e;
    e = eval(&t, "u2 = exp(W1) * 5\n"
                 "with torch.no_grad():\n    hn = h * 2 + sum(u2)\n\n"
                 "k = h.detach() * 3\n"
                 "L2 = L + sum(h * hn) + sum(k * g) + mean(W1.T @ W1)\n");
    CHECK(!*e, "no_grad part: %s", e);
    bs_ctx *c = bs_session_ctx(t.s);
    bs_id L2 = id_of(&t, "L2");
    bs_backend *be = bs_backend_cpu();
    char err[512];
    be->open(be, err, sizeof err);
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;

    int cap = bs_tape_len(c), neager = 0, nplan = -1;
    bs_id *eager = malloc((size_t)cap * sizeof *eager), *plan = malloc((size_t)cap * sizeof *plan);
    bs_bwd *b = bs_backward_begin(c, L2, NULL, true, true);
    CHECK(b, "backward: %s", bs_errmsg(c));
    bs_step st;
    int r;
    while (b && (r = bs_backward_next(b, &st)) > 0) {
        eager[neager++] = st.node;
        if (neager == 3) {
            bs_plan *p = bs_plan_new(c, L2, be, &o, err, sizeof err);
            CHECK(p, "plan: %s", err);
            if (p) {
                nplan = bs_plan_schedule(p, plan, cap);
                bs_plan_free(p);
            }
        }
    }
    if (b) bs_backward_end(b);
    CHECK(neager > 40, "only %d eager steps", neager);
    CHECK(nplan == neager, "the plan has %d steps, the eager pass %d", nplan, neager);
    for (int i = 0; i < neager && i < nplan; i++)
        if (eager[i] != plan[i]) {
            char a[64], bn[64];
            CHECK(0, "step %d: eager steps %s, the plan %s", i + 1,
                  bs_node_name(c, eager[i], a, sizeof a), bs_node_name(c, plan[i], bn, sizeof bn));
            break;
        }
    /* hn was made under no_grad from nodes that require grad, and u2 (which requires grad)
       reaches L2 only through it: neither engine steps them */
    bs_id hn = id_of(&t, "hn"), u2 = id_of(&t, "u2");
    for (int i = 0; i < neager; i++)
        CHECK(eager[i] != hn && eager[i] != u2, "the no_grad node hn or u2 was stepped");
    /* the live pass was not disturbed: its grads equal a plain backward's */
    const bs_node *W1 = bs_node_get(c, id_of(&t, "W1"));
    int64_t m = bs_shape_numel(&W1->value.shape);
    double *g1 = malloc((size_t)m * sizeof *g1);
    memcpy(g1, W1->grad.data, (size_t)m * sizeof *g1);
    bs_zero_grad_all(c);
    CHECK(bs_backward(c, L2, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    W1 = bs_node_get(c, id_of(&t, "W1"));
    double worst = 0;
    for (int64_t j = 0; j < m; j++) worst = fmax(worst, rel(g1[j], W1->grad.data[j]));
    CHECK(worst == 0, "W1.grad after a plan mid-pass differs by %g", worst);
    free(g1);
    free(eager);
    free(plan);
    be->close(be);
    sess_close(&t);
}

/* every activation ew_math.h flags BS_EW_ACT after a bias add: the CPU backend runs the pair as
 * one loop forward and backward, and the values and grads are the tape's */
static void test_fused_acts(void)
{
#define ACT_NAME(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                        \
    if ((FLAGS) & BS_EW_ACT) acts[nact++] = #fn;
    const char *acts[BS_OP_COUNT];
    int nact = 0;
    BS_EW1_OPS(ACT_NAME)
#undef ACT_NAME
    CHECK(nact >= 7, "only %d fused activations", nact);
    for (int a = 0; a < nact; a++) {
        sess t;
        sess_open(&t, false);
        char src[512];
        snprintf(src, sizeof src,
                 "seed(7); N = dim(4); x = randn(N, 3) * 2; W = param(randn(3, 5));"
                 " b = param(randn(5)); h = %s(x @ W + b); L = sum(h * h)", acts[a]);
        const char *e = eval(&t, src);
        CHECK(!*e, "%s: %s", acts[a], e);
        bs_ctx *c = bs_session_ctx(t.s);
        bs_backend *be = bs_backend_cpu();
        char err[512];
        bs_id L;
        bs_plan *p = plan_after_backward(&t, acts[a], be, &L, err, sizeof err);
        if (p) {
            CHECK(bs_plan_forward(p, NULL) == BS_OK && bs_plan_backward(p) == BS_OK, "%s: %s",
                  acts[a], bs_plan_errmsg(p));
            bool fwd = false, bwd = false;
            for (int i = 0; i < bs_plan_node_count(p); i++) {
                bs_plan_node pn;
                bs_plan_node_get(p, i, &pn);
                fwd |= pn.fused_fwd;
                bwd |= pn.fused_bwd;
            }
            CHECK(fwd && bwd, "%s: the bias add was not fused (forward %d, backward %d)", acts[a],
                  fwd, bwd);
            double worst = 0;
            const char *names[] = {"h", "W", "b"};
            for (int k = 0; k < 3; k++) {
                bs_id id = id_of(&t, names[k]);
                const bs_node *n = bs_node_get(c, id);
                int64_t m = bs_shape_numel(&n->value.shape);
                double *buf = malloc((size_t)m * sizeof(double));
                bool grad = k > 0;
                CHECK(bs_plan_read(p, id, grad, buf) == BS_OK, "%s: read %s", acts[a], names[k]);
                for (int64_t j = 0; j < m; j++)
                    worst = fmax(worst, rel(buf[j], (grad ? n->grad.data : n->value.data)[j]));
                free(buf);
            }
            CHECK(worst < 1e-12, "%s: fused plan differs from the tape by %g", acts[a], worst);
            bs_plan_free(p);
        }
        be->close(be);
        sess_close(&t);
    }
}

/* other sizes: the same graph, targets made by a constructor, checked against the eager engine */
static void test_other_sizes(void)
{
    sess t;
    sess_open(&t, false);
    CHECK(!*eval(&t, "N = dim(5); t = zeros(N, dtype='i64')"), "targets");
    const char *e = eval(&t, GRAPH);
    CHECK(!*e, "graph: %s", e);
    bs_ctx *c = bs_session_ctx(t.s);
    bs_id L = id_of(&t, "L");
    bs_backend *be = bs_backend_cpu();
    char err[512];
    be->open(be, err, sizeof err);
    for (int f = 0; f < 2; f++) {
        bs_plan_opts o = bs_plan_defaults();
        o.dtype = f ? BS_F32 : BS_F64;
        const char *names[] = {"N", "D", "H", "C"};
        int64_t vals[] = {17, 9, 6, 4};
        for (int k = 0; k < 4; k++) {
            o.bind_dim[o.nbind] = bs_dim_find(c, names[k]);
            o.bind_value[o.nbind++] = vals[k];
        }
        bs_plan *p = bs_plan_new(c, L, be, &o, err, sizeof err);
        CHECK(p, "plan at new sizes: %s", err);
        if (p) {
            const bs_shape *sx = bs_plan_shape(p, id_of(&t, "x"));
            const bs_shape *sr = bs_plan_shape(p, id_of(&t, "r"));
            CHECK(sx && sx->ndim == 2 && sx->d[0] == 17 && sx->d[1] == 9, "x's shape");
            CHECK(sr && sr->ndim == 1 && sr->d[0] == 17 * 4, "reshape(z, N * C) at N=17 C=4");
            for (int k = 0; k < 3; k++) CHECK(bs_plan_step(p, NULL) == BS_OK, "%s", bs_plan_errmsg(p));
            bs_plan_summary sum;
            bs_plan_summary_get(p, &sum);
            CHECK(sum.steps == 3 && sum.peak_bytes > 0, "summary");
            bs_plan_free(p);
        }
        /* f32 against f64: bce's gradient near a saturated sigmoid divides by p(1-p), so f32's
         * rounding of p shows up at about 1e-3 there */
        bs_plan_check_result r;
        bs_status st = bs_plan_check(c, L, be, &o, NULL, 0, &r, err, sizeof err);
        CHECK(st == BS_OK, "check: %s", err);
        CHECK(r.compared > 60 && r.max_diff < (f ? 3e-3 : 1e-10), "%s: max diff %g over %d",
              bs_dtype_name(o.dtype), r.max_diff, r.compared);
        CHECK(strstr(r.sizes, "N=17") && strstr(r.sizes, "D=9"), "sizes '%s'", r.sizes);
        /* a budget forces smaller sizes */
        st = bs_plan_check(c, L, be, &o, NULL, 2000, &r, err, sizeof err);
        CHECK(st == BS_OK && r.reduced && r.max_diff < (f ? 3e-3 : 1e-10), "reduced check: %s %g",
              err, r.max_diff);
    }
    /* the literal targets version cannot change N, and says why */
    CHECK(!*eval(&t, "tt = tensor([0, 1, 2, 0, 1]); L2 = cross_entropy(z, tt) + sum(W1)"), "L2");
    bs_plan_opts o = bs_plan_defaults();
    o.bind_dim[0] = bs_dim_find(c, "N");
    o.bind_value[0] = 8;
    o.nbind = 1;
    bs_plan *p = bs_plan_new(c, id_of(&t, "L2"), be, &o, err, sizeof err);
    CHECK(!p, "a literal (5,) target at N=8 must not replay");
    CHECK(strstr(err, "tt (5,)") && strstr(err, "literal data") && strstr(err, "N=8"),
          "message: %s", err);
    bs_plan_free(p);
    be->close(be);
    sess_close(&t);
}

/* leaves initialised again at new sizes: param(expr), eye, arange, ones; random ones from seed */
static void test_initializers(void)
{
    sess t;
    sess_open(&t, false);
    const char *e = eval(&t, "D = dim(3)\n"
                             "W = param(ones(D, 2) * 0.5 + eye(D, 2))\n"
                             "E = param(arange(D) * 2.0)\n"
                             "x = randn(D, D)\n"
                             "L = sum(W) + sum(E) + sum(x @ W)\n");
    CHECK(!*e, "%s", e);
    bs_ctx *c = bs_session_ctx(t.s);
    bs_backend *be = bs_backend_cpu();
    char err[512];
    be->open(be, err, sizeof err);
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.bind_dim[0] = bs_dim_find(c, "D");
    o.bind_value[0] = 6;
    o.nbind = 1;
    bs_plan *p = bs_plan_new(c, id_of(&t, "L"), be, &o, err, sizeof err);
    CHECK(p, "%s", err);
    if (p) {
        double w[12], ev[6], x1[36], x2[36];
        bs_plan_read(p, id_of(&t, "W"), false, w);
        bs_plan_read(p, id_of(&t, "E"), false, ev);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 2; j++)
                CHECK(w[i * 2 + j] == 0.5 + (i == j), "W[%d,%d] = %g", i, j, w[i * 2 + j]);
        for (int i = 0; i < 6; i++) CHECK(ev[i] == 2.0 * i, "E[%d] = %g", i, ev[i]);
        bs_plan_read(p, id_of(&t, "x"), false, x1);
        bs_plan *q = bs_plan_new(c, id_of(&t, "L"), be, &o, err, sizeof err);
        bs_plan_read(q, id_of(&t, "x"), false, x2);
        CHECK(!memcmp(x1, x2, sizeof x1), "the same seed gives the same random leaves");
        double m = 0, v = 0;
        for (int i = 0; i < 36; i++) m += x1[i] / 36;
        for (int i = 0; i < 36; i++) v += (x1[i] - m) * (x1[i] - m) / 36;
        CHECK(fabs(m) < 0.6 && v > 0.3 && v < 2.5, "randn(6, 6) drawn again: mean %g var %g", m, v);
        bs_plan_free(q);
        o.seed = 99;
        q = bs_plan_new(c, id_of(&t, "L"), be, &o, err, sizeof err);
        bs_plan_read(q, id_of(&t, "x"), false, x2);
        CHECK(memcmp(x1, x2, sizeof x1), "another seed gives other values");
        bs_plan_free(q);
        bs_plan_free(p);
    }
    /* a graph built only from literals replays at its own size, and says so when asked to resize */
    e = eval(&t, "a = param([[1.0, 2.0], [3.0, 4.0]]); b = tensor([0.5, -1.0]); M = sum(a @ b)");
    CHECK(!*e, "%s", e);
    p = bs_plan_new(c, id_of(&t, "M"), be, &o, err, sizeof err);
    CHECK(!p && strstr(err, "D sizes nothing") && strstr(err, "a (2, 2)") && strstr(err, "b (2,)"),
          "message: %s", err);
    bs_plan_free(p);
    o.nbind = 0;
    p = bs_plan_new(c, id_of(&t, "M"), be, &o, err, sizeof err);
    double mv;
    CHECK(p && bs_plan_forward(p, &mv) == BS_OK && mv == (1.0 * 0.5 - 2.0) + (3.0 * 0.5 - 4.0),
          "literal graph at its own size: %g", p ? mv : NAN);
    bs_plan_free(p);
    /* reshape targets: a size variable, -1, and a literal computed from the old sizes */
    e = eval(&t, "K = dim(2); y = param(randn(K, 3)); r1 = reshape(y, K, 3, 1); "
                 "r2 = reshape(y, -1); r3 = reshape(y, 6); R = sum(r1) + sum(r2 * r3)");
    CHECK(!*e, "%s", e);
    o.bind_dim[0] = bs_dim_find(c, "K");
    o.bind_value[0] = 5;
    o.nbind = 1;
    p = bs_plan_new(c, id_of(&t, "R"), be, &o, err, sizeof err);
    CHECK(p, "%s", err);
    if (p) {
        const bs_shape *s1 = bs_plan_shape(p, id_of(&t, "r1")), *s2 = bs_plan_shape(p, id_of(&t, "r2")),
                       *s3 = bs_plan_shape(p, id_of(&t, "r3"));
        CHECK(s1->ndim == 3 && s1->d[0] == 5 && s2->d[0] == 15 && s3->d[0] == 15, "reshape targets");
        bs_plan_free(p);
    }
    be->close(be);
    sess_close(&t);
}

/* :train on a backend (f64) and on the tape end at the same loss; the session's params move */
static void test_train_engines(void)
{
    const char *setup = "seed(5)\n"
                        "x = randn(16, 2)\n"
                        "y = tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0])\n"
                        "W1 = param(randn(2, 8) * 0.5); b1 = param(zeros(8))\n"
                        "W2 = param(randn(8, 2) * 0.5); b2 = param(zeros(2))\n"
                        "L = cross_entropy(tanh(x @ W1 + b1) @ W2 + b2, y)\n";
    const char *cmds[][2] = {
        {":train L steps=7 lr=0.3 momentum=0.9 --quiet", ":train L steps=7 lr=0.3 momentum=0.9 on=cpu --quiet"},
        {":train L steps=7 lr=0.05 opt=adam --quiet", ":train L steps=7 lr=0.05 opt=adam on=cpu --quiet"},
    };
    for (int k = 0; k < 2; k++) {
        double fin[2], gr[2];
        for (int w = 0; w < 2; w++) {
            sess t;
            sess_open(&t, true);
            CHECK(!*eval(&t, setup), "setup");
            double before = bs_node_get(bs_session_ctx(t.s), id_of(&t, "W1"))->value.data[0];
            size_t at = t.len;
            const char *e = eval(&t, cmds[k][w]);
            CHECK(!*e, "%s: %s", cmds[k][w], e);
            fin[w] = strtod(t.out + at, NULL);
            bs_ctx *c = bs_session_ctx(t.s);
            const bs_node *w1 = bs_node_get(c, id_of(&t, "W1"));
            CHECK(w1->grad.data, "W1.grad after :train");
            gr[w] = w1->grad.data ? w1->grad.data[3] : NAN;
            CHECK(!bs_node_get(c, id_of(&t, "L"))->grad.data || w == 0,
                  "intermediate grads are None after :train on a backend");
            CHECK(rel(fin[w], bs_node_get(c, id_of(&t, "L"))->value.data[0]) < 1e-15,
                  "the tape's L is the final loss");
            CHECK(bs_node_get(c, id_of(&t, "W1"))->value.data[0] != before, "W1 was trained");
            /* the graph stays usable: a backward after training works */
            e = eval(&t, "L.backward()");
            CHECK(!*e, "backward after :train: %s", e);
            sess_close(&t);
        }
        CHECK(rel(fin[0], fin[1]) < 1e-10, "%s: tape %.17g, cpu %.17g", cmds[k][0], fin[0], fin[1]);
        CHECK(rel(gr[0], gr[1]) < 1e-10, "%s: W1.grad tape %.17g, cpu %.17g", cmds[k][0], gr[0], gr[1]);
    }
}

/* :run's one-line form, its errors, and :run gpu's explanation */
static void test_run_command(void)
{
    sess t;
    sess_open(&t, true);
    CHECK(!*eval(&t, "N = dim(4); x = randn(N, 3); W = param(randn(3, 2)); L = mean(relu(x @ W))"),
          "setup");
    regex_t re;
    regcomp(&re,
            "^run cpu step_ms=[0-9]+\\.[0-9]+ fwd_ms=[0-9]+\\.[0-9]+ bwd_ms=[0-9]+\\.[0-9]+ "
            "peak_bytes=[0-9]+ max_diff=(nan|[0-9.]+(e[-+][0-9]+)?)\n$",
            REG_EXTENDED);
    const char *runs[] = {":run cpu N=64 steps=3", ":run cpu N=64 steps=2 --check",
                          ":run cpu dtype=f64 --check"};
    for (int i = 0; i < 3; i++) {
        size_t at = t.len;
        const char *e = eval(&t, runs[i]);
        CHECK(!*e, "%s: %s", runs[i], e);
        CHECK(regexec(&re, t.out + at, 0, NULL, 0) == 0, "%s printed '%s'", runs[i], t.out + at);
        bool nan_diff = strstr(t.out + at, "max_diff=nan") != NULL;
        CHECK(nan_diff == (i == 0), "max_diff is nan exactly when no other engine ran");
    }
    regfree(&re);
    const char *e = eval(&t, ":run cpu Q=3");
    CHECK(strstr(e, "Q is not a size variable") && strstr(e, "N"), "%s", e);
    e = eval(&t, ":run cpu N=0");
    CHECK(strstr(e, "N wants a whole number >= 1"), "%s", e);
    e = eval(&t, ":run tpu");
    CHECK(strstr(e, "unknown backend"), "%s", e);
    e = eval(&t, ":run gpu N=8");
    if (*e) /* no CUDA in this build, or no device: one line that points at the CPU */
        CHECK(strstr(e, "`:run cpu N=8`") && !strchr(e, '\n'), "%s", e);
    sess_close(&t);
    /* the table, not quiet */
    sess_open(&t, false);
    CHECK(!*eval(&t, "N = dim(4); x = randn(N, 3); W = param(randn(3, 2)); L = mean(relu(x @ W))"),
          "setup");
    size_t at = t.len;
    e = eval(&t, ":run cpu N=32 steps=2 --check");
    CHECK(!*e, "%s", e);
    CHECK(strstr(t.out + at, "matmul") && strstr(t.out + at, "GFLOP/s") &&
              strstr(t.out + at, "peak memory") && strstr(t.out + at, "largest difference"),
          "table: %s", t.out + at);
    sess_close(&t);
}

/* ==== The indexing ops at other sizes ====
 * Built with the C API (the REPL does not have x[...] yet). Their attributes are kept as given:
 * at N = 9, x[:, -1] is still the last column and x[1::2] every other row from the second; x[4]
 * is refused where it no longer fits, N = 3, with the node and the reason. */
static bs_id ix_mk(bs_ctx *c, bs_init_kind k, int nd, const int64_t *d, const int8_t *sym, bool param)
{
    bs_shape s = {nd, {0}};
    for (int i = 0; i < nd; i++) s.d[i] = d[i];
    bs_id id = bs_make(c, k, &s, sym, BS_F64, 0, 1);
    return param ? bs_copy_leaf(c, id, true) : id;
}

static void test_index_plans(void)
{
    bs_ctx *c = bs_ctx_new();
    bs_ctx_seed(c, 11);
    int N = bs_dim_define(c, "N", 5), D = bs_dim_define(c, "D", 4);
    int8_t sND[] = {(int8_t)N, (int8_t)D}, sDH[] = {(int8_t)D, -1}, sNH[] = {(int8_t)N, -1};
    bs_id x = ix_mk(c, BS_INIT_RANDN, 2, (int64_t[]){5, 4}, sND, false);
    bs_id W = ix_mk(c, BS_INIT_RANDN, 2, (int64_t[]){4, 3}, sDH, true);
    bs_id b = ix_mk(c, BS_INIT_RANDN, 1, (int64_t[]){3}, NULL, true);
    bs_id cond = bs_apply1(c, BS_OP_RELU, ix_mk(c, BS_INIT_RANDN, 2, (int64_t[]){5, 3}, sNH, false));
    static const double iv[] = {2, 0, -1, 2};
    bs_id idx = bs_leaf(c, iv, &(bs_shape){1, {4}}, BS_I64, false);
    bs_attr tf = bs_attr_default(BS_OP_GELU);
    tf.k = BS_GELU_TANH;
    bs_id hin[BS_MAX_INPUTS] = {bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MATMUL, x, W), b), BS_NONE, BS_NONE};
    bs_id h = bs_apply(c, BS_OP_GELU, hin, &tf); /* (N, 3), the bias add fused */
    bs_id terms[] = {
        bs_select(c, h, 1, -1),
        bs_slice(c, h, 0, 1, BS_SLICE_NO_STOP, 2),
        bs_index_select(c, h, 1, idx),
        bs_where(c, cond, h, bs_apply1(c, BS_OP_TANH, h)),
        bs_masked_fill(c, h, cond, bs_scalar(c, 0.5, BS_F64)),
        bs_select(c, h, 0, 4), /* the fifth row: at N = 3 there is none */
    };
    bs_id L = BS_NONE;
    for (size_t k = 0; k < sizeof terms / sizeof terms[0]; k++) {
        CHECK(terms[k] >= 0, "term %zu: %s", k, bs_errmsg(c));
        bs_id sq = bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, terms[k], terms[k]));
        L = k ? bs_apply2(c, BS_OP_ADD, L, sq) : sq;
    }
    CHECK(bs_backward(c, L, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    bs_backend *be = bs_backend_cpu();
    char err[512];
    be->open(be, err, sizeof err);
    /* at the recorded sizes: the tape's values and grads, and gelu fused after its bias add */
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;
    bs_plan *p = bs_plan_new(c, L, be, &o, err, sizeof err);
    CHECK(p, "plan: %s", err);
    if (p) {
        CHECK(bs_plan_forward(p, NULL) == BS_OK && bs_plan_backward(p) == BS_OK, "%s", bs_plan_errmsg(p));
        int compared;
        double worst = plan_vs_tape(p, c, L, &compared);
        bool fused = false, fused_bwd = false;
        for (int i = 0; i < bs_plan_node_count(p); i++) {
            bs_plan_node pn;
            bs_plan_node_get(p, i, &pn);
            fused |= pn.node == h && pn.fused_fwd;       /* its forward ran inside the add's */
            fused_bwd |= pn.node == hin[0] && pn.fused_bwd; /* the add's VJP inside gelu's */
        }
        CHECK(compared > 40 && worst < 1e-12, "the plan differs from the tape by %g (%d tensors)", worst,
              compared);
        CHECK(fused && fused_bwd, "gelu(approximate='tanh') after a bias add is not fused (%d, %d)", fused,
              fused_bwd);
        bs_plan_free(p);
    }
    /* N = 9 in f64, N = 6 in f32, against the eager engine at those sizes */
    for (int f = 0; f < 2; f++) {
        o = bs_plan_defaults();
        o.dtype = f ? BS_F32 : BS_F64;
        o.bind_dim[0] = N;
        o.bind_value[0] = f ? 6 : 9;
        o.nbind = 1;
        bs_plan_check_result r;
        bs_status st = bs_plan_check(c, L, be, &o, NULL, 0, &r, err, sizeof err);
        CHECK(st == BS_OK, "check at N=%lld: %s", (long long)o.bind_value[0], err);
        CHECK(r.compared > 20 && r.max_diff < (f ? 1e-4 : 1e-10), "%s at N=%lld: max diff %g over %d",
              bs_dtype_name(o.dtype), (long long)o.bind_value[0], r.max_diff, r.compared);
        p = bs_plan_new(c, L, be, &o, err, sizeof err);
        const bs_shape *s1 = p ? bs_plan_shape(p, terms[1]) : NULL, *s0 = p ? bs_plan_shape(p, terms[0]) : NULL;
        CHECK(s1 && s0 && s1->d[0] == (f ? 3 : 4) && s0->d[0] == (f ? 6 : 9), "x[1::2] and x[:, -1] at N=%lld",
              (long long)o.bind_value[0]);
        bs_plan_free(p);
    }
    /* N = 3: x[4] does not fit, and the message says which node and why */
    o = bs_plan_defaults();
    o.bind_dim[0] = N;
    o.bind_value[0] = 3;
    o.nbind = 1;
    p = bs_plan_new(c, L, be, &o, err, sizeof err);
    CHECK(!p && strstr(err, "N=3") &&
              strstr(err, "select(): index 4 out of range for tensor of size [3, 3] at dimension 0"),
          "x[4] at N=3: %s", err);
    bs_plan_free(p);
    be->close(be);
    bs_ctx_free(c);
}

int main(void)
{
    test_recorded_size();
    test_one_schedule();
    test_other_sizes();
    test_index_plans();
    test_fused_acts();
    test_initializers();
    test_train_engines();
    test_run_command();
    if (failures) fprintf(stderr, "%d failure%s\n", failures, failures == 1 ? "" : "s");
    else printf("plans: recorded sizes, one schedule, other sizes, literals, :train engines, :run line: ok\n");
    return failures ? 1 : 0;
}
