/* repl/amp.c: torch.amp.GradScaler (also torch.cuda.amp.GradScaler, `from torch.cuda.amp import
 * GradScaler`, and the short form grad_scaler(...)): dynamic loss scaling, as torch 1.13's
 * torch/cuda/amp/grad_scaler.py does it, with its two kernels written out:
 *
 *   scale(L)      L * _scale, _scale a float32 tensor of shape (1,) (so the product is float32 of
 *                 shape (1,), as in torch); made on the first call
 *   unscale_(o)   inv_scale = float32(1 / float64(_scale)); every grad o updates is checked for
 *                 inf/NaN and multiplied by inv_scale in its own dtype
 *                 (_amp_foreach_non_finite_check_and_unscale_); f16 grads are an error there, as
 *                 in torch ("Attempting to unscale FP16 gradients.": keep f32 master weights)
 *   step(o)       unscale_ unless done since the last update, then o.step() unless an inf/NaN was
 *                 found: that step is skipped
 *   update()      _amp_update_scale_: an inf/NaN this round: _scale *= backoff_factor, the count
 *                 of good steps back to 0; else the count + 1, and at growth_interval
 *                 _scale *= growth_factor (kept when finite) and the count back to 0
 *   get_scale(), get/set_growth_factor, _backoff_factor, _growth_interval, is_enabled()
 *
 * torch 1.13 runs none of this on the CPU (its GradScaler disables itself without CUDA, and the
 * two kernels are CUDA-only): tests/dtype/gradscaler_ref.py runs torch's own class with the two
 * kernels written out the same way, and its trace is what tests/dtype compares with. */
#include <math.h>
#include <string.h>

#include "repl_int.h"

enum { AMP_READY, AMP_UNSCALED, AMP_STEPPED };
#define AMP_MAX_OPT 16

typedef struct {
    bs_hobj h;                  /* type "GradScaler"; h.attrs stays empty */
    bool enabled;
    bool have_scale;            /* _scale made (the first scale()) */
    float scale;                /* torch's _scale: float32 */
    float init_scale;
    double growth_factor, backoff_factor;
    int64_t growth_interval, tracker;
    struct {
        const bs_opt *opt;      /* the optimizer value's first group */
        int stage;
        bool found_inf;
    } per[AMP_MAX_OPT];         /* _per_optimizer_states, since the last update() */
    int nper;
} amp_scaler;

bool bs_is_amp(const bs_hobj *o)
{
    return o && !o->cls && o->type && !strcmp(o->type, "GradScaler");
}

static int num_arg(bs_session *s, const bs_expr *call, const char *name, const bs_value *v, double *out)
{
    if (!bs_as_number(s, v, out, NULL))
        return bs_fail(s, call->line, call->col, "GradScaler: %s must be a number", name);
    return 0;
}

/* GradScaler(init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
   enabled=True) */
int bs_amp_new(bs_session *s, const bs_expr *call, bs_value *pos, int npos, const char **kn,
               bs_value *kv, int nkw, bs_value *out)
{
    static const char *const names[] = {"init_scale", "growth_factor", "backoff_factor",
                                        "growth_interval", "enabled"};
    double v[5] = {65536.0, 2.0, 0.5, 2000, 1};
    if (npos > 5) return bs_fail(s, call->line, call->col, "GradScaler() takes at most 5 arguments");
    for (int i = 0; i < npos; i++)
        if (i == 4 ? (pos[i].k == BS_V_BOOL ? (v[4] = pos[i].b, 0) : num_arg(s, call, names[i], &pos[i], &v[i]))
                   : num_arg(s, call, names[i], &pos[i], &v[i]))
            return -1;
    for (int i = 0; i < nkw; i++) {
        int k = 0;
        while (k < 5 && strcmp(kn[i], names[k])) k++;
        if (k == 5) return bs_fail(s, call->line, call->col, "GradScaler() got an unexpected keyword argument '%s'", kn[i]);
        if (k == 4 && kv[i].k == BS_V_BOOL) v[4] = kv[i].b;
        else if (num_arg(s, call, names[k], &kv[i], &v[k])) return -1;
    }
    /* torch's checks, in its words */
    if (!(v[1] > 1.0)) return bs_fail(s, call->line, call->col, "The growth factor must be > 1.0.");
    if (!(v[2] < 1.0)) return bs_fail(s, call->line, call->col, "The backoff factor must be < 1.0.");
    if (!(v[3] >= 1) || v[3] != floor(v[3]))
        return bs_fail(s, call->line, call->col, "growth_interval must be a positive integer");
    amp_scaler *a = bs_heap_new(s, BS_H_OBJ, sizeof *a);
    if (!a) return bs_fail(s, call->line, call->col, "out of memory");
    a->h.type = "GradScaler";
    a->enabled = v[4] != 0;
    a->init_scale = (float)v[0];
    a->growth_factor = v[1];
    a->backoff_factor = v[2];
    a->growth_interval = (int64_t)v[3];
    *out = bs_value_of(BS_V_OBJ);
    out->ref = a;
    return 0;
}

