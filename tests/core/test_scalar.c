/* tests/core/test_scalar.c: the scalar fast paths (bs_apply's 0-d f64 case, bs_backward's scalar
 * pass, the records apply_scalar makes) against the general engine. Each graph is built twice, in
 * twin contexts: one runs bs_backward (the scalar pass), the other steps the same pass with
 * bs_backward_begin(want_detail) (the general engine's steps). Every grad, freed flag and error
 * must agree to the last bit; a check that fails part way down leaves every grad as it was; a
 * record reused after truncation or compaction reads as a fresh one. bs_apply1 / bs_apply2 make
 * compact records, filled in when asked for: each node must read back as the same graph made
 * through bs_apply and asked for at once (full records from the start) reads, whenever it is
 * first asked for. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backstep.h"

static int failures;
#include "check.h"

/* build()'s ops: bs_apply1 / bs_apply2 (compact records), or with `eager` bs_apply with each node
   asked for at once (full from its making, so that every pass steps it on its full record) */
static bs_id full_now(bs_ctx *c, bs_id id)
{
    (void)bs_node_get(c, id);
    return id;
}
static bool eager;
static bs_id A1(bs_ctx *c, bs_op op, bs_id x)
{
    return eager ? full_now(c, bs_apply(c, op, (bs_id[]){x, BS_NONE, BS_NONE}, NULL)) : bs_apply1(c, op, x);
}
static bs_id A2(bs_ctx *c, bs_op op, bs_id x, bs_id y)
{
    return eager ? full_now(c, bs_apply(c, op, (bs_id[]){x, y, BS_NONE}, NULL)) : bs_apply2(c, op, x, y);
}

static bs_id P(bs_ctx *c, double v, bool rg)
{
    bs_shape s = {0, {0}};
    return bs_leaf(c, &v, &s, BS_F64, rg);
}

/* A scalar graph that uses every path of a step: inputs shared by many users, x * x, an input that
 * needs no grad, ops with k (leaky_relu's slope, clamp's bounds: cold records), numbers, unary
 * and binary ops. p: its params. Returns the root. */
static bs_id build(bs_ctx *c, bs_id *p, int np)
{
    for (int i = 0; i < np; i++) p[i] = P(c, 0.3 * (i + 1) * (i % 2 ? -1 : 1), true);
    bs_id k = P(c, 1.5, false);
    bs_id acc = BS_NONE;
    for (int r = 0; r < 6; r++) {
        bs_id a = A2(c, BS_OP_MUL, p[r % np], p[(r + 1) % np]);
        bs_id b = A2(c, BS_OP_ADD, a, bs_scalar(c, 0.25 * r, BS_F64));
        bs_id t = A1(c, r % 2 ? BS_OP_TANH : BS_OP_SIGMOID, b);
        bs_id sq = A2(c, BS_OP_MUL, t, t);
        bs_id d = A2(c, BS_OP_DIV, sq, A2(c, BS_OP_ADD, k, p[r % np]));
        bs_attr at = bs_attr_default(BS_OP_LEAKY_RELU);
        at.k = 0.2;
        bs_id lr = bs_apply(c, BS_OP_LEAKY_RELU, (bs_id[]){A2(c, BS_OP_SUB, d, a), BS_NONE, BS_NONE}, &at);
        bs_id cl = A1(c, BS_OP_RELU, A1(c, BS_OP_NEG, lr));
        bs_id e = A2(c, BS_OP_SUB, lr, A2(c, BS_OP_MUL, cl, k));
        acc = acc == BS_NONE ? e : A2(c, BS_OP_ADD, acc, e);
    }
    return A2(c, BS_OP_MUL, acc, A2(c, BS_OP_ADD, p[0], bs_scalar(c, 2, BS_F64)));
}

