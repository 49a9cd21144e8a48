/* tests/core/test_index.c: the indexing ops through the public API, on the tape: select, slice,
 * index_select, where, masked_fill and gelu(approximate='tanh') on one graph against PyTorch's
 * values and gradients; what each backward node keeps, as torch 1.13's grad_fn._saved_*, and
 * which saved tensors are views of their input's storage (what :mem counts); the errors PyTorch
 * raises, as statuses with its words, leaving the tape as it was; dtypes and requires_grad with
 * masks; the expressions and VJP rules the stepper prints; a stepped pass through a three-input
 * node; gradcheck and forward mode over the graph. Fixtures: gen_index_fixtures.py. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backstep.h"

static int failures;
#include "check.h"

/* ==== PyTorch's numbers (gen_index_fixtures.py, torch 1.13, float64) ==== */
static const double fx_x[] = {0.5, -1.25, 2.0, 0.75, 1.5, 0.25, -0.5, -2.0, -0.75, 1.0, 3.0, 0.125};
static const double fx_b[] = {0.3, -0.6, 0.9, 1.2};
static const double fx_L = -7.991156189910607;
static const double fx_dx[] = {-3.1505274276509816, -1.2193768419375879, 0.27152481415590457, 1.2492036921030607, 0.1596384914392912, -1.2715155713632953, 1.4668424758836607, 1.7284751858440954, 4.500796307896939, 4.353705104807228, -2.508688124973227, -0.6498038515406979};
static const double fx_db[] = {1.25, -1.0, -0.75, 0.5};
static const double fx_dv = 2.0;
static const double fx_select0[] = {1.5, 0.25, -0.5, -2.0};
static const double fx_select1[] = {0.75, -2.0, 0.125};
static const double fx_slice1[] = {-1.25, 2.0, 0.25, -0.5, 1.0, 3.0};
static const double fx_slice0[] = {0.5, -1.25, 2.0, 0.75, -0.75, 1.0, 3.0, 0.125};
static const double fx_slice_clamped[] = {0.5, 0.75, 1.5, -2.0, -0.75, 0.125};
static const double fx_index_select[] = {2.0, 0.5, 2.0, 0.75, -0.5, 1.5, -0.5, -2.0, 3.0, -0.75, 3.0, 0.125};
static const double fx_where[] = {0.5, -0.6, 2.0, 1.2, 0.3, -0.6, -0.5, -2.0, -0.75, 1.0, 0.9, 1.2};
static const double fx_masked_fill[] = {0.7, -1.25, 2.0, 0.7, 0.7, 0.25, -0.5, 0.7, 0.7, 1.0, 3.0, 0.7};
static const double fx_gelu_tanh[] = {0.34571400982514394, -0.13228579703028537, 1.954597694087775, 0.5799605551656203, 1.3995715769802328, 0.149675350701685, -0.15428599017485606, -0.04540230591222494, -0.17003944483437966, 0.8411919906082768, 2.996362607918227, 0.06871719862422339};
static const char *const fx_saved[][3] = {
    {"select0", "", "SelectBackward0"},
    {"select1", "", "SelectBackward0"},
    {"slice1", "", "SliceBackward0"},
    {"slice0", "", "SliceBackward0"},
    {"slice_clamped", "", "SliceBackward0"},
    {"index_select", "index", "IndexSelectBackward0"},
    {"where", "condition", "WhereBackward0"},
    {"masked_fill", "mask", "MaskedFillBackward1"},
    {"gelu_tanh", "self", "GeluBackward0"},
    {"masked_fill_number", "mask", "MaskedFillBackward0"},
};
static const struct { const char *what; bool view; } fx_views[] = {
    {"x[:, 1:3]", true},
    {"x[:, 1:3].reshape(-1)", false},
    {"x[1].reshape(2, 2)", true},
    {"x[:, 1].reshape(3)", true},
    {"x[:, 1].reshape(3, 1)", true},
    {"x[0:2].reshape(-1)", true},
    {"x[::2].reshape(-1)", false},
    {"x.T[1:3].reshape(-1)", false},
};

