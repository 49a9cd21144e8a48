/* tests/core/test_engine.c: the engine's tape, backward iterator, semantics and optimizers against
 * PyTorch's numbers (printed by tests/core/gen_fixtures.py with Debian's python3-torch 1.13). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backstep.h"

/* ==== The seed 2-2-1 network (shared/reference/backprop-deep-dive.txt) ==== */

typedef struct {
    bs_id w11, w12, b1, w21, w22, b2, v1, v2, b3, z1, z3, L;
} net;

static bs_id P(bs_ctx *c, double v)
{
    bs_shape s = {0, {0}};
    return bs_leaf(c, &v, &s, BS_F64, true);
}

static bs_id K(bs_ctx *c, double v) { return bs_scalar(c, v, BS_F64); }

static void build_forward(bs_ctx *c, net *n)
{
    bs_id x1 = K(c, 1.0), x2 = K(c, 0.5), y = K(c, 1.0);
    n->z1 = bs_apply2(c, BS_OP_ADD,
                      bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, n->w11, x1),
                                bs_apply2(c, BS_OP_MUL, n->w12, x2)),
                      n->b1);
    bs_id z2 = bs_apply2(c, BS_OP_ADD,
                         bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, n->w21, x1),
                                   bs_apply2(c, BS_OP_MUL, n->w22, x2)),
                         n->b2);
    bs_id h1 = bs_apply1(c, BS_OP_RELU, n->z1), h2 = bs_apply1(c, BS_OP_RELU, z2);
    n->z3 = bs_apply2(c, BS_OP_ADD,
                      bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, n->v1, h1),
                                bs_apply2(c, BS_OP_MUL, n->v2, h2)),
                      n->b3);
    n->L = bs_apply2(c, BS_OP_BCE, bs_apply1(c, BS_OP_SIGMOID, n->z3), y);
}

static void build(bs_ctx *c, net *n)
{
    n->w11 = P(c, 0.3);
    n->w12 = P(c, 0.7);
    n->b1 = P(c, 0.1);
    n->w21 = P(c, -0.2);
    n->w22 = P(c, 0.5);
    n->b2 = P(c, 0.0);
    n->v1 = P(c, 0.6);
    n->v2 = P(c, -0.4);
    n->b3 = P(c, 0.1);
    build_forward(c, n);
}

static double val(bs_ctx *c, bs_id id) { return bs_node_get(c, id)->value.data[0]; }
static double grad(bs_ctx *c, bs_id id) { return bs_node_get(c, id)->grad.data[0]; }
#define CLOSE(a, b) assert_true(fabs((a) - (b)) <= 1e-12 * (1 + fabs(b)))

static void test_seed_network(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, &n);
    CLOSE(val(c, n.L), 0.46285625355038446);
    assert_int_equal(bs_backward(c, n.L, NULL, false), BS_OK);
    CLOSE(grad(c, n.w11), -0.22231013281956308);
    CLOSE(grad(c, n.w12), -0.11115506640978154);
    CLOSE(grad(c, n.b1), -0.22231013281956308);
    CLOSE(grad(c, n.w21), 0.14820675521304205);
    CLOSE(grad(c, n.w22), 0.074103377606521026);
    CLOSE(grad(c, n.b2), 0.14820675521304205);
    CLOSE(grad(c, n.v1), -0.27788766602445381);
    CLOSE(grad(c, n.v2), -0.018525844401630253);
    CLOSE(grad(c, n.b3), -0.37051688803260513);
    /* intermediate nodes keep their grads (the stepper shows them): dL/dz3 = yhat - y */
    CLOSE(grad(c, n.z3), -0.37051688803260513);
    bs_ctx_free(c);
}

static void test_accumulate_and_retain(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, &n);
    assert_int_equal(bs_backward(c, n.L, NULL, true), BS_OK);
    assert_int_equal(bs_backward(c, n.L, NULL, false), BS_OK);
    CLOSE(grad(c, n.w11), -0.44462026563912616);
    /* a third backward goes through freed saved tensors: an error naming retain_graph, no change */
    assert_int_equal(bs_backward(c, n.L, NULL, false), BS_ERR_STATE);
    assert_non_null(strstr(bs_errmsg(c), "retain_graph"));
    CLOSE(grad(c, n.w11), -0.44462026563912616);
    /* zero_grad sets None */
    bs_zero_grad_all(c);
    assert_null(bs_node_get(c, n.w11)->grad.data);
    bs_ctx_free(c);
}

