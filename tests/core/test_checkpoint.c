/* tests/core/test_checkpoint.c: checkpoint (torch.utils.checkpoint, use_reentrant=False) on a
 * 4-block MLP, built twice: with each block inside a checkpoint and without. The grads must be
 * bit-identical (f64 and f32), the stepped pass must run each checkpoint's forward again exactly
 * once and find the same values, the saved tensors made inside a checkpoint must be marked as not
 * kept (and only those), a second backward through a freed checkpointed graph is refused, and a
 * replay plan on the CPU backend must free the insides (less peak memory), run them again in
 * backward and give the same param grads as the plan without checkpoints. */
#include <stdio.h>
#include <string.h>

#include "backstep.h"

static int failures;
#include "check.h"

#define NB 4

typedef struct {
    bs_id p[4 * NB]; /* W1 b1 W2 b2 per block */
    bs_id L;
} net;

static void build(bs_ctx *c, bool ckpt, bs_dtype t, net *n)
{
    bs_ctx_seed(c, 3);
    bs_ctx_set_dtype(c, t);
    bs_shape xs = {2, {8, 16}}, w1s = {2, {16, 32}}, b1s = {1, {32}}, w2s = {2, {32, 16}}, b2s = {1, {16}};
    bs_id x = bs_make(c, BS_INIT_RANDN, &xs, NULL, t, 0, 0);
    for (int k = 0; k < NB; k++) {
        const bs_shape *sh[4] = {&w1s, &b1s, &w2s, &b2s};
        for (int j = 0; j < 4; j++) {
            n->p[4 * k + j] = bs_make(c, j % 2 ? BS_INIT_ZEROS : BS_INIT_RANDN, sh[j], NULL, t, 0, 0);
            bs_node_set_requires_grad(c, n->p[4 * k + j], true);
        }
        int32_t prev = ckpt ? bs_checkpoint_enter(c, "checkpoint(block)") : -1;
        bs_id a = bs_apply_linear_bias(c, bs_apply2(c, BS_OP_MATMUL, x, n->p[4 * k]), n->p[4 * k + 1]);
        bs_id h = bs_apply1(c, BS_OP_TANH, a);
        bs_id o = bs_apply_linear_bias(c, bs_apply2(c, BS_OP_MATMUL, h, n->p[4 * k + 2]), n->p[4 * k + 3]);
        x = bs_apply2(c, BS_OP_ADD, x, o);
        if (ckpt) bs_scope_leave(c, prev);
    }
    n->L = bs_apply1(c, BS_OP_MEAN, bs_apply2(c, BS_OP_MUL, x, x));
    CHECK(n->L >= 0, "build: %s", bs_errmsg(c));
}

static size_t kept_bytes(bs_ctx *c, int *recomputed)
{
    size_t b = 0;
    *recomputed = 0;
    for (bs_id i = 0; i < bs_tape_len(c); i++) {
        bs_saved_tensor sv[BS_MAX_SAVED];
        int k = bs_node_saved(c, i, sv);
        for (int j = 0; j < k; j++) {
            bool inside = bs_node_checkpoint(c, i) != 0;
            CHECK(!sv[j].recomputed || (inside && bs_node_checkpoint(c, sv[j].tensor) == bs_node_checkpoint(c, i)),
                  "node %d: a saved tensor marked recomputed that its checkpoint did not make", i);
            if (sv[j].recomputed) (*recomputed)++;
            else b += sv[j].bytes; /* a rough sum: shared storages counted per use, both graphs alike */
        }
    }
    return b;
}

static void grads_equal(bs_ctx *a, bs_ctx *b, const net *na, const net *nb, const char *what)
{
    for (int k = 0; k < 4 * NB; k++) {
        const bs_node *x = bs_node_get(a, na->p[k]), *y = bs_node_get(b, nb->p[k]);
        CHECK(x->grad.data && y->grad.data, "%s: param %d has no grad", what, k);
        if (!x->grad.data || !y->grad.data) continue;
        CHECK(!memcmp(x->grad.data, y->grad.data, (size_t)bs_tensor_numel(&x->grad) * sizeof(double)),
              "%s: param %d's grad differs with checkpoints", what, k);
    }
}

