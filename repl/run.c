/* repl/run.c: the commands that replay the recorded graph at real sizes: :run (a replay plan on
 * the CPU or CUDA backend, timed node by node, optionally checked against another engine) and
 * :train (forward, backward and an optimizer step k times, on the tape or a backend, with the
 * loss curve as a sparkline and in the window). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

#ifdef BS_HAVE_CUDA
#include <dlfcn.h>
#endif

/* ==== Arguments ==== */

typedef struct {
    const bs_word *w;
    char key[40];
    const char *val;      /* after '=', or NULL for a bare word */
} run_arg;

static int split_args(const bs_stmt *st, run_arg *a, int max)
{
    int n = 0;
    for (int i = 0; i < st->cmd.argc && n < max; i++, n++) {
        const char *t = st->cmd.argv[i].text;
        const char *eq = strchr(t, '=');
        a[n].w = &st->cmd.argv[i];
        a[n].val = eq ? eq + 1 : NULL;
        size_t l = eq ? (size_t)(eq - t) : strlen(t);
        if (l >= sizeof a[n].key) l = sizeof a[n].key - 1;
        memcpy(a[n].key, t, l);
        a[n].key[l] = 0;
    }
    return n;
}

static int bad_value(bs_session *s, const run_arg *a, const char *what)
{
    return bs_fail(s, a->w->line, a->w->col, "%s wants %s, not '%s'", a->key, what, a->val);
}

static int arg_int(bs_session *s, const run_arg *a, int64_t lo, int64_t *out)
{
    char *end;
    long long v = strtoll(a->val, &end, 10);
    if (!*a->val || *end || v < lo) {
        char what[64];
        snprintf(what, sizeof what, "a whole number >= %lld", (long long)lo);
        return bad_value(s, a, what);
    }
    *out = v;
    return 0;
}

static int arg_num(bs_session *s, const run_arg *a, double *out)
{
    char *end;
    double v = strtod(a->val, &end);
    if (!*a->val || *end || !isfinite(v) || v < 0) return bad_value(s, a, "a number >= 0");
    *out = v;
    return 0;
}

/* the root: root=NAME / the positional NAME, else the last assigned scalar that requires grad */
static int pick_root(bs_session *s, const bs_stmt *st, const run_arg *a, bs_id *root)
{
    if (a) return bs_lookup_node(s, a->val ? a->val : a->w->text, a->w->line, a->w->col, root);
    if (s->last_scalar != BS_NONE) {
        *root = s->last_scalar;
        return 0;
    }
    return bs_fail(s, st->line, st->col,
                   ":%s needs a loss: assign a scalar that requires grad (L = ...) or name one%s",
                   st->cmd.name, strcmp(st->cmd.name, "run") ? "" : " with root=NAME");
}

/* ==== Backends ==== */

/* the backend named by `name`, opened; on failure an error that suggests :run cpu */
static int open_backend(bs_session *s, const bs_stmt *st, const char *name, const bs_word *w,
                        bs_backend **out)
{
#ifdef BS_HAVE_CUDA
    /* the CUDA backend (and cudart, cuBLAS with it) is loaded the first time it is asked for */
    static bool tried;
    static char why[300];
    if (!tried && !strcmp(name, "gpu")) {
        tried = true;
        const char *paths[] = {getenv("BACKSTEP_GPU_MODULE"), BS_GPU_MODULE, BS_GPU_MODULE_INSTALLED};
        void *h = NULL;
        for (int i = 0; i < 3 && !h; i++) {
            if (!paths[i] || !*paths[i]) continue;
            h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
            if (!h) snprintf(why, sizeof why, "%s", dlerror());
        }
        void (*reg)(void) = h ? (void (*)(void))dlsym(h, "bs_gpu_register") : NULL;
        if (reg) reg();
        else if (h) snprintf(why, sizeof why, "no bs_gpu_register in the GPU module");
    }
#endif
    bs_backend *be = bs_backend_find(name);
    char alt[256] = "";
    if (strcmp(name, "cpu")) {
        /* the same command on the CPU */
        snprintf(alt, sizeof alt, ":%s", st->cmd.name);
        for (int i = 0; i < st->cmd.argc; i++) {
            const char *t = st->cmd.argv[i].text;
            size_t l = strlen(alt);
            if (!strncmp(t, "on=", 3))
                snprintf(alt + l, sizeof alt - l, " on=cpu");
            else if (&st->cmd.argv[i] == w)
                snprintf(alt + l, sizeof alt - l, " cpu");
            else
                snprintf(alt + l, sizeof alt - l, " %s", t);
        }
    }
    if (!be) {
#ifdef BS_HAVE_CUDA
        if (!strcmp(name, "gpu"))
            return bs_fail(s, w->line, w->col, "the CUDA backend could not be loaded (%s); `%s` replays on "
                           "the CPU", why[0] ? why : "no module", alt);
#endif
        if (!strcmp(name, "gpu"))
            return bs_fail(s, w->line, w->col,
                           "this build has no CUDA backend (nvcc was not found when it was "
                           "built); `%s` replays on the CPU", alt);
        return bs_fail(s, w->line, w->col, "unknown backend '%s' (cpu or gpu)", name);
    }
    char err[256] = "";
    if (be->open(be, err, sizeof err))
        return bs_fail(s, w->line, w->col, "%s: %s; `%s` replays on the CPU", be->name,
                       err[0] ? err : "cannot start", alt);
    *out = be;
    return 0;
}

/* ==== Printing ==== */

