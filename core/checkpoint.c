/* core/checkpoint.c: torch.utils.checkpoint(fn, *args, use_reentrant=False) on the tape.
 *
 * A checkpoint is a scope (bs_scope_enter) marked as one: every node made while it is entered,
 * in nested calls too, is the checkpoint's (bs__ckpt_of). What that buys is said by
 * bs_node_saved, which marks the saved tensors a checkpoint made itself as recomputed (PyTorch
 * keeps a placeholder for them, not the tensor), and by the backward pass, which calls
 * bs__ckpt_recompute when it reaches the checkpoint's first node in its order: the forward of
 * the checkpoint's op nodes runs again, in the order they were made, each value made anew from
 * its inputs as bs_apply made it. The eager tape keeps every value for the REPL to show, so the
 * values made again must equal the forward's bit for bit (the same arithmetic on the same
 * inputs); `same` reports it, and a graph whose input changed in place between forward and
 * backward is refused before that by the version check, as PyTorch refuses it. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

int32_t bs_checkpoint_enter(bs_ctx *c, const char *name)
{
    int32_t prev = bs_scope_enter(c, name);
    if (prev < 0) return prev;
    int32_t k = c->cur_scope;
    if (!c->scope_ckpt[k - 1]) { /* a checkpoint inside a checkpoint is the outer one's */
        c->scope_ckpt[k - 1] = k;
        c->nckpt++;
    }
    return prev;
}

int32_t bs_node_checkpoint(const bs_ctx *c, bs_id id)
{
    const bs_node *n = bs_node_get(c, id);
    return n ? bs__ckpt_of(c, n) : 0;
}

void bs__ckpt_range(const bs_ctx *c, int32_t k, bs_id near, bs_id *lo, bs_id *hi)
{
    bs_id a = near, b = near;
    while (a > 0 && bs__ckpt_of(c, bs__node(c, a - 1)) == k) a--;
    while (b + 1 < c->len && bs__ckpt_of(c, bs__node(c, b + 1)) == k) b++;
    *lo = a;
    *hi = b;
}

bs_status bs__ckpt_recompute(bs_ctx *c, int32_t k, bs_id near, bs_recompute_info *info)
{
    memset(info, 0, sizeof *info);
    info->scope = k;
    info->same = true;
    bs__ckpt_range(c, k, near, &info->lo, &info->hi);
    double one, *tmp = &one;
    int64_t cap = 1;
    for (bs_id i = info->lo; i <= info->hi; i++) {
        bs_node *n = bs__node(c, i);
        if (n->op == BS_OP_LEAF) continue;
        int64_t numel = bs_shape_numel(&n->value.shape);
        if (numel > cap) {
            double *t = realloc(tmp == &one ? NULL : tmp, (size_t)numel * sizeof *t);
            if (!t) {
                if (tmp != &one) free(tmp);
                return bs__err(c, BS_ERR_NOMEM, "out of memory recomputing a checkpoint");
            }
            tmp = t;
            cap = numel;
        }
        bs_status st = bs__node_forward(c, n, tmp);
        if (st) {
            if (tmp != &one) free(tmp);
            return st;
        }
        if (memcmp(tmp, n->value.data, (size_t)numel * sizeof *tmp)) info->same = false;
        memcpy(n->value.data, tmp, (size_t)numel * sizeof *tmp);
        bs_shape sh[BS_MAX_INPUTS];
        for (int j = 0; j < n->nin; j++) sh[j] = bs__node(c, n->in[j])->value.shape;
        info->flops += bs_ops[n->op].flops(sh, &n->value.shape, &n->attr);
        info->nodes++;
    }
    if (tmp != &one) free(tmp);
    return BS_OK;
}