static void test_add_graph_backward_twice(void **state)
{
    /* PyTorch raises only when the graph saved tensors: a sum of additions saves nothing */
    (void)state;
    bs_ctx *c = bs_ctx_new();
    bs_id a = P(c, 1.5), b = P(c, 2.0);
    bs_id s = bs_apply2(c, BS_OP_ADD, a, b);
    assert_int_equal(bs_backward(c, s, NULL, false), BS_OK);
    assert_int_equal(bs_backward(c, s, NULL, false), BS_OK);
    CLOSE(grad(c, a), 2.0);
    bs_id m = bs_apply2(c, BS_OP_MUL, a, b);
    assert_int_equal(bs_backward(c, m, NULL, false), BS_OK);
    assert_int_equal(bs_backward(c, m, NULL, false), BS_ERR_STATE);
    bs_ctx_free(c);
}

static void test_seed_required(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    double d[3] = {1, 2, 3};
    bs_shape s = {1, {3}};
    bs_id x = bs_leaf(c, d, &s, BS_F64, true);
    bs_id y = bs_apply2(c, BS_OP_MUL, x, x);
    assert_int_equal(bs_backward(c, y, NULL, false), BS_ERR_STATE);
    assert_non_null(strstr(bs_errmsg(c), "implicitly created only for scalar outputs"));
    assert_null(bs_node_get(c, x)->grad.data);
    double g[3] = {1, 0.5, 0};
    bs_tensor seed = {BS_F64, s, g};
    assert_int_equal(bs_backward(c, y, &seed, false), BS_OK);
    const double *gx = bs_node_get(c, x)->grad.data;
    CLOSE(gx[0], 2.0);
    CLOSE(gx[1], 2.0);
    CLOSE(gx[2], 0.0);
    /* a seed of the wrong shape */
    bs_shape s2 = {1, {2}};
    bs_tensor bad = {BS_F64, s2, g};
    bs_id y2 = bs_apply2(c, BS_OP_MUL, x, x);
    assert_int_equal(bs_backward(c, y2, &bad, false), BS_ERR_SHAPE);
    assert_non_null(strstr(bs_errmsg(c), "Mismatch in shape"));
    bs_ctx_free(c);
}

static void test_no_grad_detach_requires_grad(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    bs_id w = P(c, 2.0);
    bs_ctx_set_no_grad(c, true);
    bs_id y = bs_apply2(c, BS_OP_MUL, w, w);
    bs_ctx_set_no_grad(c, false);
    assert_false(bs_node_get(c, y)->requires_grad);
    assert_int_equal(bs_backward(c, y, NULL, false), BS_ERR_STATE);
    assert_non_null(strstr(bs_errmsg(c), "does not require grad"));
    /* detach: z = w * detach(w): dz/dw = detach(w) only */
    bs_id d = bs_copy_leaf(c, w, false);
    bs_id z = bs_apply2(c, BS_OP_MUL, w, d);
    assert_int_equal(bs_backward(c, z, NULL, false), BS_OK);
    CLOSE(grad(c, w), 2.0);
    assert_null(bs_node_get(c, d)->grad.data);
    /* integers cannot require grad */
    double one = 1;
    bs_shape s0 = {0, {0}};
    assert_true(bs_leaf(c, &one, &s0, BS_I64, true) < 0);
    assert_int_equal(bs_errcode(c), BS_ERR_TYPE);
    bs_ctx_free(c);
}

static void train(bs_opt_conf conf, double *w11, double *v1)
{
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, &n);
    bs_opt *o = bs_opt_new(c, &conf);
    assert_non_null(o);
    for (int i = 0; i < 3; i++) {
        bs_opt_zero_grad(c, o);
        build_forward(c, &n);
        assert_int_equal(bs_backward(c, n.L, NULL, false), BS_OK);
        assert_int_equal(bs_opt_step(c, o), BS_OK);
    }
    *w11 = val(c, n.w11);
    *v1 = val(c, n.v1);
    /* the old graph saw the params before the update: backward through it is an in-place error */
    assert_int_equal(bs_backward(c, n.L, NULL, true), BS_ERR_STATE);
    bs_ctx_free(c);
}

