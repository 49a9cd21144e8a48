/* tests/core/test_formula.c: the derivative formulas of core/ops.def. Every template parses; each
 * elementwise and loss template, evaluated by core/formula.c, equals the op's own VJP (ones
 * upstream) at test points, so the text a learner reads cannot disagree with the math that runs;
 * and rendering keeps the structure of compound, negative and constant operands. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backstep.h"

static int fails, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            fails++;                                                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

/* the op's VJP for input i at 0-d a, b with upstream 1: its local derivative */
static bool vjp_local(bs_op op, int i, double a, double b, double k, double k2, double *out,
                      double *y)
{
    const bs_op_info *info = &bs_ops[op];
    bs_shape s0 = {0, {0}};
    double av = a, bv = b, yv = 0, g = 1, d = 0;
    bs_tensor in[2] = {{BS_F64, s0, &av}, {BS_F64, s0, &bv}};
    bs_tensor o = {BS_F64, s0, &yv}, gt = {BS_F64, s0, &g}, dt = {BS_F64, s0, &d};
    bs_attr at = bs_attr_default(op);
    at.k = k;
    at.k2 = k2;
    char err[128];
    if (info->fwd(in, &at, &o, err, sizeof err) != BS_OK) return false;
    info->vjp(in, &o, &at, &gt, i, &dt);
    *out = d;
    *y = yv;
    return true;
}

static void test_templates(void)
{
    /* points inside every op's domain (log, sqrt, bce need a in (0, 1); pow a > 0) */
    static const double pts[][2] = {{0.3, 0.7}, {0.75, 0.25}, {0.1, 2.0}, {0.9, -0.5}, {0.5, 0.5}};
    static const double neg[][2] = {{-0.3, 1.5}, {-2.0, 3.0}, {-0.75, -1.25}};
    int compared = 0;
    for (int o = 0; o < BS_OP_COUNT; o++) {
        int compared_op = 0;
        const bs_op_info *op = &bs_ops[o];
        for (int i = 0; i < op->arity; i++) {
            if (!op->deriv[i]) continue;
            CHECK(bs_deriv_parses(op->id, i), "%s input %d: template does not parse: %s", op->name,
                  i, op->deriv[i]);
            bool rule = bs_deriv_is_rule(op->id, i);
            bool ew = op->kind == BS_K_EW || op->kind == BS_K_LOSS;
            if (op->kind == BS_K_EW || op->kind == BS_K_RED)
                CHECK(!rule, "%s input %d: an elementwise formula, not a rule: %s", op->name, i, op->deriv[i]);
            else if (op->kind != BS_K_LOSS)
                CHECK(rule, "%s input %d: a matrix rule (dA = ...): %s", op->name, i, op->deriv[i]);
            if (rule || !ew) continue;
            for (int p = 0; p < 16; p++) {
                const double *ab = p % 8 < 5 ? pts[p % 8] : neg[p % 8 - 5];
                bool pos_only = o == BS_OP_LOG || o == BS_OP_SQRT || o == BS_OP_BCE ||
                                (o == BS_OP_POW && i == 1);
                if (pos_only && ab[0] <= 0) continue;
                /* k: leaky_relu's slope, clamp's min, gelu's approximate (nonzero: 'tanh'), at
                   0.05 and at 0 (gelu's exact form); at_k2: clamp's max (0.1, 0.3, 0.5 inside,
                   0.75, 0.9 above, the negative points below) */
                double k = p < 8 ? 0.05 : 0.0, at_k2 = 0.6, want, y, got;
                if (!vjp_local(op->id, i, ab[0], ab[1], k, at_k2, &want, &y)) continue;
                bool ok = bs_deriv_eval_at(op->id, i, ab[0], ab[1], y, 1, k, at_k2, &got);
                CHECK(ok, "%s input %d: template %s does not evaluate", op->name, i, op->deriv[i]);
                CHECK(ok && ((isnan(got) && isnan(want)) || fabs(got - want) <= 1e-12 * (1 + fabs(want))),
                      "%s input %d at a=%g b=%g: template %s gives %.17g, the VJP %.17g", op->name,
                      i, ab[0], ab[1], op->deriv[i], got, want);
                compared++;
                compared_op++;
            }
        }
        /* every elementwise op's template is checked, the ones new to the table included */
        if (op->kind == BS_K_EW)
            CHECK(compared_op >= 3 * op->arity, "%s: only %d template values compared", op->name,
                  compared_op);
    }
    CHECK(compared >= 120, "compared %d template values with VJPs", compared);
    printf("templates: %d values compared with the ops' VJPs\n", compared);
}

static bs_id P(bs_ctx *c, double v, const char *name)
{
    bs_shape s = {0, {0}};
    bs_id id = bs_leaf(c, &v, &s, BS_F64, true);
    if (name) bs_node_set_label(c, id, name);
    return id;
}

static void expect(const bs_ctx *c, bs_id node, int i, bool numbers, const char *want)
{
    char buf[512];
    bs_deriv_render(c, node, i, numbers, 4, buf, sizeof buf);
    CHECK(!strcmp(buf, want), "rendered '%s', want '%s'", buf, want);
}