/* _amp_update_scale_: after an inf/NaN, scale *= backoff and the count of good steps back to 0;
   else the count + 1, and at growth_interval scale *= growth (kept when finite), count back to 0.
   (Also :train's scale=dynamic, repl/run.c.) */
void bs_amp_update_scale(float *scale, int64_t *tracker, bool found_inf, double growth, double backoff,
                         int64_t interval)
{
    if (found_inf) {
        *scale = (float)((double)*scale * backoff);
        *tracker = 0;
    } else if (*tracker + 1 == interval) {
        float grown = (float)((double)*scale * growth);
        if (isfinite(grown)) *scale = grown;
        *tracker = 0;
    } else {
        (*tracker)++;
    }
}

/* the state of optimizer value ov, made READY on first use */
static int opt_state(bs_session *s, const bs_expr *call, amp_scaler *a, const bs_value *ov)
{
    if (ov->k != BS_V_OPT) return -1;
    for (int i = 0; i < a->nper; i++)
        if (a->per[i].opt == ov->opt) return i;
    if (a->nper == AMP_MAX_OPT) {
        bs_fail(s, call->line, call->col, "GradScaler: at most %d optimizers", AMP_MAX_OPT);
        return -2;
    }
    a->per[a->nper].opt = ov->opt;
    a->per[a->nper].stage = AMP_READY;
    a->per[a->nper].found_inf = false;
    return a->nper++;
}

static int unscale(bs_session *s, const bs_expr *call, amp_scaler *a, const bs_value *ov, int k)
{
    float inv = (float)(1.0 / (double)a->scale); /* self._scale.double().reciprocal().float() */
    bool found = false;
    bs_status st = BS_OK;
    if (ov->ref) { /* torch.optim with param groups: each group's optimizer */
        bs_hlist *l = ov->ref;
        int ng = l->n / 2;
        for (int g = 0; g < ng && !st; g++) st = bs_opt_unscale(s->ctx, l->items[ng + g].opt, inv, false, &found);
    } else {
        st = bs_opt_unscale(s->ctx, ov->opt, inv, false, &found);
    }
    if (st) return bs_fail_core(s, call->line, call->col, NULL);
    a->per[k].found_inf = found;
    a->per[k].stage = AMP_UNSCALED;
    return 0;
}

static int need_opt(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos)
{
    if (npos != 1 || pos[0].k != BS_V_OPT)
        return bs_fail(s, call->line, call->col, "GradScaler.%s(optimizer) takes the optimizer", name);
    return 0;
}

static bs_value num_out(double v, bool is_int)
{
    return bs_num_value(v, is_int);
}