static void test_optimizers(void **state)
{
    (void)state;
    double w11, v1;
    bs_opt_conf sgd = bs_opt_defaults(BS_OPT_SGD);
    sgd.lr = 0.1;
    sgd.momentum = 0.9;
    train(sgd, &w11, &v1);
    CLOSE(w11, 0.42252742353487033);
    CLOSE(v1, 0.7554980924511554);
    bs_opt_conf adam = bs_opt_defaults(BS_OPT_ADAM);
    adam.lr = 0.01;
    train(adam, &w11, &v1);
    CLOSE(w11, 0.32998893741633417);
    CLOSE(v1, 0.63000462818924152);
}

static void test_cross_entropy(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    double z[6] = {1.0, 2.0, 0.5, 0.1, -1.0, 2.0}, t[2] = {1, 2};
    bs_shape sz = {2, {2, 3}}, st = {1, {2}};
    bs_id Z = bs_leaf(c, z, &sz, BS_F64, true), T = bs_leaf(c, t, &st, BS_I64, false);
    bs_id L = bs_apply2(c, BS_OP_CROSS_ENTROPY, Z, T);
    assert_true(L >= 0);
    CLOSE(val(c, L), 0.32307663484852911);
    assert_int_equal(bs_backward(c, L, NULL, false), BS_OK);
    const double want[6] = {0.11561194881107452, -0.18573414039411879, 0.070122191583044238,
                            0.062353737415094042, 0.020755756145987844, -0.083109493561081826};
    for (int i = 0; i < 6; i++) CLOSE(bs_node_get(c, Z)->grad.data[i], want[i]);
    bs_ctx_free(c);
}

static void test_iterator_matches_backward(void **state)
{
    (void)state;
    bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
    net na, nb;
    build(a, &na);
    build(b, &nb);
    assert_int_equal(bs_backward(a, na.L, NULL, false), BS_OK);
    bs_bwd *it = bs_backward_begin(b, nb.L, NULL, false, true);
    assert_non_null(it);
    bs_step st;
    int steps = 0, r;
    while ((r = bs_backward_next(it, &st)) > 0) {
        steps++;
        assert_int_equal(st.index, steps);
        if (steps == 1) {
            assert_int_equal(st.node, nb.L);
            assert_true(st.upstream.data[0] == 1.0);
            /* bce's local derivative -1/yhat at y = 1 */
            assert_true(st.in[0].local_ok);
            CLOSE(st.in[0].local.data[0], -1.0 / bs_node_get(b, bs_node_get(b, nb.L)->in[0])->value.data[0]);
        }
    }
    assert_int_equal(r, 0);
    assert_int_equal(steps, st.total);
    bs_backward_end(it);
    /* bit for bit */
    for (bs_id i = 0; i < bs_tape_len(a); i++) {
        const bs_node *x = bs_node_get(a, i), *y = bs_node_get(b, i);
        assert_true((x->grad.data == NULL) == (y->grad.data == NULL));
        if (x->grad.data) assert_memory_equal(x->grad.data, y->grad.data, sizeof(double));
    }
    bs_ctx_free(a);
    bs_ctx_free(b);
}

/* bs_grad_now while a pass is live: each input's record carries its running total, the grad as
 * of now is the grad before the pass plus that total (f32: rounded as the end rounds it), nodes
 * not reached yet keep their old grad, and after the last step every value is the final grad */