/* ==== The graph ==== */

static bool close(double a, double b) { return fabs(a - b) <= 1e-13 * fmax(1.0, fabs(b)); }

static bs_id leaf(bs_ctx *c, const double *v, bs_shape s, bs_dtype t, bool rg, const char *name)
{
    bs_id id = bs_leaf(c, v, &s, t, rg);
    if (name) bs_node_set_label(c, id, name);
    return id;
}

/* the weights a term is summed with (gen_index_fixtures.py's weights()) */
static bs_id weights(bs_ctx *c, bs_id term)
{
    const bs_node *n = bs_node_get(c, term);
    int64_t k = bs_shape_numel(&n->value.shape);
    double w[64];
    for (int64_t j = 0; j < k && j < 64; j++) w[j] = (double)((j % 5) - 2) * 0.5 + 0.25;
    return bs_leaf(c, w, &n->value.shape, BS_F64, false);
}

typedef struct {
    bs_ctx *c;
    bs_id x, b, v, m, m2, idx, L;
    bs_id term[10]; /* in fx_saved's order; the last is masked_fill with a number */
} graph;

static const char *const names[] = {"select0", "select1", "slice1", "slice0", "slice_clamped",
                                    "index_select", "where", "masked_fill", "gelu_tanh",
                                    "masked_fill_number"};

static void build(graph *g)
{
    bs_ctx *c = g->c = bs_ctx_new();
    static const double M[] = {1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0}, M2[] = {1, 0, 0, 1};
    static const double IDX[] = {2, 0, 2, -1};
    double V = 0.7;
    g->x = leaf(c, fx_x, (bs_shape){2, {3, 4}}, BS_F64, true, "x");
    g->b = leaf(c, fx_b, (bs_shape){1, {4}}, BS_F64, true, "b");
    g->v = leaf(c, &V, (bs_shape){0, {0}}, BS_F64, true, "v");
    g->m = leaf(c, M, (bs_shape){2, {3, 4}}, BS_F64, false, "m");
    g->m2 = leaf(c, M2, (bs_shape){1, {4}}, BS_F64, false, "m2");
    g->idx = leaf(c, IDX, (bs_shape){1, {4}}, BS_I64, false, "idx");
    bs_attr tanh_form = bs_attr_default(BS_OP_GELU);
    tanh_form.k = BS_GELU_TANH;
    bs_id gin[BS_MAX_INPUTS] = {g->x, BS_NONE, BS_NONE};
    g->term[0] = bs_select(c, g->x, 0, 1);
    g->term[1] = bs_select(c, g->x, 1, -1);
    g->term[2] = bs_slice(c, g->x, 1, 1, 3, 1);
    g->term[3] = bs_slice(c, g->x, 0, BS_SLICE_NO_START, BS_SLICE_NO_STOP, 2);
    g->term[4] = bs_slice(c, g->x, 1, -10, 10, 3);
    g->term[5] = bs_index_select(c, g->x, 1, g->idx);
    g->term[6] = bs_where(c, g->m, g->x, g->b);
    g->term[7] = bs_masked_fill(c, g->x, g->m2, g->v);
    g->term[8] = bs_apply(c, BS_OP_GELU, gin, &tanh_form);
    g->L = BS_NONE;
    for (int k = 0; k < 9; k++) {
        CHECK(g->term[k] >= 0, "%s: %s", names[k], bs_errmsg(c));
        bs_id s = bs_apply1(c, BS_OP_SUM, bs_apply2(c, BS_OP_MUL, g->term[k], weights(c, g->term[k])));
        g->L = k ? bs_apply2(c, BS_OP_ADD, g->L, s) : s;
    }
    g->term[9] = bs_masked_fill(c, g->x, g->m2, bs_scalar(c, V, BS_F64));
}