/* the general engine's pass over the same root */
static bs_status stepped(bs_ctx *c, bs_id root, bool retain)
{
    bs_bwd *b = bs_backward_begin(c, root, NULL, retain, true);
    if (!b) return bs_errcode(c);
    bs_step st;
    int r;
    while ((r = bs_backward_next(b, &st)) > 0) {}
    if (r < 0) {
        bs_status code = bs_errcode(c);
        bs_backward_abort(b);
        return code;
    }
    bs_backward_end(b);
    return BS_OK;
}

/* every node of two twin tapes: the same grad (bit for bit, or both None), the same freed flag */
static void same_grads(const char *what, bs_ctx *a, bs_ctx *b)
{
    CHECK(bs_tape_len(a) == bs_tape_len(b), "%s: tape lengths %d, %d", what, bs_tape_len(a), bs_tape_len(b));
    for (bs_id i = 0; i < bs_tape_len(a) && i < bs_tape_len(b); i++) {
        const bs_node *x = bs_node_get(a, i), *y = bs_node_get(b, i);
        bool gx = x->grad.data != NULL, gy = y->grad.data != NULL;
        CHECK(gx == gy, "%s: node %d has a grad in one twin only", what, i);
        if (gx && gy && bs_shape_numel(&x->value.shape) == 1)
            CHECK(memcmp(x->grad.data, y->grad.data, sizeof(double)) == 0, "%s: node %d grad %.17g vs %.17g",
                  what, i, x->grad.data[0], y->grad.data[0]);
        CHECK(bs_node_freed(a, i) == bs_node_freed(b, i), "%s: node %d freed %d vs %d", what, i,
              bs_node_freed(a, i), bs_node_freed(b, i));
    }
}

/* every node of two twin tapes reads the same: each field of bs_node (its value and grad
   compared by value, each inline), the freed flag, the grad_fn */
static void same_nodes(const char *what, bs_ctx *a, bs_ctx *b)
{
    CHECK(bs_tape_len(a) == bs_tape_len(b), "%s: tape lengths %d, %d", what, bs_tape_len(a), bs_tape_len(b));
    for (bs_id i = 0; i < bs_tape_len(a) && i < bs_tape_len(b); i++) {
        const bs_node *x = bs_node_get(a, i), *y = bs_node_get(b, i);
        CHECK(x == bs_node_get(a, i), "%s: node %d moved when asked for again", what, i);
        bs_node cx, cy;
        memcpy(&cx, x, sizeof cx);
        memcpy(&cy, y, sizeof cy);
        bool sx = bs_shape_numel(&x->value.shape) == 1;
        if (sx) {
            CHECK(x->value.data == &x->sval && y->value.data == &y->sval, "%s: node %d value not inline", what, i);
            CHECK(!x->grad.data == !y->grad.data, "%s: node %d has a grad in one twin only", what, i);
            CHECK(!x->grad.data || (x->grad.data == &x->sgrad && y->grad.data == &y->sgrad),
                  "%s: node %d grad not inline", what, i);
            cx.value.data = cy.value.data = NULL;
            cx.grad.data = cy.grad.data = NULL;
            if (!x->grad.data) cx.sgrad = cy.sgrad = 0; /* no grad: sgrad is not read */
        } else {
            continue; /* tensors: made the same way in both */
        }
        CHECK(memcmp(&cx, &cy, sizeof cx) == 0, "%s: node %d (op %d) reads differently: value %.17g vs %.17g, "
              "grad %.17g vs %.17g, rg %d/%d, version %u/%u", what, i, (int)x->op, x->sval, y->sval, x->sgrad,
              y->sgrad, x->requires_grad, y->requires_grad, x->version, y->version);
        CHECK(bs_node_freed(a, i) == bs_node_freed(b, i), "%s: node %d freed %d vs %d", what, i,
              bs_node_freed(a, i), bs_node_freed(b, i));
        const char *fa = bs_node_grad_fn(a, i), *fb = bs_node_grad_fn(b, i);
        CHECK((!fa && !fb) || (fa && fb && !strcmp(fa, fb)), "%s: node %d grad_fn differs", what, i);
    }
}