int bs_amp_method(bs_session *s, const bs_expr *call, bs_hobj *o, const char *name, bs_value *pos, int npos,
                  const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    amp_scaler *a = (amp_scaler *)o;
    int line = call->line, col = call->col;
    *out = bs_value_of(BS_V_VOID);
    if (!strcmp(name, "scale")) {
        if (npos != 1 || nkw) return bs_fail(s, line, col, "GradScaler.scale(outputs) takes one tensor");
        if (!a->enabled) {
            *out = pos[0];
            return 0;
        }
        bs_id x;
        if (bs_to_node(s, &pos[0], call, &x)) return -1;
        if (!a->have_scale) {
            a->have_scale = true;
            a->scale = a->init_scale;
            a->tracker = 0;
        }
        double sv = a->scale;
        bs_shape one = {1, {1}};
        bs_id sc = bs_leaf(s->ctx, &sv, &one, BS_F32, false);
        if (sc < 0) return bs_fail_core(s, line, col, NULL);
        bs_node_set_text(s->ctx, sc, "scaler._scale");
        bs_id y = bs_apply2(s->ctx, BS_OP_MUL, x, sc);
        if (y < 0) return bs_fail_core(s, line, col, NULL);
        bs_node_text_from(s, y, call);
        *out = bs_node_value(y);
        return 0;
    }
    if (!strcmp(name, "unscale_") || !strcmp(name, "step")) {
        if (need_opt(s, call, name, pos, npos)) return -1;
        bool step = name[0] == 's';
        if (!a->enabled) {
            if (!step) return 0;
            int r = bs_opt_each(s, call, &pos[0], true);
            if (r < 0) return -1;
            if (r && bs_opt_step(s->ctx, pos[0].opt)) return bs_fail_core(s, line, col, NULL);
            return 0;
        }
        if (!a->have_scale)
            return bs_fail(s, line, col, "Attempted %s but _scale is None.  This may indicate your script did not use "
                           "scaler.scale(loss or outputs) earlier in the iteration.", step ? "step" : "unscale_");
        int k = opt_state(s, call, a, &pos[0]);
        if (k < 0) return -1;
        if (!step) {
            if (a->per[k].stage == AMP_UNSCALED)
                return bs_fail(s, line, col, "unscale_() has already been called on this optimizer since the last update().");
            if (a->per[k].stage == AMP_STEPPED) return bs_fail(s, line, col, "unscale_() is being called after step().");
            return unscale(s, call, a, &pos[0], k);
        }
        if (nkw) return bs_fail(s, line, col, "GradScaler.step(optimizer) takes no keyword arguments here");
        if (a->per[k].stage == AMP_STEPPED)
            return bs_fail(s, line, col, "step() has already been called since the last update().");
        if (a->per[k].stage == AMP_READY && unscale(s, call, a, &pos[0], k)) return -1;
        if (!a->per[k].found_inf) { /* else the step is skipped */
            int r = bs_opt_each(s, call, &pos[0], true);
            if (r < 0) return -1;
            if (r && bs_opt_step(s->ctx, pos[0].opt)) return bs_fail_core(s, line, col, NULL);
        }
        a->per[k].stage = AMP_STEPPED;
        *out = bs_value_of(BS_V_NONE);
        return 0;
    }
    if (!strcmp(name, "update")) {
        if (npos > 1 || nkw > 1 || (nkw && strcmp(kn[0], "new_scale")))
            return bs_fail(s, line, col, "GradScaler.update(new_scale=None)");
        if (!a->enabled) return 0;
        if (!a->have_scale)
            return bs_fail(s, line, col, "Attempted update but _scale is None.  This may indicate your script did not "
                           "use scaler.scale(loss or outputs) earlier in the iteration.");
        const bs_value *ns = npos ? &pos[0] : nkw ? &kv[0] : NULL;
        if (ns && ns->k != BS_V_NONE) {
            double v;
            if (!bs_as_number(s, ns, &v, NULL)) return bs_fail(s, line, col, "new_scale should be a float or a 1-element tensor");
            a->scale = (float)v;
        } else {
            bool found = false, any = false;
            for (int i = 0; i < a->nper; i++)
                if (a->per[i].stage != AMP_READY) {
                    any = true;
                    found |= a->per[i].found_inf;
                }
            if (!any) return bs_fail(s, line, col, "No inf checks were recorded prior to update.");
            bs_amp_update_scale(&a->scale, &a->tracker, found, a->growth_factor, a->backoff_factor,
                                a->growth_interval);
        }
        a->nper = 0;
        return 0;
    }
    if (npos && strncmp(name, "set_", 4)) return bs_fail(s, line, col, "GradScaler.%s() takes no arguments", name);
    if (!strcmp(name, "get_scale")) {
        *out = num_out(!a->enabled ? 1.0 : a->have_scale ? (double)a->scale : (double)a->init_scale, false);
        return 0;
    }
    if (!strcmp(name, "is_enabled")) {
        *out = bs_value_of(BS_V_BOOL);
        out->b = a->enabled;
        return 0;
    }
    if (!strcmp(name, "get_growth_factor")) { *out = num_out(a->growth_factor, false); return 0; }
    if (!strcmp(name, "get_backoff_factor")) { *out = num_out(a->backoff_factor, false); return 0; }
    if (!strcmp(name, "get_growth_interval")) { *out = num_out((double)a->growth_interval, true); return 0; }
    if (!strcmp(name, "set_growth_factor") || !strcmp(name, "set_backoff_factor") ||
        !strcmp(name, "set_growth_interval")) {
        double v;
        if (npos != 1 || nkw || !bs_as_number(s, &pos[0], &v, NULL))
            return bs_fail(s, line, col, "GradScaler.%s(new_value) takes a number", name);
        if (name[4] == 'g' && name[11] == 'f') a->growth_factor = v;
        else if (name[4] == 'b') a->backoff_factor = v;
        else a->growth_interval = (int64_t)v;
        return 0;
    }
    return bs_fail(s, line, col, "'GradScaler' object has no attribute '%s' (it has scale, step, update, unscale_, "
                   "get_scale, is_enabled, get/set_growth_factor, _backoff_factor, _growth_interval)", name);
}