static void check_values(const bs_ctx *c, bs_id id, const double *want, const char *what)
{
    const bs_node *n = bs_node_get(c, id);
    int64_t k = bs_shape_numel(&n->value.shape), bad = 0;
    for (int64_t j = 0; j < k; j++) bad += !close(n->value.data[j], want[j]);
    CHECK(bad == 0, "%s: %lld of %lld values differ from torch's", what, (long long)bad, (long long)k);
}

static void test_graph(void)
{
    graph g;
    build(&g);
    bs_ctx *c = g.c;
    const double *want[] = {fx_select0, fx_select1, fx_slice1, fx_slice0, fx_slice_clamped,
                            fx_index_select, fx_where, fx_masked_fill, fx_gelu_tanh, fx_masked_fill};
    for (int k = 0; k < 10; k++) check_values(c, g.term[k], want[k], names[k]);
    CHECK(bs_backward(c, g.L, NULL, true) == BS_OK, "backward: %s", bs_errmsg(c));
    CHECK(close(bs_node_get(c, g.L)->value.data[0], fx_L), "L = %.17g, torch %.17g",
          bs_node_get(c, g.L)->value.data[0], fx_L);
    check_values(c, g.L, &fx_L, "L");
    const bs_node *x = bs_node_get(c, g.x), *b = bs_node_get(c, g.b), *v = bs_node_get(c, g.v);
    int bad = 0;
    for (int j = 0; j < 12; j++) bad += !close(x->grad.data[j], fx_dx[j]);
    for (int j = 0; j < 4; j++) bad += !close(b->grad.data[j], fx_db[j]);
    CHECK(bad == 0 && close(v->grad.data[0], fx_dv), "grads of x, b, v differ from torch's (%d)", bad);
    CHECK(!bs_node_get(c, g.m)->grad.data && !bs_node_get(c, g.idx)->grad.data,
          "the masks and the index get no grad");

    /* what each node keeps, as torch's grad_fn._saved_*; and its backward node's name */
    for (int k = 0; k < 10; k++) {
        bs_saved_tensor sv[BS_MAX_SAVED];
        int n = bs_node_saved(c, g.term[k], sv);
        char roles[64] = "";
        for (int j = 0; j < n; j++) {
            strcat(roles, j ? " " : "");
            strcat(roles, sv[j].role);
        }
        CHECK(!strcmp(names[k], fx_saved[k][0]) && !strcmp(roles, fx_saved[k][1]),
              "%s keeps '%s', torch '%s'", names[k], roles, fx_saved[k][1]);
        const char *gf = bs_ops[bs_node_get(c, g.term[k])->op].grad_fn;
        /* one name per op in the table: masked_fill with a tensor value is torch's
           MaskedFillBackward1, which keeps the same mask */
        if (k != 7) CHECK(!strcmp(gf, fx_saved[k][2]), "%s: %s, torch %s", names[k], gf, fx_saved[k][2]);
    }
    /* the kept tensors are the inputs themselves: index 4 int64 (32 bytes, as torch's), the masks
       their own storage (f64 here: torch's bool masks take 1 byte an element) */
    bs_saved_tensor sv[BS_MAX_SAVED];
    CHECK(bs_node_saved(c, g.term[5], sv) == 1 && sv[0].tensor == g.idx && sv[0].bytes == 32,
          "index_select keeps idx (%zu bytes)", sv[0].bytes);
    CHECK(bs_node_saved(c, g.term[6], sv) == 1 && sv[0].tensor == g.m && sv[0].bytes == 96,
          "where keeps m");
    CHECK(bs_node_saved(c, g.term[7], sv) == 1 && sv[0].tensor == g.m2, "masked_fill keeps m2");
    bs_ctx_free(c);
}