static void grad_now_pass(bs_dtype t)
{
    bs_ctx *c = bs_ctx_new();
    bs_ctx_set_dtype(c, t);
    bs_shape sh = {0, {0}};
    double hv = 1.1, av = 0.7;
    bs_id h = bs_leaf(c, &hv, &sh, t, true), a = bs_leaf(c, &av, &sh, t, true);
    bs_id m = bs_apply2(c, BS_OP_MUL, h, h);                       /* h * h */
    bs_id T = bs_apply2(c, BS_OP_ADD, bs_apply2(c, BS_OP_MUL, m, a), h); /* h*h*a + h */
    assert_int_equal(bs_backward(c, T, NULL, true), BS_OK);       /* an earlier pass */
    double before = grad(c, h), before_a = grad(c, a), out = 0;
    assert_false(bs_backward_progress(c, NULL, NULL, NULL));
    assert_int_equal(bs_grad_now(c, h, &out), BS_GRAD_FINAL);
    assert_true(out == before);
    bs_bwd *it = bs_backward_begin(c, T, NULL, true, true);
    assert_non_null(it);
    int idx = 0, total = 0;
    bs_id root = BS_NONE;
    assert_true(bs_backward_progress(c, &root, &idx, &total));
    assert_int_equal(root, T);
    assert_int_equal(idx, 0);
    assert_int_equal(bs_grad_now(c, a, &out), BS_GRAD_PARTIAL);   /* on the pass: old grad */
    assert_true(out == before_a);
    bs_step st;
    double last_h = NAN;
    int r, seen_h = 0;
    while ((r = bs_backward_next(it, &st)) > 0) {
        for (int k = 0; k < st.nin; k++) {
            if (!st.in[k].gets_grad || st.in[k].input != h) continue;
            seen_h++;
            last_h = st.in[k].after.data[0];
        }
        if (seen_h) {
            assert_int_equal(bs_grad_now(c, h, &out), BS_GRAD_PARTIAL);
            assert_true(out == bs_dtype_round(t, before + last_h));
        }
        assert_int_equal(bs_grad_now(c, st.node, &out), BS_GRAD_FINAL); /* stepped: final */
    }
    assert_int_equal(r, 0);
    assert_int_equal(seen_h, 3);           /* two slots of h * h, one of + h */
    bs_backward_end(it);
    assert_int_equal(bs_grad_now(c, h, &out), BS_GRAD_FINAL);
    assert_true(out == grad(c, h));
    assert_true(grad(c, h) == bs_dtype_round(t, before + last_h));
    bs_ctx_free(c);
}

static void test_grad_now(void **state)
{
    (void)state;
    grad_now_pass(BS_F64);
    grad_now_pass(BS_F32);
    /* x * x: the first contribution's running total is x, then 2x (exact) */
    bs_ctx *c = bs_ctx_new();
    bs_id x = P(c, 1.5), T = bs_apply2(c, BS_OP_MUL, x, x);
    bs_bwd *it = bs_backward_begin(c, T, NULL, false, true);
    bs_step st;
    assert_int_equal(bs_backward_next(it, &st), 1);
    assert_true(st.in[0].after.data[0] == 1.5 && !st.in[0].accumulated);
    assert_true(st.in[1].after.data[0] == 3.0 && st.in[1].accumulated);
    bs_backward_end(it);
    bs_ctx_free(c);
}

static void test_snapshot_truncate(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, &n);
    bs_grad_snapshot *s = bs_grad_snapshot_take(c);
    assert_int_equal(bs_backward(c, n.L, NULL, true), BS_OK);
    bs_grad_snapshot_restore(c, s);
    assert_null(bs_node_get(c, n.w11)->grad.data);
    int32_t len = bs_tape_len(c);
    bs_apply2(c, BS_OP_MUL, n.L, n.L);
    bs_tape_truncate(c, len);
    assert_int_equal(bs_tape_len(c), len);
    bs_ctx_free(c);
}

static void test_gradcheck_and_jvp(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, &n);
    bs_gradcheck_result r[16];
    int k = bs_gradcheck(c, n.L, 1e-6, r, 16);
    assert_int_equal(k, 9);
    for (int i = 0; i < k; i++) assert_true(r[i].max_abs_err < 1e-8);
    /* gradcheck leaves grads and values as they were */
    assert_null(bs_node_get(c, n.w11)->grad.data);
    CLOSE(val(c, n.L), 0.46285625355038446);
    /* forward mode: the tangent of L along w11 equals dL/dw11 from reverse mode */
    assert_int_equal(bs_backward(c, n.L, NULL, true), BS_OK);
    struct { bs_id L; double t; } ud = {n.L, NAN};
    void visit(void *p, bs_id id, const bs_tensor *t);
    assert_int_equal(bs_jvp(c, n.w11, NULL, n.L, visit, &ud), BS_OK);
    CLOSE(ud.t, grad(c, n.w11));
    bs_ctx_free(c);
}

void visit(void *p, bs_id id, const bs_tensor *t)
{
    struct { bs_id L; double t; } *ud = p;
    if (id == ud->L) ud->t = t->data[0];
}

/* An op's attributes survive the 0-d fast path: clamp(h, max=0.8) at h = 0.5 has slope 1 (torch:
   h.grad = 1), as the same clamp on a (1,) tensor; it once kept min and dropped max. */