/* twin a (compact records: bs_apply1 / bs_apply2) and twin b (full records: bs_apply) */
static bs_id build_twins(bs_ctx *a, bs_ctx *b, bs_id *pa, bs_id *pb, int np)
{
    eager = false;
    bs_id ra = build(a, pa, np);
    eager = true;
    bs_id rb = build(b, pb, np);
    eager = false;
    CHECK(ra == rb, "twin roots %d, %d", ra, rb);
    return ra;
}

static double grad_of(bs_ctx *c, bs_id i)
{
    const bs_node *n = bs_node_get(c, i);
    return n->grad.data ? n->grad.data[0] : NAN;
}

int main(void)
{
    bs_id pa[5], pb[5];

    /* one pass, then a second one retained twice (grads add up on every node), then a pass
       through the freed graph: refused, nothing changed */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id ra = build(a, pa, 5), rb = build(b, pb, 5);
        CHECK(ra == rb, "twin roots %d, %d", ra, rb);
        CHECK(bs_backward(a, ra, NULL, true) == BS_OK, "scalar pass: %s", bs_errmsg(a));
        CHECK(stepped(b, rb, true) == BS_OK, "stepped pass: %s", bs_errmsg(b));
        same_grads("first pass", a, b);
        CHECK(bs_backward(a, ra, NULL, false) == BS_OK, "second scalar pass: %s", bs_errmsg(a));
        CHECK(stepped(b, rb, false) == BS_OK, "second stepped pass: %s", bs_errmsg(b));
        same_grads("second pass (adds)", a, b);
        double before = grad_of(a, pa[0]);
        bs_status sa = bs_backward(a, ra, NULL, false), sb = stepped(b, rb, false);
        CHECK(sa == BS_ERR_STATE && sb == BS_ERR_STATE, "a freed graph: %d, %d", sa, sb);
        CHECK(!strcmp(bs_errmsg(a), bs_errmsg(b)), "messages differ:\n  %s\n  %s", bs_errmsg(a), bs_errmsg(b));
        CHECK(strstr(bs_errmsg(a), "second time") != NULL, "message: %s", bs_errmsg(a));
        same_grads("refused third pass", a, b);
        CHECK(grad_of(a, pa[0]) == before, "a refused pass changed a param's grad");
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* a param changed in place after the graph was made: the pass stops part way down (the nodes
       above it already swept) and leaves no grad behind, as the general engine does */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_ctx *cs[2] = {a, b};
        bs_id roots[2];
        for (int t = 0; t < 2; t++) {
            bs_ctx *c = cs[t];
            bs_id p = P(c, 0.5, true), q = P(c, -1.25, true), s = P(c, 2, true);
            bs_id low = bs_apply2(c, BS_OP_MUL, p, q); /* keeps p: version checked */
            bs_id top = bs_apply1(c, BS_OP_TANH, bs_apply2(c, BS_OP_ADD, low, s));
            for (int i = 0; i < 20; i++) top = bs_apply2(c, BS_OP_ADD, top, bs_apply2(c, BS_OP_MUL, s, s));
            roots[t] = top;
            /* p's version moves on: an SGD step after a grad on p from another graph */
            bs_id other = bs_apply2(c, BS_OP_MUL, p, s);
            CHECK(bs_backward(c, other, NULL, false) == BS_OK, "other: %s", bs_errmsg(c));
            bs_opt_conf sg = bs_opt_defaults(BS_OPT_SGD);
            sg.lr = 0.1;
            bs_opt *o = bs_opt_new(c, &sg);
            CHECK(o && bs_opt_step(c, o) == BS_OK, "sgd step: %s", bs_errmsg(c));
        }
        bs_status sa = bs_backward(a, roots[0], NULL, false), sb = stepped(b, roots[1], false);
        CHECK(sa == BS_ERR_STATE && sb == BS_ERR_STATE, "in place: %d, %d", sa, sb);
        CHECK(!strcmp(bs_errmsg(a), bs_errmsg(b)), "messages differ:\n  %s\n  %s", bs_errmsg(a), bs_errmsg(b));
        CHECK(strstr(bs_errmsg(a), "inplace") != NULL, "message: %s", bs_errmsg(a));
        same_grads("refused in-place pass", a, b);
        for (bs_id i = roots[0]; i > roots[0] - 10; i--)
            CHECK(!bs_node_get(a, i)->grad.data, "node %d kept a grad from a refused pass", i);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* an interrupt: refused with nothing changed, the flag cleared */
    {
        bs_ctx *a = bs_ctx_new();
        bs_id r = build(a, pa, 5);
        bs_ctx_interrupt(a);
        CHECK(bs_backward(a, r, NULL, false) == BS_ERR_INTERRUPT, "interrupt: %s", bs_errmsg(a));
        for (bs_id i = 0; i < bs_tape_len(a); i++)
            CHECK(!bs_node_get(a, i)->grad.data && !bs_node_freed(a, i), "node %d changed by an interrupted pass", i);
        CHECK(bs_backward(a, r, NULL, false) == BS_OK, "after the interrupt: %s", bs_errmsg(a));
        bs_ctx_free(a);
    }

    /* a scalar graph over a tensor's mean: the general engine takes the pass (same grads) */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_ctx *cs[2] = {a, b};
        bs_id roots[2];
        for (int t = 0; t < 2; t++) {
            bs_ctx *c = cs[t];
            double v[3] = {0.5, -2, 3};
            bs_shape s3 = {1, {3}};
            bs_id x = bs_leaf(c, v, &s3, BS_F64, true);
            bs_id m = bs_apply1(c, BS_OP_MEAN, bs_apply2(c, BS_OP_MUL, x, x));
            bs_id w = P(c, 1.5, true);
            roots[t] = bs_apply2(c, BS_OP_ADD, bs_apply1(c, BS_OP_TANH, bs_apply2(c, BS_OP_MUL, m, w)), w);
        }
        CHECK(bs_backward(a, roots[0], NULL, false) == BS_OK, "mixed: %s", bs_errmsg(a));
        CHECK(stepped(b, roots[1], false) == BS_OK, "mixed stepped: %s", bs_errmsg(b));
        same_grads("over a tensor", a, b);
        const bs_node *xa = bs_node_get(a, 0), *xb = bs_node_get(b, 0);
        CHECK(xa->grad.data && xb->grad.data && !memcmp(xa->grad.data, xb->grad.data, 3 * sizeof(double)),
              "the tensor's grad differs");
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* records reused: a labelled node with text, a leaky_relu (its slope in attr) and a tensor
       are truncated or compacted away, and scalar nodes made where they were read as fresh ones */
    {
        bs_ctx *c = bs_ctx_new();
        bs_id p = P(c, 0.5, true), q = P(c, 2, true);
        int32_t start = bs_tape_len(c);
        for (int rep = 0; rep < 3; rep++) {
            bs_tape_truncate(c, start);
            bs_attr at = bs_attr_default(BS_OP_LEAKY_RELU);
            at.k = 0.3;
            bs_id l = bs_apply(c, BS_OP_LEAKY_RELU, (bs_id[]){p, BS_NONE, BS_NONE}, &at);
            bs_node_set_label(c, l, "z1");
            bs_node_set_text(c, l, "leaky_relu(p, 0.3)");
            bs_shape s2 = {1, {2}};
            bs_make(c, BS_INIT_ONES, &s2, NULL, BS_F64, 0, 0);
            bs_tape_truncate(c, start);
            for (int i = 0; i < 2; i++) {
                bs_id y = bs_apply2(c, BS_OP_MUL, p, q);
                const bs_node *n = bs_node_get(c, y);
                CHECK(!n->label && !n->text && n->attr.k == 0 && n->attr.k2 == 0 && n->attr.dim == BS_DIM_ALL &&
                          n->init == BS_INIT_NONE && n->init_src == BS_NONE && n->sym[0] == -1 && n->rebound == 0,
                      "rep %d: a reused record is not fresh (label %p, k %g, dim %d)", rep, (void *)n->label,
                      n->attr.k, n->attr.dim);
                CHECK(n->value.data == &n->sval && n->value.data[0] == 1 && !n->grad.data && n->nin == 2 &&
                          n->in[2] == BS_NONE,
                      "rep %d: node %d", rep, y);
            }
        }
        bs_id keep = bs_apply2(c, BS_OP_ADD, p, q);
        bs_node_set_label(c, keep, "kept");
        bs_id gone = bs_apply2(c, BS_OP_ADD, p, q);
        bs_node_set_label(c, gone, "gone");
        bs_id *keeps[3] = {&p, &q, &keep};
        CHECK(bs_tape_collect(c, keeps, 3) > 0, "collect");
        bs_id fresh = bs_apply2(c, BS_OP_SUB, p, q);
        const bs_node *n = bs_node_get(c, fresh);
        CHECK(!n->label && !n->text && n->value.data[0] == -1.5, "a record after compaction is not fresh");
        CHECK(bs_node_get(c, keep)->label && !strcmp(bs_node_get(c, keep)->label, "kept"), "the kept label moved");
        bs_ctx_free(c);
    }

    /* compact records against full ones: nothing asked for until the end, across passes that
       retain (grads add), one that frees and one then refused */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id r = build_twins(a, b, pa, pb, 5);
        same_nodes("fresh (asked for at once)", a, b); /* fills a's in; the rest start compact */
        bs_ctx_free(a);
        a = bs_ctx_new();
        bs_ctx_free(b);
        b = bs_ctx_new();
        r = build_twins(a, b, pa, pb, 5);
        for (int k = 0; k < 2; k++) {
            CHECK(bs_backward(a, r, NULL, true) == BS_OK, "compact pass %d: %s", k, bs_errmsg(a));
            CHECK(stepped(b, r, true) == BS_OK, "stepped pass %d: %s", k, bs_errmsg(b));
        }
        CHECK(bs_backward(a, r, NULL, false) == BS_OK, "compact pass (frees): %s", bs_errmsg(a));
        CHECK(stepped(b, r, false) == BS_OK, "stepped pass (frees): %s", bs_errmsg(b));
        bs_status sa = bs_backward(a, r, NULL, false), sb = stepped(b, r, false);
        CHECK(sa == BS_ERR_STATE && sb == BS_ERR_STATE, "freed compact graph: %d, %d", sa, sb);
        CHECK(!strcmp(bs_errmsg(a), bs_errmsg(b)), "messages differ:\n  %s\n  %s", bs_errmsg(a), bs_errmsg(b));
        same_nodes("after compact passes", a, b);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* some nodes asked for between passes (every third, then every fifth): passes over a mix of
       compact and full records */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id r = build_twins(a, b, pa, pb, 5);
        for (bs_id i = 0; i < r; i += 3) (void)bs_node_get(a, i);
        CHECK(bs_backward(a, r, NULL, true) == BS_OK, "mixed pass: %s", bs_errmsg(a));
        CHECK(stepped(b, r, true) == BS_OK, "stepped: %s", bs_errmsg(b));
        for (bs_id i = 1; i < r; i += 5) (void)bs_node_get(a, i);
        CHECK(bs_backward(a, r, NULL, false) == BS_OK, "mixed pass 2: %s", bs_errmsg(a));
        CHECK(stepped(b, r, false) == BS_OK, "stepped 2: %s", bs_errmsg(b));
        same_nodes("mixed records", a, b);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* a statement's journal: a pass over compact nodes made before the statement (journaled in
       16 bytes each, kept compact) and over ones made inside it, rolled back and committed */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id r = build_twins(a, b, pa, pb, 5);
        CHECK(bs_txn_begin(a) && bs_txn_begin(b), "begin");
        CHECK(bs_backward(a, r, NULL, false) == BS_OK, "journaled pass: %s", bs_errmsg(a));
        CHECK(stepped(b, r, false) == BS_OK, "journaled stepped: %s", bs_errmsg(b));
        CHECK(bs_txn_rollback(a) && bs_txn_rollback(b), "rollback");
        for (bs_id i = 0; i < bs_tape_len(a); i++)
            CHECK(!bs_node_get(a, i)->grad.data && !bs_node_freed(a, i), "node %d kept a rolled back pass", i);
        same_nodes("rolled back", a, b);
        CHECK(bs_txn_begin(a) && bs_txn_begin(b), "begin 2");
        eager = false;
        bs_id r2a = A2(a, BS_OP_MUL, A1(a, BS_OP_TANH, pa[1]), pa[2]);
        eager = true;
        bs_id r2b = A2(b, BS_OP_MUL, A1(b, BS_OP_TANH, pb[1]), pb[2]);
        eager = false;
        CHECK(bs_backward(a, r2a, NULL, false) == BS_OK, "inside: %s", bs_errmsg(a));
        CHECK(stepped(b, r2b, false) == BS_OK, "inside stepped: %s", bs_errmsg(b));
        CHECK(bs_txn_rollback(a) && bs_txn_rollback(b), "rollback 2");
        CHECK(bs_txn_begin(a) && bs_txn_begin(b), "begin 3");
        CHECK(bs_backward(a, r, NULL, true) == BS_OK, "committed pass: %s", bs_errmsg(a));
        CHECK(stepped(b, r, true) == BS_OK, "committed stepped: %s", bs_errmsg(b));
        bs_txn_commit(a);
        bs_txn_commit(b);
        same_nodes("journaled", a, b);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* a statement that steps compact nodes holding grads already (journaled, kept compact), asks
       for every node (each filled in after its step) and is rolled back: the grads and freed
       flags of before the statement, in full records */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id r = build_twins(a, b, pa, pb, 5);
        CHECK(bs_backward(a, r, NULL, true) == BS_OK && stepped(b, r, true) == BS_OK, "first pass");
        CHECK(bs_txn_begin(a) && bs_txn_begin(b), "begin");
        CHECK(bs_backward(a, r, NULL, false) == BS_OK, "second pass: %s", bs_errmsg(a));
        CHECK(stepped(b, r, false) == BS_OK, "second stepped: %s", bs_errmsg(b));
        for (bs_id i = 0; i < bs_tape_len(a); i++) CHECK(bs_node_freed(a, i) == bs_node_freed(b, i), "node %d freed", i);
        CHECK(bs_txn_rollback(a) && bs_txn_rollback(b), "rollback");
        same_grads("filled in, rolled back", a, b);
        same_nodes("filled in, rolled back", a, b);
        CHECK(bs_backward(a, r, NULL, false) == BS_OK && stepped(b, r, false) == BS_OK, "pass after");
        same_grads("pass after the rollback", a, b);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    /* compact records truncated and compacted (bs_tape_collect moves them, inputs renumbered),
       then a pass over what is left */
    {
        bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
        bs_id r = build_twins(a, b, pa, pb, 5);
        int32_t len = bs_tape_len(a);
        bs_id ra = r, rb = r;
        (void)build_twins(a, b, pa, pb, 5); /* a second graph (and params) after the first */
        bs_tape_truncate(a, len + 20);
        bs_tape_truncate(b, len + 20);
        bs_id *ka[1] = {&ra}, *kb[1] = {&rb};
        int32_t ga = bs_tape_collect(a, ka, 1), gb = bs_tape_collect(b, kb, 1);
        CHECK(ga == gb && ga > 0 && ra == rb, "collect: %d, %d reclaimed, roots %d, %d", ga, gb, ra, rb);
        CHECK(bs_backward(a, ra, NULL, false) == BS_OK, "after collect: %s", bs_errmsg(a));
        CHECK(stepped(b, rb, false) == BS_OK, "after collect stepped: %s", bs_errmsg(b));
        same_nodes("compacted", a, b);
        bs_ctx_free(a);
        bs_ctx_free(b);
    }

    if (failures) printf("%d failures\n", failures);
    else printf("scalar fast paths: all checks passed\n");
    return failures ? 1 : 0;
}