/* ==== Views: which saved tensors share x's storage ==== */
static void test_views(void)
{
    bs_ctx *c = bs_ctx_new();
    bs_id x = leaf(c, fx_x, (bs_shape){2, {3, 4}}, BS_F64, true, "x");
    bs_attr r = bs_attr_default(BS_OP_RESHAPE);
    bs_id in[BS_MAX_INPUTS] = {BS_NONE, BS_NONE, BS_NONE};
#define RESHAPE(y, ...) (in[0] = (y), r.shape = (bs_shape){__VA_ARGS__}, bs_apply(c, BS_OP_RESHAPE, in, &r))
    bs_id ys[] = {
        bs_slice(c, x, 1, 1, 3, 1),
        RESHAPE(bs_slice(c, x, 1, 1, 3, 1), 1, {-1}),
        RESHAPE(bs_select(c, x, 0, 1), 2, {2, 2}),
        RESHAPE(bs_select(c, x, 1, 1), 1, {3}),
        RESHAPE(bs_select(c, x, 1, 1), 2, {3, 1}),
        RESHAPE(bs_slice(c, x, 0, 0, 2, 1), 1, {-1}),
        RESHAPE(bs_slice(c, x, 0, BS_SLICE_NO_START, BS_SLICE_NO_STOP, 2), 1, {-1}),
        RESHAPE(bs_slice(c, bs_apply1(c, BS_OP_TRANSPOSE, x), 0, 1, 3, 1), 1, {-1}),
    };
#undef RESHAPE
    for (size_t k = 0; k < sizeof ys / sizeof ys[0]; k++) {
        bs_saved_tensor sv[BS_MAX_SAVED];
        bs_id z = bs_apply2(c, BS_OP_MUL, ys[k], ys[k]);
        int n = bs_node_saved(c, z, sv);
        bool view = n == 2 && sv[0].tensor == x && sv[1].tensor == x;
        CHECK(view == fx_views[k].view, "%s: %s x's storage (torch: %s)", fx_views[k].what,
              view ? "shares" : "does not share", fx_views[k].view ? "shares" : "copies");
        CHECK(n == 2 && sv[0].bytes == (view ? 96 : (size_t)bs_shape_numel(&bs_node_get(c, ys[k])->value.shape) * 8),
              "%s: %zu bytes counted", fx_views[k].what, sv[0].bytes);
    }
    bs_ctx_free(c);
}

/* ==== Errors: PyTorch's words, nothing left on the tape ==== */
static void refused(bs_ctx *c, bs_id r, int32_t len, bs_status code, const char *msg)
{
    CHECK(r < 0, "accepted where torch refuses: %s", msg);
    CHECK(bs_errcode(c) == code && !strcmp(bs_errmsg(c), msg), "'%s' (%d), want '%s' (%d)", bs_errmsg(c),
          (int)bs_errcode(c), msg, (int)code);
    CHECK(bs_tape_len(c) == len, "a refused op left a node on the tape (%s)", msg);
}

