/* tests/core/test_collect.c: bs_tape_collect against a twin context that never collects. Both
 * run the same training loop (a matrix layer, a scalar chain on inline storage, a param copied
 * from an expression, a detached copy, Adam and SGD with momentum); one compacts its tape after
 * every iteration, keeping only what its "names" hold. Every value, grad and optimizer effect
 * must agree to the last bit, and the compacted tape must stay the same size. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backstep.h"

static int failures;
#include "check.h"

/* what a session's names would hold */
typedef struct {
    bs_id X, W, b, s, W0, h, L, d;
} names;

static bs_ctx *setup(names *n, bs_opt **adam, bs_opt **sgd)
{
    bs_ctx *c = bs_ctx_new();
    bs_ctx_seed(c, 7);
    bs_shape xs = {2, {4, 3}}, ws = {2, {3, 2}}, bs = {1, {2}};
    n->X = bs_make(c, BS_INIT_RANDN, &xs, NULL, BS_F64, 0, 0);
    /* unnamed values before the params: the first compaction moves every param down */
    for (int i = 0; i < 5; i++) bs_make(c, BS_INIT_ONES, &xs, NULL, BS_F64, 0, 0);
    /* W = param(randn(3, 2) * 0.5): its expression stays (replay re-runs it) */
    bs_id r = bs_make(c, BS_INIT_RANDN, &ws, NULL, BS_F64, 0, 0);
    n->W0 = bs_apply2(c, BS_OP_MUL, r, bs_scalar(c, 0.5, BS_F64));
    n->W = bs_copy_leaf(c, n->W0, true);
    n->W0 = BS_NONE; /* only W is named */
    n->b = bs_make(c, BS_INIT_ZEROS, &bs, NULL, BS_F64, 0, 0);
    bs_node_set_requires_grad(c, n->b, true);
    double one = 0.7;
    bs_shape sc = {0, {0}};
    n->s = bs_leaf(c, &one, &sc, BS_F64, true); /* a scalar param: inline storage */
    n->h = n->L = n->d = BS_NONE;
    bs_opt_conf a = bs_opt_defaults(BS_OPT_ADAM);
    a.lr = 0.05;
    *adam = bs_opt_new(c, &a);
    bs_opt_conf g = bs_opt_defaults(BS_OPT_SGD);
    g.lr = 0.01;
    g.momentum = 0.9;
    *sgd = bs_opt_new(c, &g);
    return c;
}

/* one iteration: h = tanh(X @ W + b); d = h.detach(); L = mean(h * d) + s * s * 3 - s;
   L.backward(); both optimizers step; zero_grad */
static int iterate(bs_ctx *c, names *n, bs_opt *adam, bs_opt *sgd, int it)
{
    bs_id z = bs_apply2(c, BS_OP_MATMUL, n->X, n->W);
    z = bs_apply2(c, BS_OP_ADD, z, n->b);
    n->h = bs_apply1(c, BS_OP_TANH, z);
    n->d = bs_copy_leaf(c, n->h, false);
    bs_id m = bs_apply1(c, BS_OP_MEAN, bs_apply2(c, BS_OP_MUL, n->h, n->d));
    bs_id ss = bs_apply2(c, BS_OP_MUL, n->s, n->s);
    ss = bs_apply2(c, BS_OP_MUL, ss, bs_scalar(c, 3, BS_F64));
    ss = bs_apply2(c, BS_OP_SUB, ss, n->s);
    n->L = bs_apply2(c, BS_OP_ADD, m, ss);
    if (n->L < 0) return -1;
    if (bs_backward(c, n->L, NULL, false)) return -1;
    /* SGD only every third step: its momentum buffers must survive the compactions between */
    if (bs_opt_step(c, adam) || (it % 3 == 0 && bs_opt_step(c, sgd))) return -1;
    bs_zero_grad_all(c);
    return 0;
}

static bool same(const bs_tensor *a, const bs_tensor *b)
{
    if (!a->data || !b->data) return !a->data && !b->data;
    if (!bs_shape_eq(&a->shape, &b->shape)) return false;
    return !memcmp(a->data, b->data, (size_t)bs_tensor_numel(a) * sizeof(double));
}

