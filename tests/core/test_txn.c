/* tests/core/test_txn.c: a rolled-back transaction leaves no trace. Two contexts are built alike;
 * in one, a transaction runs backward passes, optimizer steps (first steps and later ones, SGD
 * with momentum and Adam), zero_grad, new nodes, random draws, a size variable and a new
 * optimizer, and is rolled back. Both must then hold the same values, grads, versions and freed
 * flags, and go on to compute the same numbers to the last bit (optimizer state, step counts and
 * the random generator included). A committed transaction keeps its effects. */
#include <stdio.h>
#include <string.h>

#include "backstep.h"

static int failures;
#include "check.h"

typedef struct {
    bs_ctx *c;
    bs_id w, s, L;
    bs_opt *adam, *sgd;
} world;

static void build(world *x)
{
    x->c = bs_ctx_new();
    bs_ctx_seed(x->c, 11);
    bs_shape ws = {2, {2, 3}}, sc = {0, {0}};
    x->w = bs_make(x->c, BS_INIT_RANDN, &ws, NULL, BS_F64, 0, 0);
    bs_node_set_requires_grad(x->c, x->w, true);
    double v = 0.3;
    x->s = bs_leaf(x->c, &v, &sc, BS_F64, true);
    bs_opt_conf a = bs_opt_defaults(BS_OPT_ADAM);
    a.lr = 0.1;
    x->adam = bs_opt_new(x->c, &a);
    bs_opt_conf g = bs_opt_defaults(BS_OPT_SGD);
    g.lr = 0.05;
    g.momentum = 0.9;
    x->sgd = bs_opt_new(x->c, &g);
}

/* L = sum(tanh(w) * s) + s * s; L.backward(); both optimizers step */
static int train(world *x, bool sgd)
{
    bs_ctx *c = x->c;
    bs_id t = bs_apply2(c, BS_OP_MUL, bs_apply1(c, BS_OP_TANH, x->w), x->s);
    x->L = bs_apply2(c, BS_OP_ADD, bs_apply1(c, BS_OP_SUM, t), bs_apply2(c, BS_OP_MUL, x->s, x->s));
    if (x->L < 0 || bs_backward(c, x->L, NULL, false)) return -1;
    if (bs_opt_step(c, x->adam) || (sgd && bs_opt_step(c, x->sgd))) return -1;
    return 0;
}

static bool same_tensor(const bs_tensor *a, const bs_tensor *b)
{
    if (!a->data || !b->data) return !a->data && !b->data;
    return bs_shape_eq(&a->shape, &b->shape) &&
           !memcmp(a->data, b->data, (size_t)bs_tensor_numel(a) * sizeof(double));
}

static void compare(const world *a, const world *b, const char *when)
{
    CHECK(bs_tape_len(a->c) == bs_tape_len(b->c), "%s: %d nodes vs %d", when,
          (int)bs_tape_len(a->c), (int)bs_tape_len(b->c));
    for (bs_id i = 0; i < bs_tape_len(a->c) && i < bs_tape_len(b->c); i++) {
        const bs_node *x = bs_node_get(a->c, i), *y = bs_node_get(b->c, i);
        CHECK(same_tensor(&x->value, &y->value), "%s: node %d value", when, (int)i);
        CHECK(same_tensor(&x->grad, &y->grad), "%s: node %d grad", when, (int)i);
        CHECK(x->version == y->version, "%s: node %d version %u vs %u", when, (int)i, x->version,
              y->version);
        CHECK(bs_node_freed(a->c, i) == bs_node_freed(b->c, i), "%s: node %d freed", when, (int)i);
    }
    CHECK(bs_dim_count(a->c) == bs_dim_count(b->c), "%s: size variables", when);
    CHECK(bs_ctx_bytes(a->c) == bs_ctx_bytes(b->c), "%s: bytes %zu vs %zu", when,
          bs_ctx_bytes(a->c), bs_ctx_bytes(b->c));
}

int main(void)
{
    world a, b;
    build(&a);
    build(&b);
    /* both take one step first, so the rolled-back work changes state that exists */
    CHECK(!train(&a, false) && !train(&b, false), "first step: %s", bs_errmsg(a.c));
    bs_zero_grad_all(a.c);
    bs_zero_grad_all(b.c);
    compare(&a, &b, "before");

    CHECK(bs_txn_begin(a.c), "begin");
    CHECK(!bs_txn_begin(a.c), "a nested begin is refused");
    CHECK(!train(&a, true) && !train(&a, true), "in the transaction: %s", bs_errmsg(a.c));
    bs_zero_grad_all(a.c);
    CHECK(!train(&a, true), "again: %s", bs_errmsg(a.c));
    bs_shape rs = {1, {5}};
    bs_make(a.c, BS_INIT_RANDN, &rs, NULL, BS_F64, 0, 0);
    bs_dim_define(a.c, "N", 4);
    bs_opt_conf k = bs_opt_defaults(BS_OPT_ADAM);
    bs_opt *extra = bs_opt_new(a.c, &k);
    CHECK(extra && !bs_opt_step(a.c, extra), "a new optimizer steps");
    CHECK(bs_txn_rollback(a.c), "rollback restored everything");
    compare(&a, &b, "after rollback");

    /* the same future: optimizer state, step counts and random numbers all as before */
    for (int i = 0; i < 4; i++) {
        CHECK(!train(&a, true) && !train(&b, true), "step %d: %s", i, bs_errmsg(a.c));
        bs_zero_grad_all(a.c);
        bs_zero_grad_all(b.c);
        bs_shape one = {1, {3}};
        bs_make(a.c, BS_INIT_RANDN, &one, NULL, BS_F64, 0, 0);
        bs_make(b.c, BS_INIT_RANDN, &one, NULL, BS_F64, 0, 0);
        compare(&a, &b, "later");
    }

    /* commit keeps what the transaction did */
    CHECK(bs_txn_begin(a.c), "begin 2");
    CHECK(!train(&a, true), "train: %s", bs_errmsg(a.c));
    bs_txn_commit(a.c);
    CHECK(!train(&b, true), "train b: %s", bs_errmsg(b.c));
    compare(&a, &b, "after commit");

    /* a transaction cannot be opened during a pass (the stepper has its own undo) */
    bs_bwd *it = bs_backward_replay_begin(a.c, a.L, NULL);
    CHECK(it && !bs_txn_begin(a.c), "begin during a pass");
    bs_backward_abort(it);

    bs_ctx_free(a.c);
    bs_ctx_free(b.c);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("ok: a rolled-back transaction left no trace; a committed one kept its effects\n");
    return 0;
}