static void test_errors(void)
{
    bs_ctx *c = bs_ctx_new();
    static const double i03[] = {0, 3}, f01[] = {0, 1};
    bs_id x = leaf(c, fx_x, (bs_shape){2, {3, 4}}, BS_F64, true, "x");
    bs_id s = bs_scalar(c, 2.0, BS_F64);
    bs_id bad = leaf(c, i03, (bs_shape){1, {2}}, BS_I64, false, NULL);
    bs_id fidx = leaf(c, f01, (bs_shape){1, {2}}, BS_F64, false, NULL);
    bs_id v1 = leaf(c, f01, (bs_shape){1, {2}}, BS_F64, false, NULL);
    int32_t len = bs_tape_len(c);
    refused(c, bs_select(c, x, 1, 4), len, BS_ERR_VALUE,
            "select(): index 4 out of range for tensor of size [3, 4] at dimension 1");
    refused(c, bs_select(c, x, 0, -4), len, BS_ERR_VALUE,
            "select(): index -4 out of range for tensor of size [3, 4] at dimension 0");
    refused(c, bs_select(c, x, 2, 0), len, BS_ERR_VALUE,
            "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    refused(c, bs_select(c, s, 0, 0), len, BS_ERR_SHAPE, "select() cannot be applied to a 0-dim tensor.");
    refused(c, bs_slice(c, x, 1, 0, 2, 0), len, BS_ERR_VALUE, "slice step cannot be zero");
    refused(c, bs_slice(c, x, 1, 3, 0, -1), len, BS_ERR_VALUE, "step must be greater than zero");
    refused(c, bs_index_select(c, x, 0, bad), len, BS_ERR_VALUE,
            "index 3 is out of bounds for dimension 0 with size 3");
    refused(c, bs_index_select(c, x, 1, fidx), len, BS_ERR_TYPE,
            "index_select(): Expected dtype int32 or int64 for index");
    refused(c, bs_index_select(c, x, 1, BS_NONE), len, BS_ERR_ARG, "index_select: input 2 is not a tensor");
    refused(c, bs_where(c, v1, x, x), len, BS_ERR_SHAPE,
            "The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 1");
    refused(c, bs_masked_fill(c, x, s, v1), len, BS_ERR_SHAPE,
            "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 dimension(s).");
    /* in range: the last row, an empty slice, stop past the end */
    CHECK(bs_select(c, x, 0, -3) >= 0 && bs_slice(c, x, 1, 3, 1, 1) >= 0 && bs_slice(c, x, 0, 2, 99, 5) >= 0,
          "in-range indices: %s", bs_errmsg(c));
    bs_ctx_free(c);
}

/* ==== dtypes and requires_grad ==== */
static void test_dtypes(void)
{
    bs_ctx *c = bs_ctx_new();
    static const double iv[] = {1, 2, 3, 4, 5, 6}, mk[] = {1, 0, 1};
    bs_id xi = leaf(c, iv, (bs_shape){2, {2, 3}}, BS_I64, false, NULL);
    bs_id xf = leaf(c, fx_x, (bs_shape){1, {3}}, BS_F64, true, NULL);
    bs_id mi = leaf(c, mk, (bs_shape){1, {3}}, BS_I64, false, NULL);
    bs_id mp = leaf(c, mk, (bs_shape){1, {3}}, BS_F64, true, NULL); /* a mask that requires grad */
    bs_id k1 = leaf(c, iv, (bs_shape){1, {3}}, BS_F64, false, NULL);
    bs_id idx = leaf(c, mk, (bs_shape){1, {3}}, BS_I64, false, NULL);
    const bs_node *n;
    n = bs_node_get(c, bs_select(c, xi, 1, 2));
    CHECK(n && n->value.dtype == BS_I64 && !n->requires_grad && n->value.data[1] == 6, "x[:, 2] of ints: ints");
    n = bs_node_get(c, bs_index_select(c, xi, 1, idx));
    CHECK(n && n->value.dtype == BS_I64 && n->value.data[0] == 2 && n->value.data[1] == 1,
          "index_select of ints: ints");
    n = bs_node_get(c, bs_where(c, mi, xf, k1));
    CHECK(n && n->value.dtype == BS_F64 && n->requires_grad && n->value.data[1] == 2,
          "where with an integer mask: the dtype and grad of a and b");
    n = bs_node_get(c, bs_where(c, mp, k1, k1));
    CHECK(n && !n->requires_grad, "a mask that requires grad does not make the result require grad");
    n = bs_node_get(c, bs_where(c, xf, xi, xi)); /* a float mask that requires grad, int a and b */
    CHECK(n && n->value.dtype == BS_I64 && !n->requires_grad && n->value.shape.ndim == 2,
          "where of ints with a float mask: ints, no grad");
    n = bs_node_get(c, bs_where(c, mi, bs_select(c, xi, 0, 0), bs_select(c, xi, 0, 1)));
    CHECK(n && n->value.dtype == BS_I64 && n->value.data[1] == 5, "where of ints with an integer mask: ints");
    bs_ctx_free(c);
}

/* ==== What the stepper prints: expressions and VJP rules ==== */
static void expr_is(const bs_ctx *c, bs_id id, const char *want)
{
    char buf[256];
    bs_node_expr(c, id, 200, buf, sizeof buf);
    CHECK(!strcmp(buf, want), "expression '%s', want '%s'", buf, want);
}

static void rule_is(const bs_ctx *c, bs_id id, int i, const char *want)
{
    char buf[1024];
    bs_deriv_render(c, id, i, false, 4, buf, sizeof buf);
    CHECK(!strcmp(buf, want), "rule '%s', want '%s'", buf, want);
}

static void test_formulas(void)
{
    graph g;
    build(&g);
    bs_ctx *c = g.c;
    const char *exprs[] = {"x[1]", "x[:, -1]", "x[:, 1:3]", "x[::2]", "x[:, -10:10:3]", "x[:, idx]",
                           "where(m, x, b)", "masked_fill(x, m2, v)", "gelu(x, approximate='tanh')",
                           "masked_fill(x, m2, 0.7)"};
    for (int k = 0; k < 10; k++) expr_is(c, g.term[k], exprs[k]);
    bs_id y3 = bs_apply2(c, BS_OP_ADD, g.x, g.x); /* a compound operand keeps its parentheses */
    bs_id t3 = bs_apply2(c, BS_OP_MUL, g.m, g.m);
    expr_is(c, bs_select(c, y3, -1, 2), "(x + x)[..., 2]");
    expr_is(c, bs_slice(c, y3, -2, 1, BS_SLICE_NO_STOP, 1), "(x + x)[..., 1:, :]");
    expr_is(c, bs_index_select(c, g.x, 0, g.idx), "x[idx]");
    expr_is(c, bs_select(c, bs_slice(c, g.x, 0, 0, 1, 1), 0, -1), "x[0:1][-1]");
    expr_is(c, bs_slice(c, g.x, 1, 10, 20, 10), "x[:, 10:20:10]"); /* integers, not 1e+01 */
    expr_is(c, bs_where(c, t3, g.x, bs_scalar(c, 0.0, BS_F64)), "where(m * m, x, 0)");
    rule_is(c, g.term[0], 0, "dx = select_backward(G, x.shape, 0, 1)");
    rule_is(c, g.term[1], 0, "dx = select_backward(G, x.shape, 1, -1)");
    rule_is(c, g.term[3], 0, "dx = slice_backward(G, x.shape, 0, None, None, 2)");
    rule_is(c, g.term[4], 0, "dx = slice_backward(G, x.shape, 1, -10, 10, 3)");
    rule_is(c, g.term[5], 0, "dx = index_add(zeros_like(x), 1, idx, G)");
    rule_is(c, g.term[5], 1, "(not differentiable)");
    rule_is(c, g.term[6], 0, "(not differentiable)");
    rule_is(c, g.term[6], 1, "dx = where(m, G, 0)");
    rule_is(c, g.term[6], 2, "db = where(m, 0, G)");
    rule_is(c, g.term[7], 0, "dx = where(m2, 0, G)");
    rule_is(c, g.term[7], 2, "dv = sum(where(m2, G, 0))");
    /* gelu: the form that ran, approximate resolved */
    char buf[1024];
    bs_deriv_render(c, g.term[8], 0, false, 4, buf, sizeof buf);
    CHECK(!strncmp(buf, "0.5 * (1 + tanh(sqrt(2 / 3.141592653589793) * (x + 0.044715 * x ** 3)))", 70) &&
              !strstr(buf, "approximate") && !strstr(buf, "erf"),
          "gelu tanh's local derivative: %s", buf);
    bs_id ge = bs_apply1(c, BS_OP_GELU, g.x);
    bs_deriv_render(c, ge, 0, false, 4, buf, sizeof buf);
    CHECK(!strcmp(buf, "0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x ** 2 / 2) / sqrt(2 * 3.141592653589793)"),
          "gelu's local derivative: %s", buf);
    expr_is(c, ge, "gelu(x)");
    /* at a scalar the number beside it is the template's value, the op's own VJP there */
    double h = 0.8, want_d, got;
    bs_id hp = leaf(c, &h, (bs_shape){0, {0}}, BS_F64, true, "h");
    bs_attr tf = bs_attr_default(BS_OP_GELU);
    tf.k = BS_GELU_TANH;
    bs_id hin[BS_MAX_INPUTS] = {hp, BS_NONE, BS_NONE};
    bs_id gh = bs_apply(c, BS_OP_GELU, hin, &tf);
    bs_backward(c, gh, NULL, false);
    want_d = bs_node_get(c, hp)->grad.data[0];
    CHECK(bs_deriv_eval(c, gh, 0, &got) && fabs(got - want_d) < 1e-13, "gelu tanh at 0.8: %.17g, VJP %.17g",
          got, want_d);
    bs_ctx_free(c);
}

/* ==== A stepped pass through where: three inputs in one step ==== */
static void test_step(void)
{
    bs_ctx *c = bs_ctx_new();
    static const double M[] = {1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    bs_id x = leaf(c, fx_x, (bs_shape){2, {3, 4}}, BS_F64, true, "x");
    bs_id b = leaf(c, fx_b, (bs_shape){1, {4}}, BS_F64, true, "b");
    bs_id m = leaf(c, M, (bs_shape){2, {3, 4}}, BS_F64, false, "m");
    bs_id w = bs_where(c, m, x, b), L = bs_apply1(c, BS_OP_SUM, w);
    bs_bwd *it = bs_backward_begin(c, L, NULL, false, true);
    CHECK(it != NULL, "begin: %s", bs_errmsg(c));
    bs_step st;
    int seen = 0;
    while (it && bs_backward_next(it, &st) > 0) {
        if (st.node != w) continue;
        seen++;
        CHECK(st.nin == 3 && st.in[0].input == m && st.in[1].input == x && st.in[2].input == b,
              "the where step has its three inputs");
        CHECK(!st.in[0].gets_grad && st.in[1].gets_grad && st.in[2].gets_grad, "the mask gets no grad");
        int bad = 0;
        for (int j = 0; j < 12; j++) bad += st.in[1].vjp.data[j] != M[j];
        /* b (4,) gets the column sums of 1 - m */
        static const double db[] = {1, 2, 1, 2};
        for (int j = 0; j < 4; j++) bad += st.in[2].vjp.data[j] != db[j];
        CHECK(bad == 0, "the where step's VJPs (%d wrong)", bad);
    }
    bs_backward_end(it);
    CHECK(seen == 1, "the where node was stepped %d times", seen);
    bs_ctx_free(c);
}

/* ==== Gradcheck and forward mode over the whole graph ==== */
static double jvp_L;
static bs_id jvp_root;
static void jvp_take(void *ud, bs_id node, const bs_tensor *t)
{
    (void)ud;
    if (node == jvp_root) jvp_L = t->data[0];
}

static void test_gradcheck_jvp(void)
{
    graph g;
    build(&g);
    bs_ctx *c = g.c;
    bs_gradcheck_result res[8];
    int n = bs_gradcheck(c, g.L, 1e-6, res, 8);
    CHECK(n == 3, "gradcheck over x, b, v: %d (%s)", n, bs_errmsg(c));
    for (int k = 0; k < n; k++)
        CHECK(res[k].max_abs_err < 1e-7, "gradcheck of node %d: %g", (int)res[k].param, res[k].max_abs_err);
    /* dL along ones(x) is the sum of torch's x.grad */
    jvp_root = g.L;
    jvp_L = NAN;
    CHECK(bs_jvp(c, g.x, NULL, g.L, jvp_take, NULL) == BS_OK, "jvp: %s", bs_errmsg(c));
    double want = 0;
    for (int j = 0; j < 12; j++) want += fx_dx[j];
    CHECK(fabs(jvp_L - want) < 1e-12, "dL along ones(x) = %.17g, sum of torch's x.grad %.17g", jvp_L, want);
    bs_ctx_free(c);
}

int main(void)
{
    test_graph();
    test_views();
    test_errors();
    test_dtypes();
    test_formulas();
    test_step();
    test_gradcheck_jvp();
    printf("%s: %d failed\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