static void compare(bs_ctx *a, const names *na, bs_ctx *b, const names *nb, int it)
{
    const bs_id *ia = &na->X, *ib = &nb->X;
    for (int k = 0; k < (int)(sizeof *na / sizeof(bs_id)); k++) {
        if (ia[k] == BS_NONE) continue;
        const bs_node *x = bs_node_get(a, ia[k]), *y = bs_node_get(b, ib[k]);
        CHECK(x && y, "iteration %d: name %d lost", it, k);
        if (!x || !y) continue;
        CHECK(same(&x->value, &y->value), "iteration %d: name %d: values differ", it, k);
        CHECK(same(&x->grad, &y->grad), "iteration %d: name %d: grads differ", it, k);
        CHECK(x->value.data != &x->sval || bs_tensor_numel(&x->value) == 1,
              "iteration %d: inline storage on a tensor", it);
        if (bs_tensor_numel(&x->value) == 1)
            CHECK(x->value.data == &((bs_node *)x)->sval, "iteration %d: inline value not moved", it);
    }
}

int main(void)
{
    names na, nb;
    bs_opt *aa, *as, *ba, *bsg;
    bs_ctx *a = setup(&na, &aa, &as); /* never collects */
    bs_ctx *b = setup(&nb, &ba, &bsg);
    int32_t steady = -1;
    for (int it = 0; it < 60; it++) {
        if (iterate(a, &na, aa, as, it) || iterate(b, &nb, ba, bsg, it)) {
            printf("FAIL iteration %d: %s %s\n", it, bs_errmsg(a), bs_errmsg(b));
            return 1;
        }
        bs_id *keep[] = {&nb.X, &nb.W, &nb.b, &nb.s, &nb.W0, &nb.h, &nb.L, &nb.d};
        int32_t before = bs_tape_len(b);
        int32_t dropped = bs_tape_collect(b, keep, (int)(sizeof keep / sizeof *keep));
        CHECK(dropped >= 0, "collect: %s", bs_errmsg(b));
        CHECK(bs_tape_len(b) == before - dropped, "length %d after dropping %d of %d",
              (int)bs_tape_len(b), (int)dropped, (int)before);
        if (it == 0) steady = bs_tape_len(b);
        CHECK(bs_tape_len(b) == steady, "iteration %d: %d nodes kept, %d after the first", it,
              (int)bs_tape_len(b), (int)steady);
        compare(a, &na, b, &nb, it);
        CHECK(bs_ctx_bytes(b) < bs_ctx_bytes(a) || it == 0, "iteration %d: nothing reclaimed", it);
    }
    CHECK(bs_tape_len(a) > 20 * steady, "the twin grew to %d nodes only", (int)bs_tape_len(a));

    /* the param's expression is kept (replay re-runs it); the detached copy lets its source go */
    const bs_node *w = bs_node_get(b, nb.W), *d = bs_node_get(b, nb.d);
    CHECK(w->init == BS_INIT_COPY && w->init_src >= 0 && bs_node_get(b, w->init_src)->op == BS_OP_MUL,
          "param(expr) lost its expression");
    CHECK(d->init == BS_INIT_COPY && d->init_src >= 0, "h is named, so d's source stays");
    nb.h = BS_NONE;
    bs_id *keep2[] = {&nb.X, &nb.W, &nb.b, &nb.s, &nb.d};
    CHECK(bs_tape_collect(b, keep2, 5) > 0, "dropping h reclaims its graph");
    d = bs_node_get(b, nb.d);
    CHECK(d->init == BS_INIT_COPY && d->init_src == BS_NONE, "a detached copy holds its source");
    for (int32_t i = 0; i < bs_tape_len(b); i++) {
        const bs_node *n = bs_node_get(b, i);
        CHECK(n->id == i, "node %d says id %d", (int)i, (int)n->id);
        for (int k = 0; k < n->nin; k++) CHECK(n->in[k] >= 0 && n->in[k] < i, "node %d: bad input", (int)i);
    }

    /* refused while a pass is live, and nothing changes */
    bs_bwd *it = bs_backward_replay_begin(a, na.L, NULL);
    CHECK(it != NULL, "backward_begin: %s", bs_errmsg(a));
    int32_t len = bs_tape_len(a);
    bs_id *keep3[] = {&na.L};
    CHECK(bs_tape_collect(a, keep3, 1) < 0 && bs_errcode(a) == BS_ERR_STATE, "collect during a pass");
    CHECK(bs_tape_len(a) == len, "a refused collect changed the tape");
    bs_backward_abort(it);
    bs_id none = BS_NONE;
    bs_id *keep4[] = {&none};
    CHECK(bs_tape_collect(a, keep4, 1) == len && bs_tape_len(a) == 0 && bs_ctx_bytes(a) == 0,
          "keeping nothing empties the tape");

    bs_ctx_free(a);
    bs_ctx_free(b);
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("ok: 60 iterations bit-identical to the uncollected twin, %d nodes kept\n", (int)steady);
    return 0;
}