static const char *node_label(bs_session *s, bs_id id, char *buf, size_t len)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    char nm[64];
    bs_node_name(s->ctx, id, nm, sizeof nm);
    if (n && n->label && n->text && n->op != BS_OP_LEAF)
        snprintf(buf, len, "%s = %s", nm, n->text);
    else
        snprintf(buf, len, "%s", nm);
    if (strlen(buf) > 26) strcpy(buf + 23, "...");
    return buf;
}

static void fmt_rate(char *buf, size_t len, double flops, double ms)
{
    if (flops <= 0 || ms <= 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f", flops / (ms * 1e-3) / 1e9);
}

static void fmt_bytes(char *buf, size_t len, double b)
{
    if (b >= 1e9)
        snprintf(buf, len, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(buf, len, "%.1f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(buf, len, "%.1f kB", b / 1e3);
    else
        snprintf(buf, len, "%.0f B", b);
}

static void opt_text(char *buf, size_t len, const bs_opt_conf *c)
{
    if (c->kind == BS_OPT_ADAM)
        snprintf(buf, len, "adam lr=%g", c->lr);
    else if (c->momentum != 0)
        snprintf(buf, len, "sgd lr=%g momentum=%g", c->lr, c->momentum);
    else
        snprintf(buf, len, "sgd lr=%g", c->lr);
}

/* ==== :run ==== */

typedef struct {
    bs_backend *be;
    bs_id root;
    bs_plan_opts o;
    int64_t steps;
    bool check;
} run_req;

static int parse_run(bs_session *s, const bs_stmt *st, run_req *r, const bs_word **bw)
{
    run_arg a[64];
    int n = split_args(st, a, 64);
    const run_arg *root_arg = NULL;
    *bw = NULL;
    r->o = bs_plan_defaults();
    r->steps = 10;
    r->check = false;
    for (int i = 0; i < n; i++) {
        const run_arg *x = &a[i];
        if (!x->val) {
            if (!strcmp(x->key, "--check")) {
                r->check = true;
            } else if (!strcmp(x->key, "--quiet")) {
                s->o.quiet = true;
            } else if (!*bw && x->key[0] != '-') {
                *bw = x->w;
            } else {
                return bs_fail(s, x->w->line, x->w->col,
                               "unknown argument '%s' (:run cpu|gpu [DIM=n ...] [dtype=f32|f64|f16|bf16] "
                               "[steps=k] [lr=x] [root=NAME] [--check])", x->w->text);
            }
            continue;
        }
        if (!strcmp(x->key, "dtype")) {
            if (!bs_dtype_parse(x->val, &r->o.dtype) || r->o.dtype == BS_I64)
                return bad_value(s, x, "f32, f64, f16 or bf16");
        } else if (!strcmp(x->key, "steps")) {
            if (arg_int(s, x, 1, &r->steps)) return -1;
        } else if (!strcmp(x->key, "lr")) {
            if (arg_num(s, x, &r->o.opt.lr)) return -1;
        } else if (!strcmp(x->key, "momentum")) {
            if (arg_num(s, x, &r->o.opt.momentum)) return -1;
        } else if (!strcmp(x->key, "opt")) {
            double lr = r->o.opt.lr;
            if (!strcmp(x->val, "adam"))
                r->o.opt = bs_opt_defaults(BS_OPT_ADAM);
            else if (!strcmp(x->val, "sgd"))
                r->o.opt = bs_opt_defaults(BS_OPT_SGD);
            else
                return bad_value(s, x, "sgd or adam");
            if (lr != 0.01) r->o.opt.lr = lr;
        } else if (!strcmp(x->key, "seed")) {
            int64_t v;
            if (arg_int(s, x, 0, &v)) return -1;
            r->o.seed = (uint64_t)v;
        } else if (!strcmp(x->key, "root")) {
            root_arg = x;
        } else {
            int d = bs_dim_find(s->ctx, x->key);
            if (d < 0 || bs_dim_base(s->ctx, d, NULL) >= 0) {
                char names[256] = "";
                for (int k = 0; k < bs_dim_count(s->ctx); k++) {
                    if (bs_dim_base(s->ctx, k, NULL) >= 0) continue; /* 3*D follows D */
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", bs_dim_name(s->ctx, k));
                }
                return bs_fail(s, x->w->line, x->w->col,
                               "%s is not a size variable (%s%s); options: dtype= steps= lr= "
                               "opt= momentum= root= seed=",
                               x->key, names[0] ? "size variables: " : "none defined: N = dim(4) makes one",
                               names);
            }
            int64_t v;
            if (arg_int(s, x, 1, &v)) return -1;
            if (r->o.nbind >= BS_PLAN_MAX_BIND)
                return bs_fail(s, x->w->line, x->w->col, "at most %d sizes", BS_PLAN_MAX_BIND);
            r->o.bind_dim[r->o.nbind] = d;
            r->o.bind_value[r->o.nbind++] = v;
        }
    }
    if (!*bw)
        return bs_fail(s, st->line, st->col,
                       "usage: :run cpu|gpu [DIM=n ...] [dtype=f32|f64|f16|bf16] [steps=k] [lr=x] "
                       "[root=NAME] [--check]");
    return pick_root(s, st, root_arg, &r->root);
}

static void print_table(bs_session *s, const char *where, const bs_plan_node *nodes, int n,
                        const bs_plan_summary *sum)
{
    FILE *f = s->out;
    char nm[160], sh[48], r1[24], r2[24], b1[24], t1[24], t2[24];
    double fwd = 0, bwd = 0;
    fprintf(f, "%-26s %-12s %-14s %9s %8s %9s %8s\n", "node", "op", "shape", "fwd ms", "GFLOP/s",
            "bwd ms", "GFLOP/s");
    for (int i = 0; i < n; i++) {
        const bs_plan_node *x = &nodes[i];
        if (x->leaf) continue;
        const bs_node *t = bs_node_get(s->ctx, x->node);
        fmt_rate(r1, sizeof r1, x->fwd_flops, x->fwd_ms);
        fmt_rate(r2, sizeof r2, x->bwd_flops, x->bwd_ms);
        if (x->folded) {
            snprintf(t1, sizeof t1, "(in place)");
            r1[0] = 0;
        } else if (x->fused_fwd) {
            snprintf(t1, sizeof t1, "(fused)");
            r1[0] = 0;
        } else {
            snprintf(t1, sizeof t1, "%.3f", x->fwd_ms);
        }
        if (x->folded && x->has_bwd) {
            snprintf(t2, sizeof t2, "(in place)");
            r2[0] = 0;
        } else if (!x->has_bwd) {
            snprintf(t2, sizeof t2, "-");
            r2[0] = 0;
        } else if (x->fused_bwd && x->bwd_flops == 0) {
            snprintf(t2, sizeof t2, "(fused)");
            r2[0] = 0;
        } else {
            snprintf(t2, sizeof t2, "%.3f", x->bwd_ms);
        }
        fwd += x->fwd_ms;
        bwd += x->bwd_ms;
        fprintf(f, "%-26s %-12s %-14s %9s %8s %9s %8s\n", node_label(s, x->node, nm, sizeof nm),
                bs_ops[t->op].name, bs_shape_str(&x->shape, sh, sizeof sh), t1, r1, t2, r2);
    }
    if (sum->param_elems) {
        char ps[48];
        snprintf(ps, sizeof ps, "(optimizer, %lld params)", (long long)sum->param_elems);
        fprintf(f, "%-26s %-12s %-14s %9s %8s %9.3f\n", ps, "", "", "", "", sum->opt_ms);
    }
    fmt_rate(r1, sizeof r1, sum->fwd_flops, fwd);
    fmt_rate(r2, sizeof r2, sum->bwd_flops, bwd);
    fprintf(f, "%-26s %-12s %-14s %9.3f %8s %9.3f %8s\n", "total of the medians", "", "", fwd, r1,
            bwd, r2);
    fmt_bytes(b1, sizeof b1, (double)sum->peak_bytes);
    fprintf(f, "step %.3f ms (median of %d; forward %.3f, backward %.3f, optimizer %.3f); "
               "peak memory %s (%zu bytes) on %s\n",
            sum->step_ms, sum->steps, sum->fwd_ms, sum->bwd_ms, sum->opt_ms, b1, sum->peak_bytes,
            where);
}

/* A graph with checkpoints: the same graph run without them, in the same :run, beside it */
static void print_checkpoints(bs_session *s, const run_req *r, bs_backend *be, const bs_plan_summary *with)
{
    FILE *f = s->out;
    bs_plan_opts o = r->o;
    o.no_checkpoint = true;
    char err[512], b1[32], b2[32], b3[32];
    bs_plan *q = bs_plan_new(s->ctx, r->root, be, &o, err, sizeof err);
    bs_status st = q ? bs_plan_step(q, NULL) : BS_ERR_NOMEM;
    if (q) bs_plan_reset_stats(q);
    for (int64_t k = 0; !st && k < r->steps && !s->interrupted; k++) st = bs_plan_step(q, NULL);
    bs_plan_summary w;
    if (q) bs_plan_summary_get(q, &w);
    bs_plan_free(q);
    fmt_bytes(b1, sizeof b1, (double)with->ckpt_bytes);
    fprintf(f, "checkpoints: %d; the values inside them are freed after the forward (one %s buffer "
               "they share) and made again in backward: %.0f FLOPs, +%.0f%% of the step's %.0f\n",
            with->checkpoints, b1, with->recompute_flops,
            100 * with->recompute_flops / (with->fwd_flops + with->bwd_flops),
            with->fwd_flops + with->bwd_flops);
    if (!q || st) {
        fprintf(f, "without checkpoints: not run (%s)\n", q ? bs_errmsg(s->ctx) : err);
        return;
    }
    fmt_bytes(b2, sizeof b2, (double)with->peak_bytes);
    fmt_bytes(b3, sizeof b3, (double)w.peak_bytes);
    fprintf(f, "without checkpoints (the same graph, same run): peak memory %s against %s with them "
               "(%.2fx); step %.3f ms against %.3f ms (backward %.3f against %.3f)\n",
            b3, b2, (double)w.peak_bytes / (double)with->peak_bytes, w.step_ms, with->step_ms, w.bwd_ms,
            with->bwd_ms);
}

static int bs_cmd_run(bs_session *s, const bs_stmt *st)
{
    run_req r;
    const bs_word *bw;
    bool quiet_before = s->o.quiet;
    int rc = parse_run(s, st, &r, &bw);
    bool quiet = s->o.quiet;
    s->o.quiet = quiet_before;
    if (rc) return -1;
    bs_backend *be;
    if (open_backend(s, st, bw->text, bw, &be)) return -1;
    r.be = be;
    bool is_cpu = be == bs_backend_cpu();
    char err[512];
    bs_plan *p = bs_plan_new(s->ctx, r.root, be, &r.o, err, sizeof err);
    if (!p) {
        be->close(be);
        return bs_fail(s, st->line, st->col, ":run %s: %s", be->name, err);
    }
    /* one warm-up step (first touches of memory, library start-up), then the timed steps; on a
     * device, per-node timing syncs around every node, so the step time comes from a second
     * round without it */
    bs_status sst = bs_plan_step(p, NULL);
    int64_t done = 0;
    bs_plan_reset_stats(p);
    for (; !sst && done < r.steps && !s->interrupted; done++) sst = bs_plan_step(p, NULL);
    int n = bs_plan_node_count(p);
    bs_plan_node *nodes = calloc((size_t)(n ? n : 1), sizeof *nodes);
    bs_plan_summary sum;
    bs_plan_summary_get(p, &sum);
    for (int i = 0; nodes && i < n; i++) bs_plan_node_get(p, i, &nodes[i]);
    if (!sst && !is_cpu && !s->interrupted) {
        bs_plan_reset_stats(p);
        bs_plan_time_nodes(p, false);
        for (int64_t k = 0; !sst && k < r.steps && !s->interrupted; k++) sst = bs_plan_step(p, NULL);
        bs_plan_summary s2;
        bs_plan_summary_get(p, &s2);
        if (s2.steps) sum.step_ms = s2.step_ms;
    }
    if (sst) {
        rc = bs_fail(s, st->line, st->col, ":run %s: %s", be->name, bs_plan_errmsg(p));
        goto out;
    }
    if (s->interrupted) {
        rc = bs_fail(s, st->line, st->col, "interrupted after %lld step%s", (long long)done,
                     done == 1 ? "" : "s");
        goto out;
    }
    char sizes[160], dev[160];
    bs_plan_sizes(p, sizes, sizeof sizes);
    snprintf(dev, sizeof dev, "%s", be->device);
    bs_plan_free(p);
    p = NULL;

    /* --check: the other engine, at a size it can afford */
    bs_plan_check_result chk;
    bool checked = false;
    if (r.check) {
        bs_backend *other = is_cpu ? NULL : bs_backend_cpu();
        if (other && other->open(other, err, sizeof err)) other = NULL;
        double budget = is_cpu ? 2e9 : 2e10;
        if (bs_plan_check(s->ctx, r.root, be, &r.o, other, budget, &chk, err, sizeof err)) {
            rc = bs_fail(s, st->line, st->col, ":run %s --check: %s", be->name, err);
            goto out;
        }
        checked = true;
    }
    char diff[32];
    if (checked)
        snprintf(diff, sizeof diff, "%.3g", chk.max_diff);
    else
        snprintf(diff, sizeof diff, "nan");
    if (quiet) {
        fprintf(s->out, "run %s step_ms=%.4f fwd_ms=%.4f bwd_ms=%.4f peak_bytes=%zu max_diff=%s\n",
                be->name, sum.step_ms, sum.fwd_ms, sum.bwd_ms, sum.peak_bytes, diff);
        goto out;
    }
    FILE *f = s->out;
    char rn[64], ot[64];
    opt_text(ot, sizeof ot, &r.o.opt);
    fprintf(f, ":run %s  %s  %s  on %s\n", be->name, sizes, bs_dtype_name(r.o.dtype), dev);
    bs_node_name(s->ctx, r.root, rn, sizeof rn);
    const bs_node *root = bs_node_get(s->ctx, r.root);
    if (!sum.backward)
        fprintf(f, "root %s; %lld step%s (forward only: %s does not require grad) after 1 warm-up\n",
                rn, (long long)done, done == 1 ? "" : "s", rn);
    else
        fprintf(f, "root %s; %lld step%s (forward, backward%s, %s) after 1 warm-up\n", rn,
                (long long)done, done == 1 ? "" : "s",
                bs_shape_numel(&root->value.shape) == 1 ? "" : " seeded with ones", ot);
    print_table(s, be->name, nodes, n, &sum);
    if (sum.checkpoints) print_checkpoints(s, &r, be, &sum);
    if (r.o.nbind) {
        /* what kept its recorded size */
        bs_plan *q = bs_plan_new(s->ctx, r.root, be, &r.o, err, sizeof err);
        char fixed[256];
        if (q && bs_plan_fixed(q, fixed, sizeof fixed))
            fprintf(f, "kept their recorded size (literal data): %s\n", fixed);
        bs_plan_free(q);
    }
    if (checked) {
        char wn[64];
        fprintf(f, "check: largest difference %s from %s at %s%s", diff, chk.other, chk.sizes,
                chk.reduced ? " (scaled down to fit)" : "");
        if (chk.worst != BS_NONE)
            fprintf(f, ", at %s%s", bs_node_name(s->ctx, chk.worst, wn, sizeof wn),
                    chk.worst_is_grad ? ".grad" : "");
        fprintf(f, " (|a - b| / max(1, |b|), %d tensors)\n", chk.compared);
    }
out:
    free(nodes);
    bs_plan_free(p);
    be->close(be);
    return rc;
}

/* ==== :train ==== */


static void sparkline(FILE *f, const double *y, int n, int width)
{
    static const char *const bars[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) {
            lo = fmin(lo, y[i]);
            hi = fmax(hi, y[i]);
        }
    int w = n < width ? n : width;
    for (int c = 0; c < w; c++) {
        int a = (int)((int64_t)c * n / w), b = (int)((int64_t)(c + 1) * n / w);
        double sum = 0;
        bool bad = false;
        for (int i = a; i < b; i++) {
            bad |= !isfinite(y[i]);
            sum += y[i];
        }
        if (bad || b <= a) {
            fputs("!", f);
            continue;
        }
        double v = sum / (b - a);
        int level = hi > lo ? (int)floor((v - lo) / (hi - lo) * 7.999) : 0;
        fputs(bars[level < 0 ? 0 : level > 7 ? 7 : level], f);
    }
}

#define TRAIN_USAGE                                                                              \
    ":train NAME steps=k [lr=x] [opt=sgd|adam] [momentum=m] [weight_decay=w] [on=tape|cpu|gpu] "    \
    "[dtype=f32|f64|f16|bf16] [scale=S|dynamic [init_scale=S] [growth_interval=k]]"

static int bs_cmd_train(bs_session *s, const bs_stmt *st)
{
    run_arg a[64];
    int na = split_args(st, a, 64);
    const run_arg *name = NULL, *on = NULL, *dt_arg = NULL, *scale_arg = NULL, *amp_opt = NULL;
    int64_t steps = 100;
    bool have_lr = false, quiet = s->o.quiet;
    double lr = 0, momentum = 0, wd = 0;
    bs_opt_kind kind = BS_OPT_SGD;
    bs_dtype dtype = BS_F32;
    /* loss scaling (scale=): 0 none, 1 static, 2 dynamic (GradScaler's rule) */
    int scaling = 0;
    double init_scale = 65536.0;
    int64_t growth_interval = 2000;
    for (int i = 0; i < na; i++) {
        const run_arg *x = &a[i];
        if (!x->val) {
            if (!strcmp(x->key, "--quiet"))
                quiet = true;
            else if (!name && x->key[0] != '-')
                name = x;
            else
                return bs_fail(s, x->w->line, x->w->col,
                               "unknown argument '%s' (" TRAIN_USAGE ")", x->w->text);
        } else if (!strcmp(x->key, "steps")) {
            if (arg_int(s, x, 1, &steps)) return -1;
        } else if (!strcmp(x->key, "lr")) {
            if (arg_num(s, x, &lr)) return -1;
            have_lr = true;
        } else if (!strcmp(x->key, "momentum")) {
            if (arg_num(s, x, &momentum)) return -1;
        } else if (!strcmp(x->key, "weight_decay")) {
            if (arg_num(s, x, &wd)) return -1;
        } else if (!strcmp(x->key, "opt")) {
            if (!strcmp(x->val, "sgd"))
                kind = BS_OPT_SGD;
            else if (!strcmp(x->val, "adam"))
                kind = BS_OPT_ADAM;
            else
                return bad_value(s, x, "sgd or adam");
        } else if (!strcmp(x->key, "on")) {
            if (strcmp(x->val, "tape") && strcmp(x->val, "cpu") && strcmp(x->val, "gpu"))
                return bad_value(s, x, "tape, cpu or gpu");
            on = x;
        } else if (!strcmp(x->key, "dtype")) {
            if (!bs_dtype_parse(x->val, &dtype) || dtype == BS_I64) return bad_value(s, x, "f32, f64, f16 or bf16");
            dt_arg = x;
        } else if (!strcmp(x->key, "scale")) {
            if (!strcmp(x->val, "dynamic")) {
                scaling = 2;
            } else {
                if (arg_num(s, x, &init_scale)) return -1;
                if (!(init_scale > 0)) return bad_value(s, x, "a number > 0 or dynamic");
                scaling = 1;
            }
            scale_arg = x;
        } else if (!strcmp(x->key, "init_scale")) {
            if (arg_num(s, x, &init_scale)) return -1;
            if (!(init_scale > 0)) return bad_value(s, x, "a number > 0");
            amp_opt = x;
        } else if (!strcmp(x->key, "growth_interval")) {
            if (arg_int(s, x, 1, &growth_interval)) return -1;
            amp_opt = x;
        } else {
            return bs_fail(s, x->w->line, x->w->col, "unknown option %s= (" TRAIN_USAGE ")", x->key);
        }
    }
    if (amp_opt && scaling != 2)
        return bs_fail(s, amp_opt->w->line, amp_opt->w->col,
                       "%s= belongs to scale=dynamic (GradScaler's %s)", amp_opt->key, amp_opt->key);
    /* dtype= is the dtype of a replay on a backend (the CPU unless on= names another) */
    if (dt_arg && on && !strcmp(on->val, "tape"))
        return bs_fail(s, dt_arg->w->line, dt_arg->w->col,
                       "dtype= replays on a backend (on=cpu|gpu); on the tape each tensor computes in its "
                       "own dtype (convert with model.half(), .to(torch.bfloat16), :dtype)");
    const char *backend = on && strcmp(on->val, "tape") ? on->val : dt_arg ? "cpu" : NULL;
    const bs_word *backend_w = on ? on->w : dt_arg ? dt_arg->w : NULL;
    if (scale_arg && backend)
        return bs_fail(s, scale_arg->w->line, scale_arg->w->col,
                       "scale= trains on the tape: GradScaler unscales into float32 master grads, and a "
                       "replay on %s holds every tensor in one dtype%s; record the casts in the graph "
                       "(wh = w.half()) and train on=tape",
                       backend, dtype == BS_F16 ? " (torch refuses too: \"Attempting to unscale FP16 gradients.\")" : "");
    if (steps > 10000000) return bs_fail(s, st->line, st->col, "steps: at most 10000000");
    bs_id root;
    if (pick_root(s, st, name, &root)) return -1;
    const bs_node *rn = bs_node_get(s->ctx, root);
    char nm[64];
    bs_node_name(s->ctx, root, nm, sizeof nm);
    if (!rn->requires_grad)
        return bs_fail(s, st->line, st->col,
                       ":train %s: %s does not require grad (no param reaches it), so there is "
                       "nothing to train", nm, nm);
    if (bs_shape_numel(&rn->value.shape) != 1)
        return bs_fail(s, st->line, st->col,
                       ":train %s: the loss must be a single number (reduce it with mean() or sum())",
                       nm);
    bs_opt_conf conf = bs_opt_defaults(kind);
    if (have_lr) conf.lr = lr;
    conf.momentum = kind == BS_OPT_SGD ? momentum : 0;
    conf.weight_decay = wd;
    char ot[64];
    opt_text(ot, sizeof ot, &conf);

    double *loss = calloc((size_t)steps + 1, sizeof *loss);
    if (!loss) return bs_fail(s, st->line, st->col, "out of memory");
    int64_t done = 0;
    int rc = 0;
    bs_ctx *c = s->ctx;
    const char *where = backend ? backend : "tape";
    int64_t skipped = 0;
    float sc = (float)init_scale;
    if (!backend) {
        /* the interactive engine, as a PyTorch loop: zero_grad, forward, backward, step */
        bs_opt *opt = bs_opt_new(c, &conf);
        if (!opt) {
            free(loss);
            return bs_fail_core(s, st->line, st->col, ":train");
        }
        bs_status e = BS_OK;
        int64_t tracker = 0;
        for (; done < steps && !s->interrupted; done++) {
            if ((e = bs_tape_refresh(c, root))) break;
            const bs_node *r = bs_node_get(c, root);
            loss[done] = r->value.data[0];
            /* every grad to None, as a fresh graph per step (and zero_grad) would have them */
            bs_zero_grad_all(c);
            for (bs_id i = 0; i <= root; i++) bs_zero_grad(c, i);
            if (!scaling) {
                if ((e = bs_backward(c, root, NULL, true))) break;
                if ((e = bs_opt_step(c, opt))) break;
                continue;
            }
            /* scaler.scale(L).backward(): L's gradient is the scale (in L's dtype); then
               scaler.step(opt): unscale_, and the step only when every grad is finite */
            double sv = sc;
            bs_tensor seed = {r->value.dtype, r->value.shape, &sv};
            bool found = false;
            if ((e = bs_backward(c, root, &seed, true))) break;
            if ((e = bs_opt_unscale(c, opt, (float)(1.0 / (double)sc), false, &found))) break;
            if (found)
                skipped++;
            else if ((e = bs_opt_step(c, opt)))
                break;
            if (scaling == 2) bs_amp_update_scale(&sc, &tracker, found, 2.0, 0.5, growth_interval);
        }
        if (done) bs_pass_record(s, root);
        if (!e) e = bs_tape_refresh(c, bs_tape_len(c) - 1);
        if (e) {
            free(loss);
            return bs_fail_core(s, st->line, st->col, ":train");
        }
        loss[done] = bs_node_get(c, root)->value.data[0];
    } else {
        /* a backend at the recorded sizes: the plan trains, then the params come back */
        bs_backend *be;
        if (open_backend(s, st, backend, backend_w, &be)) {
            free(loss);
            return -1;
        }
        bs_plan_opts o = bs_plan_defaults();
        if (dt_arg)
            o.dtype = dtype;
        else
            o.dtype = rn->value.dtype == BS_F64 && be->supports_dtype(be, BS_F64) ? BS_F64 : BS_F32;
        o.opt = conf;
        o.time_nodes = false;
        char err[512];
        bs_plan *p = bs_plan_new(c, root, be, &o, err, sizeof err);
        if (!p) {
            be->close(be);
            free(loss);
            return bs_fail(s, st->line, st->col, ":train on=%s: %s", be->name, err);
        }
        bs_status e = BS_OK;
        for (; done < steps && !s->interrupted && !e; done++) e = bs_plan_step(p, &loss[done]);
        if (!e) e = bs_plan_forward(p, &loss[done]);
        if (!e) e = bs_plan_store_params(p, c);
        if (e) snprintf(err, sizeof err, "%s", bs_plan_errmsg(p));
        bs_plan_free(p);
        be->close(be);
        if (!e && bs_tape_refresh(c, bs_tape_len(c) - 1)) {
            snprintf(err, sizeof err, "%s", bs_errmsg(c));
            e = BS_ERR_STATE;
        }
        if (e) {
            free(loss);
            return bs_fail(s, st->line, st->col, ":train on=%s: %s", where, err);
        }
    }
    int n = (int)done + 1;
    char b0[40], b1[40];
    bs_fmt_num(b0, sizeof b0, loss[0], s->o.precision, false);
    bs_fmt_num(b1, sizeof b1, loss[done], s->o.precision, false);
    if (quiet) {
        fprintf(s->out, "%s\n", b1);
    } else {
        fprintf(s->out, "train %s: %lld step%s of %s on %s%s%s\n", nm, (long long)done,
                done == 1 ? "" : "s", ot, !strcmp(where, "tape") ? "the tape" : where,
                dt_arg ? " in " : "", dt_arg ? bs_dtype_name(dtype) : "");
        if (scaling) {
            char b2[40], b3[40];
            bs_fmt_num(b2, sizeof b2, init_scale, s->o.precision, false);
            bs_fmt_num(b3, sizeof b3, sc, s->o.precision, false);
            if (scaling == 2)
                fprintf(s->out, "loss scaling dynamic (GradScaler, growth_interval=%lld): scale %s -> %s; ",
                        (long long)growth_interval, b2, b3);
            else
                fprintf(s->out, "loss scaling static: scale %s; ", b2);
            fprintf(s->out, "%lld of %lld step%s skipped (inf or NaN grads)\n", (long long)skipped,
                    (long long)done, done == 1 ? "" : "s");
        }
        fprintf(s->out, "loss %s ", b0);
        sparkline(s->out, loss, n, 60);
        fprintf(s->out, " %s\n", b1);
    }
    bs_window *w = bs_session_window(s);
    if (w) {
        char title[192], err[128];
        snprintf(title, sizeof title, "loss of %s (%s)", nm, ot);
        bs_window_plot(w, loss, n, title, err, sizeof err);
    }
    if (s->interrupted)
        rc = bs_fail(s, st->line, st->col,
                     "interrupted after %lld step%s (the params keep those steps' updates)",
                     (long long)done, done == 1 ? "" : "s");
    free(loss);
    return rc;
}

/* ==== :mem DIM=a,b,c ... ====
 * The saved-activation bytes of the graph at other sizes, without running it: the plan's shapes
 * at each value of the swept size (bs_plan_shapes), and for every tensor PyTorch would keep for
 * backward (bs_node_saved: the same entries :mem lists, each storage counted once) its bytes at
 * that size. Then a least-squares fit bytes = c0 + c1 x + c2 x^2 over the swept size x, and the
 * tensors whose bytes grow as x^2 (attention's scores, for S). */

typedef struct {
    bs_id tensor;
    int slot;          /* -1: the node's value; k: its buffer k */
    bs_id node;        /* the node whose op saves it (for a buffer's shape at new sizes) */
    const char *role;
    bool number;       /* a wrapped Python number: 8 bytes at any size */
} mem_entry;

/* bytes of one saved storage at the shapes in sh */
static size_t mem_entry_bytes(bs_session *s, const mem_entry *m, const bs_shape *sh)
{
    if (m->number) return 8;
    const bs_node *t = bs_node_get(s->ctx, m->tensor);
    if (m->slot < 0) return (size_t)bs_shape_numel(&sh[m->tensor]) * bs_dtype_size(t->value.dtype);
    const bs_node *n = bs_node_get(s->ctx, m->node);
    bs_saved_in in[BS_MAX_INPUTS];
    for (int i = 0; i < n->nin; i++) {
        const bs_node *x = bs_node_get(s->ctx, n->in[i]);
        in[i] = (bs_saved_in){sh[n->in[i]], x->value.dtype, x->requires_grad, x->is_number};
    }
    bs_saved sv[BS_MAX_SAVED];
    int k = bs_ops[n->op].saved(in, &sh[m->node], n->value.dtype, &n->attr, sv);
    if (m->slot >= k) return 0;
    return (size_t)bs_shape_numel(&sv[m->slot].shape) * bs_dtype_size(sv[m->slot].dtype);
}

/* solves the 3x3 system a x = b (Gaussian elimination with pivoting); false when singular */
static bool solve3(double a[3][3], double b[3], double x[3])
{
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        if (fabs(a[p][c]) < 1e-300) return false;
        for (int k = 0; k < 3; k++) {
            double t = a[c][k];
            a[c][k] = a[p][k];
            a[p][k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < 3; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 3; k++) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int c = 2; c >= 0; c--) {
        double v = b[c];
        for (int k = c + 1; k < 3; k++) v -= a[c][k] * x[k];
        x[c] = v / a[c][c];
    }
    return true;
}

#define MEM_MAX_VALUES 16

int bs_cmd_mem_sizes(bs_session *s, const bs_stmt *st)
{
    run_arg a[24];
    int na = split_args(st, a, 24);
    const run_arg *root_arg = NULL, *sweep = NULL;
    bs_plan_opts o = bs_plan_defaults();
    int64_t vals[MEM_MAX_VALUES];
    int nv = 0, sweep_bind = -1;
    for (int i = 0; i < na; i++) {
        const run_arg *x = &a[i];
        if (!x->val || !strcmp(x->key, "root")) {
            if (root_arg) return bs_fail(s, x->w->line, x->w->col, ":mem takes one tensor name");
            root_arg = x;
            continue;
        }
        int d = bs_dim_find(s->ctx, x->key);
        if (d < 0 || bs_dim_base(s->ctx, d, NULL) >= 0)
            return bs_fail(s, x->w->line, x->w->col, "%s is not a size variable (N = dim(4) makes one)", x->key);
        if (o.nbind >= BS_PLAN_MAX_BIND) return bs_fail(s, x->w->line, x->w->col, "at most %d sizes", BS_PLAN_MAX_BIND);
        int n = 0;
        int64_t lv[MEM_MAX_VALUES];
        char buf[256];
        snprintf(buf, sizeof buf, "%s", x->val);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            char *end;
            long long v = strtoll(tok, &end, 10);
            if (!*tok || *end || v < 1) return bad_value(s, x, "whole numbers >= 1, separated by commas");
            if (n == MEM_MAX_VALUES) return bs_fail(s, x->w->line, x->w->col, "at most %d values", MEM_MAX_VALUES);
            lv[n++] = v;
        }
        if (!n) return bad_value(s, x, "whole numbers >= 1, separated by commas");
        if (n > 1) {
            if (sweep)
                return bs_fail(s, x->w->line, x->w->col, "only one size takes a list of values (%s does)", sweep->key);
            sweep = x;
            sweep_bind = o.nbind;
            nv = n;
            memcpy(vals, lv, sizeof(int64_t) * (size_t)n);
        }
        o.bind_dim[o.nbind] = d;
        o.bind_value[o.nbind++] = lv[0];
    }
    if (!sweep) { /* one value each: a table of one size */
        for (int i = 0; i < na; i++)
            if (a[i].val && strcmp(a[i].key, "root")) {
                sweep = &a[i];
                sweep_bind = 0;
                nv = 1;
                vals[0] = o.bind_value[0];
                break;
            }
    }
    bs_id root;
    if (pick_root(s, st, root_arg, &root)) return -1;
    int32_t len = bs_tape_len(s->ctx);
    bool *want = calloc((size_t)len + 1, 1);
    mem_entry *ent = calloc((size_t)len * BS_MAX_SAVED + 1, sizeof *ent);
    bs_shape *sh = malloc(((size_t)len + 1) * sizeof *sh);
    size_t *bytes = calloc((size_t)(len * BS_MAX_SAVED + 1) * MEM_MAX_VALUES, sizeof *bytes);
    if (!want || !ent || !sh || !bytes) {
        free(want);
        free(ent);
        free(sh);
        free(bytes);
        return bs_fail(s, st->line, st->col, "out of memory");
    }
    int ne = 0;
    bs_tape_walk(s->ctx, root, 0, want);
    for (bs_id i = 0; i <= root; i++) { /* the saved storages, each once, in tape order */
        bs_saved_tensor sv[BS_MAX_SAVED];
        int k = want[i] && !bs_node_freed(s->ctx, i) ? bs_node_saved(s->ctx, i, sv) : 0;
        for (int j = 0; j < k; j++) {
            bool dup = sv[j].recomputed; /* inside a checkpoint: not kept */
            for (int q = 0; q < ne && !dup; q++) dup = ent[q].tensor == sv[j].tensor && ent[q].slot == sv[j].slot;
            if (dup) continue;
            const bs_node *t = bs_node_get(s->ctx, sv[j].tensor);
            ent[ne++] = (mem_entry){sv[j].tensor, sv[j].slot, i, sv[j].role, sv[j].slot < 0 && t->is_number};
        }
    }
    FILE *f = s->out;
    char sizes[160], err[512];
    double xs[MEM_MAX_VALUES], ys[MEM_MAX_VALUES];
    int rc = 0;
    fprintf(f, "%-8s %16s  %s\n", sweep->key, "saved bytes", "sizes");
    for (int v = 0; v < nv; v++) {
        o.bind_value[sweep_bind] = vals[v];
        if (bs_plan_shapes(s->ctx, root, &o, sh, sizes, sizeof sizes, err, sizeof err)) {
            rc = bs_fail(s, sweep->w->line, sweep->w->col, ":mem: %s", err);
            goto done;
        }
        size_t total = 0;
        for (int q = 0; q < ne; q++) total += bytes[q * MEM_MAX_VALUES + v] = mem_entry_bytes(s, &ent[q], sh);
        xs[v] = (double)vals[v];
        ys[v] = (double)total;
        fprintf(f, "%-8lld %16zu  %s\n", (long long)vals[v], total, sizes);
    }
    fprintf(f, "saved for backward by %d tensor%s of %s's graph, each counted once, as :mem counts them\n", ne,
            ne == 1 ? "" : "s", bs_node_get(s->ctx, root)->label ? bs_node_get(s->ctx, root)->label : "the root");
    if (nv >= 3) { /* least squares: bytes = c0 + c1 x + c2 x^2 */
        double A[3][3] = {{0}}, b[3] = {0}, c[3];
        for (int v = 0; v < nv; v++) {
            double p[3] = {1, xs[v], xs[v] * xs[v]};
            for (int r = 0; r < 3; r++) {
                b[r] += p[r] * ys[v];
                for (int k = 0; k < 3; k++) A[r][k] += p[r] * p[k];
            }
        }
        if (solve3(A, b, c)) {
            for (int k = 0; k < 3; k++) /* a coefficient that is rounding noise prints as 0 */
                if (fabs(c[k]) * pow(xs[nv - 1], k) < 1e-9 * fmax(1.0, ys[nv - 1])) c[k] = 0;
            double worst = 0;
            for (int v = 0; v < nv; v++)
                worst = fmax(worst, fabs(c[0] + c[1] * xs[v] + c[2] * xs[v] * xs[v] - ys[v]));
            fprintf(f, "fit: bytes = %.6g + %.6g*%s + %.6g*%s^2 (largest residual %.3g bytes)\n", c[0], c[1],
                    sweep->key, c[2], sweep->key, worst);
            double last = xs[nv - 1] * xs[nv - 1] * c[2];
            fprintf(f, "the %s^2 term at %s=%lld: %.0f bytes, %.1f%% of the total\n", sweep->key, sweep->key,
                    (long long)vals[nv - 1], last, ys[nv - 1] > 0 ? 100.0 * last / ys[nv - 1] : 0.0);
        }
        /* the tensors that grow as x^2: bytes(x_last) / bytes(x_first) = (x_last / x_first)^2 */
        double r2 = (xs[nv - 1] / xs[0]) * (xs[nv - 1] / xs[0]);
        for (int q = 0; q < ne; q++) {
            double b0 = (double)bytes[q * MEM_MAX_VALUES], b1 = (double)bytes[q * MEM_MAX_VALUES + nv - 1];
            if (b0 <= 0 || fabs(b1 / b0 - r2) > 1e-9 * r2) continue;
            char nm[64], on[64];
            bs_node_name(s->ctx, ent[q].tensor, nm, sizeof nm);
            bs_node_name(s->ctx, ent[q].node, on, sizeof on);
            fprintf(f, "  %s^2: %-26s %-14s kept by %s as %s%s, %zu bytes at %s=%lld\n", sweep->key, nm,
                    bs_ops[bs_node_get(s->ctx, ent[q].node)->op].name, on, ent[q].role,
                    ent[q].slot >= 0 ? " (a buffer)" : "", bytes[q * MEM_MAX_VALUES + nv - 1], sweep->key,
                    (long long)vals[nv - 1]);
        }
    }
done:
    free(want);
    free(ent);
    free(sh);
    free(bytes);
    return rc;
}

/* ==== The set ==== */

static const bs_command run_cmds[] = {
    {"run", bs_cmd_run, "run cpu|gpu [DIM=n ...] [dtype=] [steps=k] [lr=x] [root=NAME] [--check]", "replay the graph at real sizes on a backend"},
    {"train", bs_cmd_train, "train NAME steps=k [lr=x] [opt=sgd|adam] [momentum=m] [on=tape|cpu|gpu] [dtype=D] [scale=S|dynamic]",
     "replay forward, backward and an optimizer step k times; plot the loss. dtype=: on a backend in that "
     "dtype; scale=: loss scaling on the tape, fixed or dynamic as GradScaler"},
    {NULL, NULL, NULL, NULL},
};

const bs_command_set bs_run_commands = {.title = "Replay at real sizes", .cmds = run_cmds};