static void test_scalar_attrs(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    bs_attr a = bs_attr_default(BS_OP_CLAMP);
    a.k2 = 0.8;
    bs_id h = P(c, 0.5), in[BS_MAX_INPUTS] = {h, BS_NONE};
    bs_id z = bs_apply(c, BS_OP_CLAMP, in, &a);
    assert_int_equal(bs_backward(c, z, NULL, false), BS_OK);
    assert_true(bs_node_get(c, z)->attr.k2 == 0.8);
    assert_true(bs_node_get(c, h)->grad.data[0] == 1.0);
    a.k = 0.6; /* clamp(h, min=0.6, max=0.8): below min, slope 0 */
    bs_id h2 = P(c, 0.5), in2[BS_MAX_INPUTS] = {h2, BS_NONE};
    bs_id z2 = bs_apply(c, BS_OP_CLAMP, in2, &a);
    assert_int_equal(bs_backward(c, z2, NULL, false), BS_OK);
    assert_true(bs_node_get(c, z2)->value.data[0] == 0.6 && bs_node_get(c, h2)->grad.data[0] == 0.0);
    bs_ctx_free(c);
}

/* the 0-d fast path's result dtype (torch's result_type): f64 operands under the f64 default are
   f64; under an f32 default two Python numbers are f32 (numbers count as the default dtype) and a
   0-d f64 tensor with a number stays f64. The shortcut for f64 operands must see the default. */
static void test_scalar_dtype(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    bs_id w = P(c, 1.5), y = bs_apply2(c, BS_OP_MUL, w, K(c, 2.0));
    assert_int_equal(bs_node_get(c, y)->value.dtype, BS_F64);
    assert_true(val(c, y) == 3.0);
    bs_ctx_set_dtype(c, BS_F32);
    bs_id nn = bs_apply2(c, BS_OP_MUL, K(c, 0.1), K(c, 3.0));
    assert_int_equal(bs_node_get(c, nn)->value.dtype, BS_F32);
    assert_true(val(c, nn) == (double)(0.1f * 3.0f));
    bs_id wn = bs_apply2(c, BS_OP_MUL, w, K(c, 0.1));
    assert_int_equal(bs_node_get(c, wn)->value.dtype, BS_F64);
    assert_true(val(c, wn) == 1.5 * 0.1);
    assert_int_equal(bs_backward(c, wn, NULL, false), BS_OK);
    assert_true(grad(c, w) == 0.1);
    bs_ctx_free(c);
}

static void test_errors_are_values(void **state)
{
    (void)state;
    bs_ctx *c = bs_ctx_new();
    bs_shape huge = {3, {100000, 100000, 100000}};
    assert_true(bs_make(c, BS_INIT_ZEROS, &huge, NULL, BS_F64, 0, 0) < 0);
    assert_int_equal(bs_errcode(c), BS_ERR_NOMEM);
    double a[6] = {0};
    bs_shape s23 = {2, {2, 3}};
    bs_id A = bs_leaf(c, a, &s23, BS_F64, false), B = bs_leaf(c, a, &s23, BS_F64, false);
    int32_t len = bs_tape_len(c);
    assert_true(bs_apply2(c, BS_OP_MATMUL, A, B) < 0);
    assert_int_equal(bs_errcode(c), BS_ERR_SHAPE);
    assert_int_equal(bs_tape_len(c), len);
    bs_shape s2 = {1, {2}};
    bs_id C = bs_leaf(c, a, &s2, BS_F64, false);
    assert_true(bs_apply2(c, BS_OP_ADD, A, C) < 0);
    assert_non_null(strstr(bs_errmsg(c), "must match"));
    bs_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_network),
        cmocka_unit_test(test_accumulate_and_retain),
        cmocka_unit_test(test_add_graph_backward_twice),
        cmocka_unit_test(test_seed_required),
        cmocka_unit_test(test_no_grad_detach_requires_grad),
        cmocka_unit_test(test_optimizers),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_iterator_matches_backward),
        cmocka_unit_test(test_grad_now),
        cmocka_unit_test(test_snapshot_truncate),
        cmocka_unit_test(test_gradcheck_and_jvp),
        cmocka_unit_test(test_errors_are_values),
        cmocka_unit_test(test_scalar_attrs),
        cmocka_unit_test(test_scalar_dtype),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