static void eager(bs_dtype t)
{
    bs_ctx *a = bs_ctx_new(), *b = bs_ctx_new();
    net na, nb;
    build(a, false, t, &na);
    build(b, true, t, &nb);
    int ra, rb;
    size_t ka = kept_bytes(a, &ra), kb = kept_bytes(b, &rb);
    CHECK(ra == 0 && rb > 0, "recomputed entries: %d without checkpoints, %d with", ra, rb);
    CHECK(kb < ka, "kept bytes: %zu with checkpoints, %zu without", kb, ka);
    CHECK(!bs_backward(a, na.L, NULL, false), "backward: %s", bs_errmsg(a));
    /* stepped: each checkpoint's forward runs again once, before its first step, to the same bits */
    bs_bwd *it = bs_backward_begin(b, nb.L, NULL, false, true);
    CHECK(it != NULL, "begin: %s", bs_errmsg(b));
    bs_step st;
    int rec = 0, r;
    int32_t seen[NB + 1] = {0};
    while (it && (r = bs_backward_next(it, &st)) == 1) {
        if (!st.recompute.scope) continue;
        CHECK(st.recompute.same, "checkpoint %d: the values made again differ", st.recompute.scope);
        CHECK(st.recompute.nodes == 6, "checkpoint %d: %d nodes made again, want 6", st.recompute.scope,
              st.recompute.nodes);
        CHECK(st.recompute.flops > 0, "no FLOPs counted");
        for (int j = 0; j < rec && j <= NB; j++)
            CHECK(seen[j] != st.recompute.scope, "checkpoint %d ran twice", st.recompute.scope);
        if (rec <= NB) seen[rec] = st.recompute.scope;
        rec++;
        CHECK(bs_node_checkpoint(b, st.node) == st.recompute.scope, "the step is not the checkpoint's");
    }
    if (it) bs_backward_end(it);
    CHECK(rec == NB, "%d checkpoints ran again, want %d", rec, NB);
    grads_equal(a, b, &na, &nb, t == BS_F64 ? "f64" : "f32");
    CHECK(bs_backward(b, nb.L, NULL, false) == BS_ERR_STATE, "a second backward through the freed graph ran");
    bs_ctx_free(a);
    bs_ctx_free(b);
}

static void plan(void)
{
    bs_backend *be = bs_backend_cpu();
    char err[256];
    if (be->open(be, err, sizeof err)) {
        printf("cpu backend: %s\n", err);
        failures++;
        return;
    }
    bs_ctx *c = bs_ctx_new();
    net n;
    build(c, true, BS_F64, &n);
    bs_plan_opts o = bs_plan_defaults();
    o.dtype = BS_F64;
    o.update = false;
    o.time_nodes = false;
    bs_plan *p = bs_plan_new(c, n.L, be, &o, err, sizeof err);
    o.no_checkpoint = true;
    bs_plan *q = bs_plan_new(c, n.L, be, &o, err, sizeof err);
    CHECK(p && q, "plans: %s", err);
    if (p && q) {
        CHECK(!bs_plan_step(p, NULL) && !bs_plan_step(q, NULL), "steps failed");
        bs_plan_summary sp, sq;
        bs_plan_summary_get(p, &sp);
        bs_plan_summary_get(q, &sq);
        CHECK(sp.checkpoints == NB && sq.checkpoints == 0, "checkpoints %d and %d", sp.checkpoints, sq.checkpoints);
        CHECK(sp.peak_bytes < sq.peak_bytes, "peak %zu with checkpoints, %zu without", sp.peak_bytes, sq.peak_bytes);
        CHECK(sp.recompute_flops > 0 && sq.recompute_flops == 0, "recompute FLOPs %g", sp.recompute_flops);
        double ga[32 * 16], gb[32 * 16];
        for (int k = 0; k < 4 * NB; k++) {
            int64_t m = bs_tensor_numel(&bs_node_get(c, n.p[k])->value);
            CHECK(!bs_plan_read(p, n.p[k], true, ga) && !bs_plan_read(q, n.p[k], true, gb), "read grad %d", k);
            CHECK(!memcmp(ga, gb, (size_t)m * sizeof(double)), "plan: param %d's grad differs with checkpoints", k);
        }
    }
    bs_plan_free(p);
    bs_plan_free(q);
    bs_ctx_free(c);
    be->close(be);
}

int main(void)
{
    eager(BS_F64);
    eager(BS_F32);
    plan();
    printf("checkpoint: %d failure%s\n", failures, failures == 1 ? "" : "s");
    return failures != 0;
}