static void test_render(void)
{
    bs_ctx *c = bs_ctx_new();
    bs_id h = P(c, 0.75, "h"), y = P(c, 0.5, "y"), a = P(c, 0.3, "a"), b = P(c, -0.2, "b");
    bs_id two = bs_scalar(c, 2, BS_F64), three = bs_scalar(c, 3, BS_F64);
    /* (h - y) ** 2: the compound base keeps its parentheses */
    bs_id L = bs_apply2(c, BS_OP_POW, bs_apply2(c, BS_OP_SUB, h, y), two);
    expect(c, L, 0, false, "2 * (h - y) ** (2 - 1)");
    expect(c, L, 0, true, "2 * 0.25 ** (2 - 1)");
    /* (-h) ** 3: unary minus binds looser than ** */
    bs_id M = bs_apply2(c, BS_OP_POW, bs_apply1(c, BS_OP_NEG, h), three);
    expect(c, M, 0, false, "3 * (-h) ** (3 - 1)");
    expect(c, M, 0, true, "3 * (-0.75) ** (3 - 1)");
    /* 1 / (2 * h) */
    bs_id Q = bs_apply2(c, BS_OP_DIV, bs_scalar(c, 1, BS_F64), bs_apply2(c, BS_OP_MUL, two, h));
    expect(c, Q, 1, false, "-1 / (2 * h) ** 2");
    /* log(h + a) */
    bs_id R = bs_apply1(c, BS_OP_LOG, bs_apply2(c, BS_OP_ADD, h, a));
    expect(c, R, 0, false, "1 / (h + a)");
    /* mse(h, a - b): n == 1 drops the division */
    bs_id S = bs_apply2(c, BS_OP_MSE, h, bs_apply2(c, BS_OP_SUB, a, b));
    expect(c, S, 0, false, "2 * (h - (a - b))");
    expect(c, S, 1, false, "-2 * (h - (a - b))");
    /* bce(a * a, y) */
    bs_id B = bs_apply2(c, BS_OP_BCE, bs_apply2(c, BS_OP_MUL, a, a), y);
    expect(c, B, 0, false, "-y / (a * a) + (1 - y) / (1 - a * a)");
    /* a negative operand value */
    bs_id D = bs_apply2(c, BS_OP_DIV, h, b);
    expect(c, D, 1, true, "-0.75 / (-0.2) ** 2");
    bs_id E = bs_apply2(c, BS_OP_MUL, h, b);
    expect(c, E, 0, true, "-0.2");
    /* relu at a known input: the branch taken; an unnamed output is `out` */
    bs_id r = bs_apply1(c, BS_OP_RELU, b);
    expect(c, r, 0, false, "0");
    bs_id s = bs_apply1(c, BS_OP_SIGMOID, h);
    expect(c, s, 0, false, "out * (1 - out)");
    bs_node_set_label(c, s, "p");
    expect(c, s, 0, false, "p * (1 - p)");
    /* the number of digits grows until the printed numbers give the printed value */
    bs_id T = bs_apply1(c, BS_OP_TANH, P(c, 3, "w"));
    char buf[256];
    bs_deriv_render(c, T, 0, true, 4, buf, sizeof buf);
    double o = strtod(buf + 4, NULL), want = 1 - tanh(3) * tanh(3);
    char g1[32], g2[32];
    snprintf(g1, sizeof g1, "%.4g", 1 - o * o);
    snprintf(g2, sizeof g2, "%.4g", want);
    CHECK(!strncmp(buf, "1 - 0.995", 9) && !strcmp(g1, g2), "numbers %s give %s, want %s", buf, g1, g2);
    double v;
    CHECK(bs_deriv_eval(c, L, 0, &v) && fabs(v - 0.5) < 1e-15, "eval (h - y) ** 2: %g", v);
    /* names */
    bs_node_expr(c, M, 40, buf, sizeof buf);
    CHECK(!strcmp(buf, "(-h) ** 3"), "expr %s", buf);
    bs_id n2 = bs_apply1(c, BS_OP_NEG, bs_apply2(c, BS_OP_POW, h, two));
    bs_node_expr(c, n2, 40, buf, sizeof buf);
    CHECK(!strcmp(buf, "-h ** 2"), "expr %s", buf);
    bs_id lr = bs_apply1(c, BS_OP_EXP, bs_apply1(c, BS_OP_LEAKY_RELU, bs_apply2(c, BS_OP_ADD, h, a)));
    bs_node_expr(c, lr, 40, buf, sizeof buf);
    CHECK(!strcmp(buf, "exp(leaky_relu(h + a, 0.01))"), "expr %s", buf);
    CHECK(!strchr(buf, '#'), "no internal id: %s", buf);
    bs_ctx_free(c);
}

int main(void)
{
    test_templates();
    test_render();
    printf("%d checks, %d failed\n", checks, fails);
    return fails ? 1 : 0;
}
