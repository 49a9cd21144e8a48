/* core/tape.c: the context, the tape of nodes, leaves and constructors, bs_apply, size variables,
 * the random number generator. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core_int.h"
#ifdef MAP_NORESERVE
#define BS_MAP_NORESERVE MAP_NORESERVE
#else
#define BS_MAP_NORESERVE 0
#endif
#include "ew_math.h"
#include "ew_scalar.h"
#include "ops_int.h"

/* ==== Errors ==== */

bs_status bs__err(bs_ctx *c, bs_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->code = code;
    return code;
}

const char *bs_errmsg(const bs_ctx *c) { return c->err; }
bs_status bs_errcode(const bs_ctx *c) { return c->code; }
void bs_ctx_interrupt(bs_ctx *c) { c->interrupted = 1; }
void bs_ctx_clear_interrupt(bs_ctx *c) { c->interrupted = 0; }

/* ==== Context ==== */

static size_t phys_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0) return (size_t)1 << 34;
    return (size_t)pages * (size_t)psz;
}

size_t bs_mem_limit_default(void) { return phys_bytes() / 2; }

void bs__prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    static size_t page;
    if (!page) page = (size_t)sysconf(_SC_PAGESIZE);
    if (bytes < ((size_t)16 << 10) || !page) return;
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + bytes) & ~(uintptr_t)(page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_POPULATE_WRITE);
#else
    (void)p, (void)bytes;
#endif
}

void bs_ctx_set_mem_limit(bs_ctx *c, size_t bytes) { c->limit = bytes ? bytes : bs_mem_limit_default(); }
size_t bs_ctx_mem_limit(const bs_ctx *c) { return c->limit; }

bs_ctx *bs_ctx_new(void)
{
    bs_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->dtype = BS_F64;
    c->limit = bs_mem_limit_default();
    bs_ctx_seed(c, 0);
    return c;
}

/* bs_ctx.slot's bytes for a reservation of n nodes */
static size_t slot_bytes(int64_t n) { return (size_t)n * sizeof(int32_t); }

static void free_node_data(bs_ctx *c, bs_node *n)
{
    /* a scalar's value and grad are inline: nothing to count or free (scalar graphs) */
    bool vh = n->value.data != &n->sval, gh = n->grad.data && n->grad.data != &n->sgrad;
    if (vh || gh) {
        int64_t numel = bs_shape_numel(&n->value.shape);
        if (vh) bs__data_free(c, n->value.data, numel, &n->sval);
        if (gh) bs__data_free(c, n->grad.data, numel, &n->sgrad);
    }
    if (n->label) free(n->label);
    if (n->text && !BK(n)->text_borrowed) free(n->text);
}

void bs__opt_free(bs_opt *o)
{
    for (int32_t i = 0; i < o->cap; i++) {
        free(o->m[i]);
        free(o->v[i]);
    }
    free(o->m);
    free(o->only);
    free(o->v);
    free(o);
}

static void free_opts(bs_ctx *c)
{
    for (bs_opt *o = c->opts, *next; o; o = next) {
        next = o->next;
        bs__opt_free(o);
    }
    c->opts = NULL;
}

void bs_ctx_reset(bs_ctx *c)
{
    for (int32_t i = 0; i < c->len; i++) { /* a compact record holds nothing of its own */
        bs_node *n = bs__full(c, i);
        if (n) free_node_data(c, n);
    }
    if (c->rec) munmap(c->rec, (size_t)c->reserved * sizeof(bs__rec));
    if (c->slot) munmap(c->slot, slot_bytes(c->reserved));
    c->slot = NULL;
    if (c->hot) munmap(c->hot, (size_t)c->reserved * sizeof(bs__hot));
    c->rec = NULL;
    c->hot = NULL;
    c->reserved = 0;
    c->len = c->nrec = c->ncompact = 0;
    c->hot_cap = c->rec_cap = 0;
    c->hot_have = c->rec_have = c->rec_made = 0;
    c->ndim = 0;
    c->bytes = 0;
    c->no_grad = false;
    free_opts(c);
    for (int32_t i = 0; i < c->nnames; i++) free(c->names[i]);
    free(c->names);
    free(c->scope_name);
    free(c->scope_parent);
    free(c->scope_ckpt);
    c->names = NULL;
    c->scope_name = NULL;
    c->scope_parent = NULL;
    c->scope_ckpt = NULL;
    c->nnames = c->capnames = c->nscope = c->capscope = c->cur_scope = 0;
    c->nckpt = 0;
    bs__txn_reset(c); /* a :reset inside a statement: nothing before it is left to restore */
}

void bs_ctx_free(bs_ctx *c)
{
    if (!c) return;
    bs_ctx_reset(c);
    bs__txn_free(c);
    free(c->sp_g);
    free(c->sp_step);
    free(c->sp_leaf);
    free(c);
}

/* ==== Scopes ==== */

static const char *intern(bs_ctx *c, const char *name)
{
    for (int32_t i = c->nnames - 1; i >= 0 && i >= c->nnames - 64; i--) /* recent names: a loop */
        if (!strcmp(c->names[i], name)) return c->names[i];
    for (int32_t i = 0; i < c->nnames - 64; i++)
        if (!strcmp(c->names[i], name)) return c->names[i];
    if (c->nnames == c->capnames) {
        int32_t nc = c->capnames ? c->capnames * 2 : 16;
        char **nn = realloc(c->names, (size_t)nc * sizeof *nn);
        if (!nn) return NULL;
        c->names = nn;
        c->capnames = nc;
    }
    char *d = strdup(name);
    if (!d) return NULL;
    c->names[c->nnames++] = d;
    return d;
}

int32_t bs_scope_enter(bs_ctx *c, const char *name)
{
    if (c->nscope == c->capscope) {
        int32_t nc = c->capscope ? c->capscope * 2 : 64;
        const char **nn = realloc(c->scope_name, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        c->scope_name = nn;
        int32_t *np = realloc(c->scope_parent, (size_t)nc * sizeof *np);
        if (!np) return -1;
        c->scope_parent = np;
        int32_t *nk = realloc(c->scope_ckpt, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        c->scope_ckpt = nk;
        c->capscope = nc;
    }
    const char *in = intern(c, name ? name : "");
    if (!in) return -1;
    c->scope_name[c->nscope] = in;
    c->scope_parent[c->nscope] = c->cur_scope;
    /* inside a checkpoint, a call's nodes are the checkpoint's (the outermost one) */
    c->scope_ckpt[c->nscope] = c->cur_scope ? c->scope_ckpt[c->cur_scope - 1] : 0;
    int32_t prev = c->cur_scope;
    c->cur_scope = ++c->nscope;
    return prev;
}

void bs_scope_leave(bs_ctx *c, int32_t prev)
{
    if (prev >= 0 && prev <= c->nscope) c->cur_scope = prev;
}

const char *bs_scope_name(const bs_ctx *c, int32_t scope)
{
    return scope >= 1 && scope <= c->nscope ? c->scope_name[scope - 1] : NULL;
}

int32_t bs_scope_parent(const bs_ctx *c, int32_t scope)
{
    return scope >= 1 && scope <= c->nscope ? c->scope_parent[scope - 1] : 0;
}

int32_t bs_scope_count(const bs_ctx *c) { return c->nscope; }

void bs_ctx_set_dtype(bs_ctx *c, bs_dtype t) { c->dtype = t; }
bs_dtype bs_ctx_dtype(const bs_ctx *c) { return c->dtype; }
void bs_ctx_set_no_grad(bs_ctx *c, bool on) { c->no_grad = on; }
bool bs_ctx_no_grad(const bs_ctx *c) { return c->no_grad; }
size_t bs_ctx_bytes(const bs_ctx *c) { return c->bytes; }

/* ==== Storage ==== */

static bs_status size_fail(bs_ctx *c, const bs_shape *s, double bytes, bool total)
{
    char sb[96], nb[32], lb[32], hb[32];
    bs_shape_str(s, sb, sizeof sb);
    bs_bytes_str(bytes, nb, sizeof nb);
    bs_bytes_str((double)c->limit, lb, sizeof lb);
    if (!total)
        return bs__err(c, BS_ERR_NOMEM,
                       "not enough memory: a tensor of shape %s needs %s; the limit is %s "
                       "(BACKSTEP_MEM_LIMIT or --mem-limit sets it)", sb, nb, lb);
    bs_bytes_str((double)c->bytes, hb, sizeof hb);
    return bs__err(c, BS_ERR_NOMEM,
                   "not enough memory: a tensor of shape %s needs %s and the session already holds "
                   "%s; the limit is %s (BACKSTEP_MEM_LIMIT or --mem-limit sets it; :reset frees "
                   "the session)", sb, nb, hb, lb);
}

/* one tensor of shape s against the limit (replay plans check their own buffers this way) */
bs_status bs__check_size(bs_ctx *c, const bs_shape *s)
{
    double n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0)
            return bs__err(c, BS_ERR_VALUE, "negative dimension %lld", (long long)s->d[i]);
        n *= (double)s->d[i];
    }
    double bytes = n * sizeof(double);
    if (bytes > (double)c->limit) return size_fail(c, s, bytes, false);
    return BS_OK;
}

/* a new tensor of the session: itself and the running total of what the session holds */
static bs_status check_room(bs_ctx *c, const bs_shape *s)
{
    if (bs__check_size(c, s)) return c->code;
    double bytes = (double)bs_shape_numel(s) * sizeof(double);
    if (bytes + (double)c->bytes > (double)c->limit) return size_fail(c, s, bytes, true);
    return BS_OK;
}

double *bs__data_alloc(bs_ctx *c, int64_t n, double *inl)
{
    if (n == 1 && inl) {
        *inl = 0;
        return inl;
    }
    double *p = calloc(n ? (size_t)n : 1, sizeof(double));
    if (p) c->bytes += (size_t)n * sizeof(double);
    return p;
}

void bs__data_free(bs_ctx *c, double *p, int64_t n, double *inl)
{
    if (!p || p == inl) return;
    c->bytes -= (size_t)n * sizeof(double);
    free(p);
}

void bs__round_tensor(bs_tensor *t)
{
    if (t->dtype == BS_F64 || t->dtype == BS_I64 || !t->data) return;
    int64_t n = bs_shape_numel(&t->shape);
    for (int64_t i = 0; i < n; i++) t->data[i] = bs_dtype_round(t->dtype, t->data[i]);
}

/* ==== Nodes ==== */

/* what node_new starts a record from: zeros but for these */
static const bs__rec rec_new = {
    .n = {.op = BS_OP_LEAF, .in = {BS_NONE, BS_NONE, BS_NONE}, .init_src = BS_NONE,
          .sym = {-1, -1, -1, -1}},
};
/* a full record without `cold` (bs__rec): a fresh one, with the attributes of apply_scalar's nodes
   (only k and k2 are read: zero here) */
static const bs__rec rec_free = {
    .n = {.op = BS_OP_LEAF, .in = {BS_NONE, BS_NONE, BS_NONE}, .init_src = BS_NONE,
          .sym = {-1, -1, -1, -1}, .attr = {.dim = BS_DIM_ALL}},
};

int32_t bs_tape_len(const bs_ctx *c) { return c->len; }

/* whether rec[k] is a node's record (the others are holes: bs_ctx.rec) */
static inline bool rec_live(const bs_ctx *c, int32_t k)
{
    bs_id id = c->rec[k].n.id;
    return id >= 0 && id < c->len && c->slot[id] == k;
}

/* the dead records at the end of rec given back (a truncated statement's, as a rule all of them) */
static void recs_pop(bs_ctx *c)
{
    while (c->nrec > 0 && !rec_live(c, c->nrec - 1)) c->nrec--;
}

void bs_tape_truncate(bs_ctx *c, int32_t len)
{
    if (len < 0) len = 0;
    while (c->len > len) {
        int32_t i = --c->len;
        /* a compact record (bs__hot) holds nothing of its own; a full one without `cold` nothing
           outside the hot part (bs__rec) */
        int32_t k = c->slot[i];
        if (k < 0) c->ncompact--;
        else if (c->rec[k].b.cold) free_node_data(c, &c->rec[k].n);
    }
    recs_pop(c);
}

/* ==== The tape's memory ====
 * hot and rec are each one reservation of address space, made at the first node (as much of
 * 2^26 entries as the system grants), so entries never move but in bs_tape_collect. Each is
 * made usable (mprotect) from its start as needed: a first unit of 256 KiB in 4 KiB pages, which
 * ends on a 2 MiB boundary, then 2 MiB at a time as transparent huge pages (MADV_HUGEPAGE, where
 * the kernel offers them). And the pages are made before they are written, a unit at a time, in
 * one system call each (bs__prefault): every node writes its line of hot, so hot's as it grows;
 * rec keeps room for every compact node to be filled in, far more than is written, so its as
 * records are taken. A page first written costs a fault otherwise, and on a virtual machine with
 * shadow page tables a 4 KiB page costs some microseconds more the first time it is touched (a
 * huge page, once): 65k scalar nodes were 9,000 faults, most of a 130 ms script. A small session
 * (4,096 nodes: one unit) costs what it did. */
#define TAPE_UNIT ((size_t)256 << 10)
#define TAPE_HUGE ((size_t)2 << 20)

static size_t tape_unit(size_t at) { return at < TAPE_UNIT ? TAPE_UNIT : TAPE_HUGE; }

/* `bytes` of address space, none of it usable yet, its first unit ending on a 2 MiB boundary;
   NULL where refused */
static void *tape_reserve(size_t bytes)
{
    size_t len = bytes + TAPE_HUGE;
    char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | BS_MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)p + TAPE_UNIT + TAPE_HUGE - 1) & ~(uintptr_t)(TAPE_HUGE - 1)) - TAPE_UNIT;
    if (a > p) munmap(p, (size_t)(a - p));
    if (p + len > a + bytes) munmap(a + bytes, (size_t)(p + len - (a + bytes)));
#ifdef MADV_HUGEPAGE
    if (bytes > TAPE_UNIT) madvise(a + TAPE_UNIT, bytes - TAPE_UNIT, MADV_HUGEPAGE); /* a hint */
#endif
    return a;
}

/* the first `need` bytes of a reservation of cap usable, *have of them being so (whole units) */
static bool tape_commit(void *base, size_t *have, size_t need, size_t cap, bool prefault)
{
    while (*have < need) {
        size_t step = tape_unit(*have);
        if (step > cap - *have) step = cap - *have;
        if (!step || mprotect((char *)base + *have, step, PROT_READ | PROT_WRITE)) return false;
        if (prefault) bs__prefault((char *)base + *have, step);
        *have += step;
    }
    return true;
}

/* the reverse: past `keep` bytes (rounded up to its unit), the pages back to the system and the
   addresses kept */
static void tape_uncommit(void *base, size_t *have, size_t keep)
{
    size_t k = keep <= TAPE_UNIT ? TAPE_UNIT : TAPE_UNIT + (keep - TAPE_UNIT + TAPE_HUGE - 1) / TAPE_HUGE * TAPE_HUGE;
    if (k >= *have) return;
    madvise((char *)base + k, *have - k, MADV_DONTNEED);
    mprotect((char *)base + k, *have - k, PROT_NONE);
    *have = k;
}

/* room for node c->len in hot (and slot): the reservations made at the first node */
static bool node_room(bs_ctx *c)
{
    int32_t id = c->len;
    if (id < c->hot_cap) return true;
    if (!c->rec) {
        for (int64_t n = (int64_t)1 << BS_MAX_NODES_LOG2; n >= 4096 && !c->rec; n /= 2) {
            void *p = tape_reserve((size_t)n * sizeof(bs__rec));
            if (!p) continue;
            void *h = tape_reserve((size_t)n * sizeof(bs__hot));
            void *f = mmap(NULL, slot_bytes(n), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | BS_MAP_NORESERVE, -1, 0);
            if (!h || f == MAP_FAILED) {
                munmap(p, (size_t)n * sizeof(bs__rec));
                if (h) munmap(h, (size_t)n * sizeof(bs__hot));
                if (f != MAP_FAILED) munmap(f, slot_bytes(n));
                continue;
            }
            c->rec = p;
            c->hot = h;
            c->slot = f;
            c->reserved = n;
        }
        if (!c->rec) return false;
    }
    if (!tape_commit(c->hot, &c->hot_have, (size_t)(id + 1) * sizeof(bs__hot),
                     (size_t)c->reserved * sizeof(bs__hot), true))
        return false;
    int64_t was = c->hot_cap;
    c->hot_cap = (int64_t)(c->hot_have / sizeof(bs__hot));
    bs__prefault(c->slot + was, (size_t)(c->hot_cap - was) * sizeof *c->slot); /* written with hot */
    return true;
}

/* rec usable for `need` records (bs_ctx.ncompact): false when the system refuses */
static bool rec_room(bs_ctx *c, int64_t need)
{
    if (!tape_commit(c->rec, &c->rec_have, (size_t)need * sizeof(bs__rec),
                     (size_t)c->reserved * sizeof(bs__rec), false))
        return false;
    c->rec_cap = (int64_t)(c->rec_have / sizeof(bs__rec));
    return true;
}

/* record k about to be written: its unit's pages made first, if they are not yet */
static inline void rec_taken(bs_ctx *c, int32_t k)
{
    size_t end = (size_t)(k + 1) * sizeof(bs__rec);
    while (c->rec_made < end && c->rec_made < c->rec_have) {
        size_t step = tape_unit(c->rec_made);
        if (step > c->rec_have - c->rec_made) step = c->rec_have - c->rec_made;
        bs__prefault((char *)c->rec + c->rec_made, step);
        c->rec_made += step;
    }
}

/* ==== Reclaiming ====
 * Mark what keep[] reaches (inputs, and the expression a param was copied from, which replay
 * re-runs at new sizes; a detached copy does not hold its source), then slide the survivors down
 * in their old order, so ids stay topological. Inline scalars move with their node. */
static void node_move(bs_ctx *c, bs_node *to, bs_node *from)
{
    (void)c;
    *bs__rec_of(to) = *bs__rec_of(from); /* the node and its bookkeeping */
    if (from->value.data == &from->sval) to->value.data = &to->sval;
    if (from->grad.data == &from->sgrad) to->grad.data = &to->sgrad;
    PS(to)->gtmp = NULL;
}

int32_t bs_tape_collect(bs_ctx *c, bs_id *const *keep, int nkeep)
{
    if (c->live || c->txn.on) {
        bs__err(c, BS_ERR_STATE, "the tape cannot be compacted during a statement or a stepped pass");
        return -1;
    }
    int32_t len = c->len;
    if (!len) return 0;
    bs_id *remap = malloc((size_t)len * sizeof *remap);
    if (!remap) {
        bs__err(c, BS_ERR_NOMEM, "out of memory");
        return -1;
    }
    memset(remap, 0xff, (size_t)len * sizeof *remap); /* every entry BS_NONE (-1) */
    for (int k = 0; k < nkeep; k++) {
        bs_id id = keep[k] ? *keep[k] : BS_NONE;
        if (id >= 0 && id < len) remap[id] = 0;
    }
    /* one sweep from the end: a node's inputs always come before it */
    for (int32_t i = len - 1; i >= 0; i--) {
        if (remap[i] == BS_NONE) continue;
        if (!bs__is_full(c, i)) { /* a compact record: its inputs only */
            const bs__hot *h = &c->hot[i];
            remap[h->in[0]] = 0;
            if (h->in[1] >= 0) remap[h->in[1]] = 0;
            continue;
        }
        const bs_node *n = &bs__rec_at(c, i)->n;
        for (int k = 0; k < n->nin; k++) remap[n->in[k]] = 0;
        if (n->init == BS_INIT_COPY && n->init_src >= 0 && n->requires_grad) remap[n->init_src] = 0;
    }
    /* the full records slide down over the dead ones and the holes, in their order (so in place) */
    int32_t j = 0;
    for (int32_t k = 0; k < c->nrec; k++) {
        if (!rec_live(c, k)) continue;
        bs_node *n = &c->rec[k].n;
        if (remap[n->id] == BS_NONE) {
            free_node_data(c, n);
            continue;
        }
        c->slot[n->id] = j;
        if (j != k) node_move(c, &c->rec[j].n, n);
        j++;
    }
    c->nrec = j;
    /* then the nodes, renumbered densely in their order */
    int32_t next = 0, ncompact = 0;
    for (int32_t i = 0; i < len; i++) {
        if (remap[i] == BS_NONE) continue;
        remap[i] = next;
        int32_t k = c->slot[i];
        c->slot[next] = k; /* next <= i: slot[i] is read before it is written over */
        if (k < 0) { /* a compact record moves alone */
            bs__hot *t = &c->hot[next];
            *t = c->hot[i];
            t->in[0] = remap[t->in[0]];
            if (t->in[1] >= 0) t->in[1] = remap[t->in[1]];
            ncompact++;
            next++;
            continue;
        }
        bs_node *to = &c->rec[k].n;
        to->id = next;
        for (int q = 0; q < to->nin; q++) to->in[q] = remap[to->in[q]];
        if (to->init_src >= 0) to->init_src = remap[to->init_src]; /* BS_NONE: source reclaimed */
        next++;
    }
    c->ncompact = ncompact;
    bs__opt_remap(c, remap, len, next);
    for (int k = 0; k < nkeep; k++)
        if (keep[k] && *keep[k] >= 0 && *keep[k] < len) *keep[k] = remap[*keep[k]];
    free(remap);
    c->len = next;
    /* what is past the end given back, a unit spare (so a loop does not allocate every time) */
    if (c->rec) {
        tape_uncommit(c->hot, &c->hot_have, (size_t)next * sizeof(bs__hot) + TAPE_UNIT);
        c->hot_cap = (int64_t)(c->hot_have / sizeof(bs__hot));
        tape_uncommit(c->rec, &c->rec_have, (size_t)(c->nrec + c->ncompact) * sizeof(bs__rec) + TAPE_UNIT);
        c->rec_cap = (int64_t)(c->rec_have / sizeof(bs__rec));
        if (c->rec_made > c->rec_have) c->rec_made = c->rec_have;
    }
    return len - next;
}

bs_node *bs_node_at(bs_ctx *c, bs_id id)
{
    return (id >= 0 && id < c->len) ? bs__node(c, id) : NULL; /* filled in if compact */
}

const bs_node *bs_node_get(const bs_ctx *c, bs_id id)
{
    return (id >= 0 && id < c->len) ? bs__node(c, id) : NULL;
}

void bs_node_set_label(bs_ctx *c, bs_id id, const char *label)
{
    bs_node *n = bs_node_at(c, id);
    if (!n) return;
    BK(n)->cold = true;
    free(n->label);
    n->label = label ? strdup(label) : NULL;
}

void bs_node_set_text(bs_ctx *c, bs_id id, const char *text)
{
    bs_node *n = bs_node_at(c, id);
    if (!n) return;
    BK(n)->cold = true;
    if (!BK(n)->text_borrowed) free(n->text);
    n->text = text ? strdup(text) : NULL;
    BK(n)->text_borrowed = false;
}

void bs_node_borrow_text(bs_ctx *c, bs_id id, const char *text)
{
    if (id >= 0 && id < c->len && !bs__is_full(c, id)) { /* kept compact */
        c->hot[id].text = text;
        return;
    }
    bs_node *n = bs_node_at(c, id);
    if (!n) return;
    BK(n)->cold = true;
    if (!BK(n)->text_borrowed) free(n->text);
    n->text = (char *)text;
    BK(n)->text_borrowed = text != NULL;
}

const char *bs_node_text(const bs_ctx *c, bs_id id)
{
    if (id < 0 || id >= c->len) return NULL;
    const bs_node *n = bs__full(c, id);
    return n ? n->text : c->hot[id].text;
}

const char *bs_node_grad_fn(const bs_ctx *c, bs_id id)
{
    const bs_node *n = bs_node_get(c, id);
    if (!n || n->op == BS_OP_LEAF || (int)n->op < 0 || n->op >= BS_OP_COUNT) return NULL;
    if (n->is_cast) return "ToCopyBackward0";
    const bs_node *loss = n->loss_sum && n->nin > 0 ? bs_node_get(c, n->in[0]) : NULL;
    return bs_ops[loss ? loss->op : n->op].grad_fn;
}

void bs_node_mark_loss_sum(bs_ctx *c, bs_id id)
{
    bs_node *n = bs_node_at(c, id);
    if (n && n->op == BS_OP_MUL) n->loss_sum = true;
}

/* ==== Walking back from a root ==== */

int32_t bs_tape_walk(const bs_ctx *c, bs_id root, unsigned flags, bool *on)
{
    if (root < 0 || root >= c->len) return 0;
    int32_t count = 0;
    on[root] = true;
    for (bs_id i = root; i >= 0; i--) { /* ids are topological: users come after their inputs */
        if (!on[i]) continue;
        count++;
        const bs_node *n = bs__node(c, i);
        if (n->op == BS_OP_LEAF || ((flags & BS_WALK_GRAD) && (n->is_leaf || !n->requires_grad)))
            continue;
        for (int k = 0; k < n->nin; k++) {
            if ((flags & BS_WALK_GRAD) &&
                (!bs__node(c, n->in[k])->requires_grad || !bs_ops[n->op].deriv[k]))
                continue;
            on[n->in[k]] = true;
        }
    }
    return count;
}

/* ==== Changing a node: the operations the REPL has ==== */

bool bs_node_freed(const bs_ctx *c, bs_id id)
{
    const bs_node *n = bs_node_get(c, id);
    return n && BK(n)->freed;
}

bs_status bs_node_set_requires_grad(bs_ctx *c, bs_id id, bool on)
{
    bs_node *n = bs_node_at(c, id);
    if (!n) return bs__err(c, BS_ERR_ARG, "no such node");
    if (on && n->value.dtype == BS_I64)
        return bs__err(c, BS_ERR_ARG, "only tensors of floating point dtype can require gradients");
    if (!n->is_leaf)
        return bs__err(c, BS_ERR_ARG, "you can only change requires_grad flags of leaf variables");
    bs__txn_node(c, n);
    n->requires_grad = n->is_param = on;
    return BS_OK;
}

void bs_node_mark_bool(bs_ctx *c, bs_id id)
{
    bs_node *n = bs_node_at(c, id);
    if (!n || n->value.dtype != BS_I64) return;
    int64_t m = bs_tensor_numel(&n->value);
    for (int64_t i = 0; i < m; i++) n->value.data[i] = n->value.data[i] != 0;
    n->is_bool = true;
}

bs_status bs_leaf_convert(bs_ctx *c, bs_id id, bs_dtype t)
{
    bs_node *n = bs_node_at(c, id);
    if (!n || n->op != BS_OP_LEAF) return bs__err(c, BS_ERR_ARG, "not a leaf");
    if (t == BS_I64 && n->requires_grad)
        return bs__err(c, BS_ERR_ARG, "only tensors of floating point dtype can require gradients");
    bs__txn_node(c, n);
    n->value.dtype = n->grad.dtype = t;
    bs__round_tensor(&n->value);
    if (n->grad.data) bs__round_tensor(&n->grad);
    return BS_OK;
}

void bs_node_rebind(bs_ctx *c, bs_id old, bs_id id, const char *name)
{
    bs_node *o = bs_node_at(c, old);
    if (o && o->label && !strcmp(o->label, name)) {
        BK(o)->cold = true;
        o->rebound++;
    }
    bs_node *n = bs_node_at(c, id);
    if (n && (!n->label || n->rebound)) {
        bs_node_set_label(c, id, name);
        n->rebound = 0;
    }
}

void bs_leaf_set_init(bs_ctx *c, bs_id id, bs_init_kind kind, double arg0, double arg1,
                      const int8_t *sym, int hi_sym)
{
    bs_node *n = bs_node_at(c, id);
    if (!n || n->op != BS_OP_LEAF) return;
    BK(n)->cold = true;
    n->init = kind;
    n->init_arg[0] = arg0;
    n->init_arg[1] = arg1;
    if (sym) memcpy(n->sym, sym, sizeof n->sym);
    n->hi_sym1 = (int8_t)(hi_sym >= 0 ? hi_sym + 1 : 0);
}

bs_status bs_tape_refresh(bs_ctx *c, bs_id upto)
{
    bs_status st = bs_recompute(c, upto);
    if (st) return st;
    for (bs_id i = 0; i <= upto && i < c->len; i++) {
        bs_node *n = bs__node(c, i);
        if (n->op == BS_OP_LEAF || !n->requires_grad) continue;
        BK(n)->freed = false;
        for (int k = 0; k < n->nin; k++) BK(n)->in_version[k] = bs__node(c, n->in[k])->version;
    }
    return BS_OK;
}

/* how much of a long expression text names its node: BS_NAME_TEXT - 3 bytes ("..." follows), back
   to the last space of its second half */
static int name_cut(const char *text)
{
    int cut = BS_NAME_TEXT - 3;
    for (int i = cut; i > cut / 2; i--)
        if (text[i] == ' ') {
            while (i > 0 && text[i - 1] == ' ') i--;
            return i;
        }
    return cut;
}

/* a module call's scope with the modules it sits in: "model.0 (Linear)" for scope "0 (Linear)"
   inside "model (Sequential)"; a function's scope ("neuron()") as it is */
static const char *scope_path(const bs_ctx *c, int32_t scope, char *buf, size_t len)
{
    const char *own = bs_scope_name(c, scope);
    const char *kind = strstr(own, " (");
    if (!kind) return own;
    char path[160] = "";
    for (int32_t up = bs_scope_parent(c, scope), depth = 0; up > 0 && depth < 8;
         up = bs_scope_parent(c, up), depth++) {
        const char *name = bs_scope_name(c, up), *cut = name ? strstr(name, " (") : NULL;
        if (!cut) break; /* a function call: the path is the modules inside it */
        char tmp[160];
        snprintf(tmp, sizeof tmp, "%.*s.%s", (int)(cut - name), name, path);
        snprintf(path, sizeof path, "%s", tmp);
    }
    snprintf(buf, len, "%s%s", path, own);
    return buf;
}

/* buf = a then b, cut to len as snprintf cuts (the common names, without the format machinery:
   :mem names a node per row of the tape) */
static void name_copy(char *buf, size_t len, const char *a, const char *b)
{
    size_t at = 0;
    for (const char *p = a; *p && at + 1 < len; p++) buf[at++] = *p;
    for (const char *p = b; *p && at + 1 < len; p++) buf[at++] = *p;
    if (len) buf[at] = 0;
}

const char *bs_node_name(const bs_ctx *c, bs_id id, char *buf, size_t len)
{
    const bs_node *n = bs_node_get(c, id);
    if (!n) {
        snprintf(buf, len, "?");
        return buf;
    }
    if (n->label)
        name_copy(buf, len, n->label, n->rebound ? "'" : "");
    else if (n->text && strlen(n->text) <= BS_NAME_TEXT)
        name_copy(buf, len, n->text, "");
    else if (n->op == BS_OP_LEAF && bs_shape_numel(&n->value.shape) == 1)
        snprintf(buf, len, "%g", n->value.data[0]);
    else if (n->op != BS_OP_LEAF && bs_scope_name(c, n->scope)) {
        char where[160];
        snprintf(buf, len, "%s in %s", bs_ops[n->op].name, scope_path(c, n->scope, where, sizeof where));
    }
    else if (n->text) /* what the user typed, cut at a space where one is near the end */
        snprintf(buf, len, "%.*s...", name_cut(n->text), n->text);
    else if (n->op != BS_OP_LEAF)
        snprintf(buf, len, "%s (node %d)", bs_ops[n->op].name, (int)id);
    else
        snprintf(buf, len, "leaf (node %d)", (int)id);
    return buf;
}

/* a full record for node c->len (not yet counted in len until committed), as `init` has it */
static inline bs_node *full_new(bs_ctx *c, const bs__rec *init)
{
    if (c->len >= c->hot_cap && !node_room(c)) return NULL;
    int32_t id = c->len, k = c->nrec;
    if (k > 0 && c->slot[id] == k - 1 && c->rec[k - 1].n.id == id) {
        k--; /* the record of an attempt at this node that failed: taken again */
    } else if ((int64_t)k + c->ncompact >= c->rec_cap && !rec_room(c, (int64_t)k + c->ncompact + 1)) {
        return NULL;
    }
    rec_taken(c, k);
    c->nrec = k + 1;
    c->slot[id] = k;
    bs__rec *r = &c->rec[k];
    *r = *init;
    r->n.id = id;
    r->n.scope = c->cur_scope;
    return &r->n;
}

/* a fresh node at the end of the tape; cold: whoever makes it may write any of it */
static bs_node *node_new(bs_ctx *c)
{
    bs_node *n = full_new(c, &rec_new);
    if (n) BK(n)->cold = true;
    return n;
}

/* the same for apply_scalar's nodes, whose record starts as rec_free (not cold) */
static inline bs_node *node_new_hot(bs_ctx *c) { return full_new(c, &rec_free); }

static bs_id node_commit(bs_ctx *c, bs_node *n)
{
    c->len++;
    return n->id;
}

/* allocate the value of node n with shape s and dtype t */
static bs_status node_value(bs_ctx *c, bs_node *n, const bs_shape *s, bs_dtype t)
{
    if (check_room(c, s)) return c->code;
    n->value.shape = *s;
    n->value.dtype = t;
    n->grad.shape = *s;
    n->grad.dtype = t;
    n->grad.data = NULL;
    n->value.data = bs__data_alloc(c, bs_shape_numel(s), &n->sval);
    if (!n->value.data) {
        char sb[96];
        return bs__err(c, BS_ERR_NOMEM, "not enough memory for a tensor of shape %s",
                       bs_shape_str(s, sb, sizeof sb));
    }
    return BS_OK;
}

void bs__inputs(const bs_ctx *c, const bs_node *n, bs_tensor *in)
{
    for (int i = 0; i < n->nin; i++) in[i] = bs__node(c, n->in[i])->value;
}

/* ==== Saved tensors ==== */

/* The node whose storage n's value is, following PyTorch's views: x.T, x[i] and x[a:b:s] are
 * always views; reshape is one when PyTorch's computeStride finds strides for the new shape in
 * the old layout (a contiguous tensor, a size-1 dim added or taken away, x[:, 0] to its own
 * shape), and a copy (its own storage) otherwise. The strides of each step are followed exactly
 * (*v: n's sizes and element strides in its storage). Chains deeper than `depth` count as their
 * own storage. */
typedef struct {
    int nd;
    int64_t d[BS_MAX_DIMS], st[BS_MAX_DIMS];
} view_layout;

static bool is_view(const bs_node *n)
{
    return n->op != BS_OP_LEAF && (bs_ops[n->op].flags & BS_F_VIEW);
}

static void layout_contig(const bs_shape *s, view_layout *v)
{
    int64_t st = 1;
    v->nd = s->ndim;
    for (int k = s->ndim - 1; k >= 0; k--) {
        v->d[k] = s->d[k];
        v->st[k] = st;
        st *= s->d[k];
    }
}

/* PyTorch's computeStride (aten/src/ATen/TensorUtils.cpp): the strides that view layout `old` as
 * shape `s` without moving an element, chunk by chunk of dims that are contiguous among
 * themselves; false when there are none (then reshape copies) */
static bool layout_reshape(const view_layout *old, const bs_shape *s, view_layout *v)
{
    int64_t numel = bs_shape_numel(s);
    v->nd = s->ndim;
    for (int k = 0; k < s->ndim; k++) v->d[k] = s->d[k];
    if (old->nd == 0 || numel == 0) {
        layout_contig(s, v);
        return true;
    }
    int view_d = s->ndim - 1;
    int64_t base = old->st[old->nd - 1], tensor_numel = 1, view_numel = 1;
    for (int td = old->nd - 1; td >= 0; td--) {
        tensor_numel *= old->d[td];
        if (td == 0 || (old->d[td - 1] != 1 && old->st[td - 1] != tensor_numel * base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || s->d[view_d] == 1)) {
                v->st[view_d] = view_numel * base;
                view_numel *= s->d[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                base = old->st[td - 1];
                tensor_numel = view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

static bs_id storage_of(const bs_ctx *c, const bs_node *n, int depth, view_layout *v)
{
    layout_contig(&n->value.shape, v);
    if (!is_view(n) || depth <= 0) return n->id;
    const bs_node *x = bs__node(c, n->in[0]);
    view_layout xv;
    bs_id base = storage_of(c, x, depth - 1, &xv);
    int nd = xv.nd, d = nd == 0 ? 0 : (n->attr.dim < 0 ? n->attr.dim + nd : n->attr.dim);
    switch (n->op) {
    case BS_OP_TRANSPOSE: /* the dims reversed */
        for (int k = 0; k < nd; k++) {
            v->d[k] = xv.d[nd - 1 - k];
            v->st[k] = xv.st[nd - 1 - k];
        }
        v->nd = nd;
        return base;
    case BS_OP_PERMUTE: /* dims[k] of the input as dim k */
        for (int k = 0; k < nd && k < n->attr.shape.ndim; k++) {
            int64_t q = n->attr.shape.d[k] < 0 ? n->attr.shape.d[k] + nd : n->attr.shape.d[k];
            v->d[k] = xv.d[q];
            v->st[k] = xv.st[q];
        }
        v->nd = nd;
        return base;
    case BS_OP_SELECT: /* dim d dropped */
        v->nd = 0;
        for (int k = 0; k < nd; k++)
            if (k != d) {
                v->d[v->nd] = xv.d[k];
                v->st[v->nd++] = xv.st[k];
            }
        return base;
    case BS_OP_SLICE: /* dim d shortened, its stride times the step */
        *v = xv;
        if (nd) {
            v->d[d] = n->value.shape.d[d];
            v->st[d] *= n->attr.step;
        }
        return base;
    default: /* reshape */
        if (layout_reshape(&xv, &n->value.shape, v)) return base;
        layout_contig(&n->value.shape, v);
        return n->id;
    }
}

static size_t value_bytes(const bs_node *n)
{
    return (size_t)bs_shape_numel(&n->value.shape) * bs_dtype_size(n->value.dtype);
}

int bs_node_saved(const bs_ctx *c, bs_id id, bs_saved_tensor *out)
{
    const bs_node *n = bs_node_get(c, id);
    if (!n || n->op == BS_OP_LEAF || !n->requires_grad) return 0;
    bs_saved_in in[BS_MAX_INPUTS];
    for (int i = 0; i < n->nin; i++) {
        const bs_node *x = bs__node(c, n->in[i]);
        in[i] = (bs_saved_in){x->value.shape, x->value.dtype, x->requires_grad, x->is_number};
    }
    bs_saved sv[BS_MAX_SAVED];
    int k = bs_ops[n->op].saved(in, &n->value.shape, n->value.dtype, &n->attr, sv);
    for (int j = 0; j < k; j++) {
        bs_saved_tensor *t = &out[j];
        t->role = sv[j].role;
        if (sv[j].kind == BS_SAVE_BUFFER) {
            t->tensor = id;
            t->slot = j;
            t->value = BS_NONE;
            t->bytes = (size_t)bs_shape_numel(&sv[j].shape) * bs_dtype_size(sv[j].dtype);
            t->shape = sv[j].shape;
            t->dtype = sv[j].dtype;
            continue;
        }
        const bs_node *v = sv[j].kind == BS_SAVE_RESULT ? n : bs__node(c, n->in[sv[j].input]);
        t->value = v->id;
        t->slot = -1;
        t->shape = v->value.shape;
        t->dtype = v->value.dtype;
        if (v->is_number) {                  /* wrapped as a 0-d int64 or double tensor */
            t->tensor = v->id;
            t->bytes = 8;
            continue;
        }
        view_layout lay;
        t->tensor = storage_of(c, v, 64, &lay);
        t->bytes = value_bytes(bs__node(c, t->tensor));
    }
    /* inside a checkpoint, what the checkpoint made is not kept: only what it read from outside */
    int32_t ck = c->nckpt ? bs__ckpt_of(c, n) : 0;
    for (int j = 0; j < k; j++) out[j].recomputed = ck && bs__ckpt_of(c, bs__node(c, out[j].tensor)) == ck;
    return k;
}

bool bs__saves_input(const bs_ctx *c, const bs_node *n, int i)
{
    bs_saved_tensor sv[BS_MAX_SAVED];
    int k = bs_node_saved(c, n->id, sv);
    for (int j = 0; j < k; j++)
        if (sv[j].value == n->in[i] || sv[j].slot >= 0) return true;
    return false;
}

/* ==== Leaves ==== */

static bool is_float(bs_dtype t) { return t != BS_I64; }

bs_id bs_leaf(bs_ctx *c, const double *data, const bs_shape *shape, bs_dtype t, bool requires_grad)
{
    if (requires_grad && !is_float(t)) {
        bs__err(c, BS_ERR_TYPE, "only tensors of floating point dtype can require gradients");
        return BS_NONE;
    }
    if (shape->ndim < 0 || shape->ndim > BS_MAX_DIMS) {
        bs__err(c, BS_ERR_SHAPE, "tensors have at most %d dimensions", BS_MAX_DIMS);
        return BS_NONE;
    }
    bs_node *n = node_new(c);
    if (!n) {
        bs__err(c, BS_ERR_NOMEM, "out of memory for the tape");
        return BS_NONE;
    }
    if (node_value(c, n, shape, t)) return BS_NONE;
    int64_t numel = bs_shape_numel(shape);
    if (data) memcpy(n->value.data, data, (size_t)numel * sizeof(double));
    bs__round_tensor(&n->value);
    n->is_leaf = true;
    n->requires_grad = requires_grad;
    n->is_param = requires_grad;
    n->in_no_grad = c->no_grad;
    n->init = BS_INIT_DATA;
    return node_commit(c, n);
}

bs_id bs_scalar(bs_ctx *c, double v, bs_dtype t)
{
    bs_shape s = {0, {0}};
    bs_id id = bs_leaf(c, &v, &s, t, false);
    if (id >= 0) bs__node(c, id)->is_number = true;
    return id;
}

bs_id bs_make(bs_ctx *c, bs_init_kind kind, const bs_shape *shape, const int8_t *sym, bs_dtype t,
              double arg0, double arg1)
{
    bs_node *n = node_new(c);
    if (!n) {
        bs__err(c, BS_ERR_NOMEM, "out of memory for the tape");
        return BS_NONE;
    }
    if (shape->ndim < 0 || shape->ndim > BS_MAX_DIMS) {
        bs__err(c, BS_ERR_SHAPE, "tensors have at most %d dimensions", BS_MAX_DIMS);
        return BS_NONE;
    }
    if (node_value(c, n, shape, t)) return BS_NONE;
    double *d = n->value.data;
    int64_t numel = bs_shape_numel(shape);
    switch (kind) {
    case BS_INIT_RANDN:
        for (int64_t i = 0; i < numel; i++) d[i] = bs_rand_normal(c);
        break;
    case BS_INIT_RAND:
        for (int64_t i = 0; i < numel; i++) d[i] = bs_rand_uniform(c);
        break;
    case BS_INIT_ZEROS: break;
    case BS_INIT_ONES:
        for (int64_t i = 0; i < numel; i++) d[i] = 1;
        break;
    case BS_INIT_FULL:
        for (int64_t i = 0; i < numel; i++) d[i] = arg0;
        break;
    case BS_INIT_EYE: {
        int64_t r = shape->ndim >= 1 ? shape->d[0] : 1, cc = shape->ndim >= 2 ? shape->d[1] : r;
        for (int64_t i = 0; i < r && i < cc; i++) d[i * cc + i] = 1;
        break;
    }
    case BS_INIT_ARANGE: ops_lp_arange(t, arg0, arg1, numel, d); break;
    default:
        bs__data_free(c, n->value.data, numel, &n->sval);
        bs__err(c, BS_ERR_ARG, "bs_make: not a constructor");
        return BS_NONE;
    }
    bs__round_tensor(&n->value);
    n->is_leaf = true;
    n->in_no_grad = c->no_grad;
    n->init = kind;
    n->init_arg[0] = arg0;
    n->init_arg[1] = arg1;
    if (sym)
        for (int i = 0; i < shape->ndim; i++) n->sym[i] = sym[i];
    return node_commit(c, n);
}

bs_id bs_copy_leaf(bs_ctx *c, bs_id src, bool requires_grad)
{
    const bs_node *s = bs_node_get(c, src);
    if (!s) {
        bs__err(c, BS_ERR_ARG, "no such node");
        return BS_NONE;
    }
    bs_dtype t = s->value.dtype;
    if (requires_grad && !is_float(t)) t = c->dtype;
    bs_shape shape = s->value.shape;
    bs_id id = bs_leaf(c, NULL, &shape, t, requires_grad);
    if (id < 0) return id;
    bs_node *n = bs__node(c, id);
    s = bs__node(c, src); /* chunk pointers are stable, but be explicit */
    memcpy(n->value.data, s->value.data, (size_t)bs_shape_numel(&shape) * sizeof(double));
    bs__round_tensor(&n->value);
    n->init = BS_INIT_COPY;
    n->init_src = src;
    return id;
}

/* ==== Applying ops ==== */

/* each unary elementwise op's defaults of k and k2 (ew_math.h's KDEF, K2DEF); 0 for the others */
#define EW1_KDEF(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS) [BS_OP_##ID] = {KDEF, K2DEF},
static const double ew1_kdef[BS_OP_COUNT][2] = {BS_EW1_OPS(EW1_KDEF)};
#undef EW1_KDEF
/* the elementwise ops whose 0-d f64 nodes bs_apply1 / bs_apply2 make as compact records: those
   whose attributes k and k2 default to 0 (apply_f64_scalar) */
#define EW1_COMPACT(ID, fn, FWD, VJP, KDEF, K2DEF, TK, TK2, FL, SAVED, FLAGS)                    \
    [BS_OP_##ID] = (KDEF) == 0 && (K2DEF) == 0,
#define EW2_COMPACT(ID, fn, FWD, VJP_A, VJP_B, FL, SAVED, CHECK, FLAGS) [BS_OP_##ID] = true,
static const bool ew_compact[BS_OP_COUNT] = {BS_EW1_OPS(EW1_COMPACT) BS_EW2_OPS(EW2_COMPACT)};
#undef EW1_COMPACT
#undef EW2_COMPACT

bs_attr bs_attr_default(bs_op op)
{
    bs_attr a;
    memset(&a, 0, sizeof a);
    a.dim = BS_DIM_ALL;
    for (int i = 0; i < BS_MAX_DIMS; i++) a.shape_sym[i] = -1;
    if ((int)op >= 0 && op < BS_OP_COUNT) {
        a.k = ew1_kdef[op][0];
        a.k2 = ew1_kdef[op][1];
    }
    switch (op) {
    case BS_OP_SOFTMAX: case BS_OP_LOG_SOFTMAX: a.dim = -1; break;
    case BS_OP_LAYERNORM: a.k = 1e-5; a.dim = -1; break;
    case BS_OP_SELECT: case BS_OP_SLICE: case BS_OP_INDEX_SELECT: case BS_OP_CAT: a.dim = 0; break;
    default: break;
    }
    /* select's index (start) 0, tril's and triu's diagonal 0; slice's whole dim, step 1 */
    a.start = op == BS_OP_SELECT || op == BS_OP_TRIL || op == BS_OP_TRIU ? 0 : BS_SLICE_NO_START;
    a.stop = BS_SLICE_NO_STOP;
    a.step = 1;
    return a;
}

static int dtype_rank(bs_dtype t)
{
    switch (t) {
    case BS_F64: return 4;
    case BS_F32: return 3;
    case BS_BF16: return 2;
    case BS_F16: return 2;
    default: return 0;
    }
}

/* two dtypes promoted as torch.promote_types: the wider float; f16 with bf16 is f32; an integer
 * gives way to a float; -1 (none yet) to anything */
static int promote2(int a, int b)
{
    if (a < 0) return b;
    if (b < 0 || a == b) return a;
    if ((a == BS_F16 && b == BS_BF16) || (a == BS_BF16 && b == BS_F16)) return BS_F32;
    return dtype_rank((bs_dtype)a) >= dtype_rank((bs_dtype)b) ? a : b;
}

/* torch's result_type (c10/core/ScalarType.h, ATen's ResultTypeState): the operands fall in three
 * tiers, tensors with dims, 0-d tensors, Python numbers. A lower tier decides the dtype only when
 * it brings a higher category (a float beside integers): x_f16 * 0.1 is f16, x_f32 * tensor(2.0,
 * dtype=f64) is f32, arange(3) * 0.5 the default float dtype. xs[i] NULL: a mask (no part). */
bs_dtype bs_result_dtype(const bs_dtype *dts, const int *tiers, int n, bool int_op, bs_dtype deflt)
{
    int tier[3] = {-1, -1, -1}; /* numbers, 0-d tensors, tensors with dims */
    for (int i = 0; i < n; i++) {
        if (tiers[i] < 0 || tiers[i] > 2) continue;
        /* a Python float counts as the default dtype (torch's wrapped numbers) */
        bs_dtype t = tiers[i] == 0 && dts[i] != BS_I64 ? deflt : dts[i];
        tier[tiers[i]] = promote2(tier[tiers[i]], t);
    }
    int r = -1;
    for (int t = 0; t < 3; t++) { /* combine_categories(higher, lower), from the lowest up */
        int hi = tier[t], lo = r;
        if (hi >= 0 && hi != BS_I64) r = hi;
        else if (lo >= 0 && lo != BS_I64) r = hi < 0 ? lo : promote2(hi, lo);
        else r = hi >= 0 ? hi : lo;
    }
    if (r < 0 || (r == BS_I64 && !int_op)) return deflt;
    return (bs_dtype)r;
}

static bs_dtype result_dtype(const bs_node *const *xs, int n, bool int_op, bs_dtype deflt)
{
    bs_dtype dts[BS_MAX_INPUTS];
    int tiers[BS_MAX_INPUTS];
    for (int i = 0; i < n; i++) {
        tiers[i] = !xs[i] ? -1 : xs[i]->is_number ? 0 : xs[i]->value.shape.ndim == 0 ? 1 : 2;
        dts[i] = xs[i] ? xs[i]->value.dtype : BS_F64;
    }
    return bs_result_dtype(dts, tiers, n, int_op, deflt);
}

/* The fast path for elementwise ops on 0-d tensors (scalar graphs such as micrograd's MLP): the
 * op's own scalar function, no shape inference, inline storage. x, y: the inputs' nodes (y NULL
 * for a unary op). */
static bs_id apply_scalar(bs_ctx *c, bs_op op, const bs_id *in, const bs_attr *attr, bs_dtype odt,
                          bool rg, const bs_node *x, const bs_node *y)
{
    const bs_op_info *info = &bs_ops[op];
    /* an elementwise op reads k and k2 only: their defaults without building a whole bs_attr */
    double k = attr ? attr->k : ew1_kdef[op][0], k2 = attr ? attr->k2 : ew1_kdef[op][1];
    double v = info->s_fwd(x->value.data[0], y ? y->value.data[0] : 0.0, k, k2);
    uint32_t vx = x->version, vy = y ? y->version : 0;
    bs_node *n = node_new_hot(c);
    if (!n) {
        bs__err(c, BS_ERR_NOMEM, "out of memory for the tape");
        return BS_NONE;
    }
    if (odt == BS_I64) v = trunc(v);
    else if (odt != BS_F64) v = bs_dtype_round(odt, v);
    n->sval = v;
    n->value.dtype = n->grad.dtype = odt;
    n->value.data = &n->sval;
    n->op = op;
    n->nin = info->arity;
    /* attr: dim BS_DIM_ALL (elementwise ops read only k and k2), k = k2 = 0 as rec_free has them;
       other k, k2 make the record cold */
    uint64_t kb, k2b;
    memcpy(&kb, &k, sizeof kb);
    memcpy(&k2b, &k2, sizeof k2b);
    if (kb | k2b) { /* not both +0.0 */
        BK(n)->cold = true;
        n->attr.k = k;
        n->attr.k2 = k2;
    }
    n->in[0] = in[0];
    BK(n)->in_version[0] = vx;
    if (y) {
        n->in[1] = in[1];
        BK(n)->in_version[1] = vy;
    }
    n->requires_grad = rg && !c->no_grad && odt != BS_I64;
    n->is_leaf = !n->requires_grad;
    n->in_no_grad = c->no_grad;
    return node_commit(c, n);
}

/* node id's full record, as apply_scalar makes it, from its compact one (bs__hot) */
int32_t bs__materialize(bs_ctx *c, bs_id id)
{
    bs__hot *h = &c->hot[id];
    int32_t k = c->nrec++; /* committed: the room kept for every compact node (bs_ctx.ncompact) */
    rec_taken(c, k);
    c->ncompact--;
    c->slot[id] = k;
    bs__rec *r = &c->rec[k];
    *r = rec_free; /* as node_new_hot starts it */
    bs_node *n = &r->n;
    n->id = id;
    n->op = (bs_op)h->op;
    n->nin = bs_ops[h->op].arity;
    n->in[0] = h->in[0];
    n->in[1] = h->in[1];
    r->b.in_version[0] = h->in_version[0];
    r->b.in_version[1] = h->in_version[1];
    r->b.mark = h->mark;
    r->b.freed = h->f & BS_H_FREED;
    n->version = h->version;
    n->requires_grad = h->f & BS_H_RG;
    n->is_leaf = !n->requires_grad;
    n->in_no_grad = h->f & BS_H_NOGRAD;
    n->scope = h->scope;
    n->sval = h->val;
    n->value.dtype = n->grad.dtype = BS_F64;
    n->value.data = &n->sval;
    if (h->f & BS_H_GRAD) {
        n->sgrad = h->grad;
        n->grad.data = &n->sgrad;
    }
    if (h->text) {
        n->text = (char *)h->text;
        r->b.text_borrowed = r->b.cold = true;
    }
    return k;
}


/* bs_apply's quickest case, tried first by bs_apply1 and bs_apply2: an elementwise op on 0-d f64
 * operands under the f64 default (every tier is f64 then, and nothing is checked or rounded),
 * with its default attributes both 0 (the others: apply_scalar's cold records). Its node is a
 * compact record (bs__hot), one cache line; apply_scalar's record is filled in when asked for.
 * BS_APPLY_GENERAL when it does not apply. */
#define BS_APPLY_GENERAL (-2)
/* apply_f64_scalar's room: node c->len in hot, and rec's for every compact node */
static __attribute__((noinline, cold)) bool compact_room(bs_ctx *c)
{
    return (c->len < c->hot_cap || node_room(c)) &&
           ((int64_t)c->nrec + c->ncompact < c->rec_cap || rec_room(c, (int64_t)c->nrec + c->ncompact + 1));
}

static inline bs_id apply_f64_scalar(bs_ctx *c, bs_op op, bs_id a, bs_id b)
{
    if ((unsigned)op >= (unsigned)BS_OP_COUNT || !ew_compact[op] || c->dtype != BS_F64 ||
        (uint32_t)a >= (uint32_t)c->len)
        return BS_APPLY_GENERAL;
    const bs_op_info *info = &bs_ops[op];
    if (!info->s_fwd) return BS_APPLY_GENERAL;
    /* room for the node, and to fill it in later: first, so that no value is held across it */
    if (__builtin_expect(c->len >= c->hot_cap || (int64_t)c->nrec + c->ncompact >= c->rec_cap, 0) &&
        !compact_room(c)) {
        bs__err(c, BS_ERR_NOMEM, "out of memory for the tape");
        return BS_NONE;
    }
    double va, vb = 0.0;
    uint32_t vera, verb = 0;
    bool rga, rgb = false;
    if (!bs__scalar_in(c, a, &va, &vera, &rga)) return BS_APPLY_GENERAL;
    if (info->arity == 2) {
        if ((uint32_t)b >= (uint32_t)c->len || !bs__scalar_in(c, b, &vb, &verb, &rgb))
            return BS_APPLY_GENERAL;
    } else {
        b = BS_NONE;
    }
    double v = bs__ew_fwd(op, va, vb, 0.0, 0.0);
    bs_id id = c->len;
    bool ng = c->no_grad, rg = (rga || rgb) && !ng;
    bs__hot *h = &c->hot[id]; /* its fields one by one: the line, not a copy of it */
    h->val = v;
    h->grad = 0.0;
    h->in[0] = a;
    h->in[1] = b;
    h->in_version[0] = vera;
    h->in_version[1] = verb;
    h->version = 0;
    h->mark = 0;
    h->scope = c->cur_scope;
    h->op = (int16_t)op;
    h->f = (uint8_t)((rg ? BS_H_RG : 0) | (ng ? BS_H_NOGRAD : 0));
    h->text = NULL;
    c->slot[id] = -1;
    c->ncompact++;
    c->len = id + 1;
    return id;
}

static bs_id apply_general(bs_ctx *c, bs_op op, const bs_id *in, const bs_attr *attr);

bs_id bs_apply(bs_ctx *c, bs_op op, const bs_id *in, const bs_attr *attr)
{
    /* a compact record first, also for a call with attributes (relu(x) from the REPL has
       bs_attr_default's) when an elementwise op reads none of them but k and k2, both +0.0
       (ew_compact's ops default to that) */
    if ((unsigned)op < (unsigned)BS_OP_COUNT && ew_compact[op]) {
        uint64_t kb = 0, k2b = 0;
        if (attr) {
            memcpy(&kb, &attr->k, sizeof kb);
            memcpy(&k2b, &attr->k2, sizeof k2b);
        }
        if (!(kb | k2b)) {
            bs_id r = apply_f64_scalar(c, op, in[0], bs_ops[op].arity == 2 ? in[1] : BS_NONE);
            if (r != BS_APPLY_GENERAL) return r;
        }
    }
    return apply_general(c, op, in, attr);
}

/* bs_apply past its compact records */
static bs_id apply_general(bs_ctx *c, bs_op op, const bs_id *in, const bs_attr *attr)
{
    if ((int)op < 0 || op >= BS_OP_COUNT) {
        bs__err(c, BS_ERR_ARG, "unknown op");
        return BS_NONE;
    }
    const bs_op_info *info = &bs_ops[op];
    /* scalar graphs: 0-d inputs to an elementwise op skip shape inference entirely */
    if (info->s_fwd && in[0] >= 0 && in[0] < c->len &&
        (info->arity == 1 || (in[1] >= 0 && in[1] < c->len))) {
        const bs_node *x = bs__node(c, in[0]), *y = info->arity == 2 ? bs__node(c, in[1]) : x;
        if (x->value.shape.ndim == 0 && y->value.shape.ndim == 0) {
            bs_dtype tx = x->value.dtype, ty = y->value.dtype;
            const bs_node *xs[2] = {x, y};
            /* f64 operands under the f64 default are f64 in every tier (a number counts as the
               default dtype): result_dtype's walk only for the other cases */
            bs_dtype odt = tx == BS_F64 && ty == BS_F64 && c->dtype == BS_F64
                               ? BS_F64
                               : result_dtype(xs, info->arity, info->flags & BS_F_INT, c->dtype);
            /* the one value check an elementwise op makes (ops_ew.c's pow_check), here too */
            if (op == BS_OP_POW && tx == BS_I64 && ty == BS_I64 && y->value.data[0] < 0) {
                bs__err(c, BS_ERR_VALUE, "Integers to negative integer powers are not allowed.");
                return BS_NONE;
            }
            /* the float path computes each op as torch's CPU kernel does: not in double */
            if (!bs_dtype_in_float(odt))
                return apply_scalar(c, op, in, attr, odt, x->requires_grad || y->requires_grad, x,
                                    info->arity == 2 ? y : NULL);
        }
    }
    bs_shape shp[BS_MAX_INPUTS];
    bs_dtype dt[BS_MAX_INPUTS];
    bs_tensor tin[BS_MAX_INPUTS];
    bool rg = false;
    const bs_node *xs[BS_MAX_INPUTS] = {NULL, NULL, NULL};
    for (int i = 0; i < info->arity; i++) {
        const bs_node *x = bs_node_get(c, in[i]);
        if (!x) {
            bs__err(c, BS_ERR_ARG, "%s: input %d is not a tensor", info->name, i + 1);
            return BS_NONE;
        }
        shp[i] = x->value.shape;
        dt[i] = x->value.dtype;
        tin[i] = x->value;
        if (info->flags & BS_F_MASK(i)) continue; /* a mask: no gradient, no part in the dtype */
        rg |= x->requires_grad;
        xs[i] = x;
    }
    bs_dtype odt = result_dtype(xs, info->arity, info->flags & BS_F_INT, c->dtype);
    bs_attr a = attr ? *attr : bs_attr_default(op);
    if (op == BS_OP_MATMUL) { /* the float path's gemm variant: which operands are x.T views */
        int64_t views = 0;
        for (int i = 0; i < 2; i++) {
            const bs_node *x = bs__node(c, in[i]);
            if (x->op == BS_OP_TRANSPOSE && x->value.shape.ndim == 2)
                views |= i ? BS_MM_VIEW_B : BS_MM_VIEW_A;
        }
        if (views) a.start = views;
    }
    bs_shape out;
    c->err[0] = 0;
    bs_status sst = info->shape(shp, dt, &a, &out, c->err, sizeof c->err);
    if (sst) {
        c->code = sst;
        if (!c->err[0]) snprintf(c->err, sizeof c->err, "%s: shapes do not fit", info->name);
        return BS_NONE;
    }
    bs_node *n = node_new(c);
    if (!n) {
        bs__err(c, BS_ERR_NOMEM, "out of memory for the tape");
        return BS_NONE;
    }
    if (node_value(c, n, &out, odt)) return BS_NONE;
    c->err[0] = 0;
    bs_status st = info->fwd(tin, &a, &n->value, c->err, sizeof c->err);
    if (st) {
        c->code = st;
        bs__data_free(c, n->value.data, bs_shape_numel(&out), &n->sval);
        return BS_NONE;
    }
    bs__round_tensor(&n->value);
    n->op = op;
    n->nin = info->arity;
    n->attr = a;
    for (int i = 0; i < info->arity; i++) {
        n->in[i] = in[i];
        BK(n)->in_version[i] = bs__node(c, in[i])->version;
    }
    n->requires_grad = rg && !c->no_grad && odt != BS_I64;
    n->is_leaf = !n->requires_grad;
    n->in_no_grad = c->no_grad;
    /* a mask moved or picked from stays a mask: m[0], m[1:], m.view(...), m.T */
    if (info->kind == BS_K_SHAPE || op == BS_OP_SELECT || op == BS_OP_SLICE || op == BS_OP_INDEX_SELECT ||
        op == BS_OP_TRIL || op == BS_OP_TRIU)
        n->is_bool = bs__node(c, in[0])->is_bool;
    if (op == BS_OP_CAT) n->is_bool = bs__node(c, in[0])->is_bool && bs__node(c, in[1])->is_bool;
    return node_commit(c, n);
}

bs_id bs_apply_linear_bias(bs_ctx *c, bs_id mm, bs_id b)
{
    bs_id y = bs_apply2(c, BS_OP_ADD, mm, b);
    if (y < 0) return y;
    bs_node *n = bs__node(c, y), *m = bs__node(c, mm);
    if (!bs_dtype_in_float(n->value.dtype) || m->op != BS_OP_MATMUL ||
        m->value.dtype != n->value.dtype)
        return y;
    const bs_node *x = bs__node(c, m->in[0]), *wt = bs__node(c, m->in[1]);
    bs_tensor bt = bs__node(c, b)->value;
    BK(n)->cold = true; /* attr.start below */
    /* recomputed in place: the node was made just now, nothing has read it */
    ops_lp_addmm(n->value.dtype, &x->value, &wt->value, wt->op == BS_OP_TRANSPOSE, &bt, n->value.data);
    n->attr.start = BS_ADD_ADDMM; /* so that bs__node_forward computes it again the same way */
    return y;
}

bs_status bs__node_forward(bs_ctx *c, const bs_node *n, double *dst)
{
    const bs_op_info *info = &bs_ops[n->op];
    bs_tensor in[BS_MAX_INPUTS];
    bs__inputs(c, n, in);
    bs_dtype odt = n->value.dtype;
    int64_t numel = bs_shape_numel(&n->value.shape);
    if (info->s_fwd && n->value.shape.ndim == 0 && in[0].shape.ndim == 0 &&
        (info->arity == 1 || in[1].shape.ndim == 0) && !bs_dtype_in_float(odt) && !n->is_cast) {
        /* apply_scalar's arithmetic */
        double v = info->s_fwd(in[0].data[0], info->arity == 2 ? in[1].data[0] : 0.0, n->attr.k, n->attr.k2);
        dst[0] = odt == BS_I64 ? trunc(v) : odt != BS_F64 ? bs_dtype_round(odt, v) : v;
        return BS_OK;
    }
    if (n->op == BS_OP_ADD && n->attr.start == BS_ADD_ADDMM) {
        const bs_node *m = bs__node(c, n->in[0]);
        const bs_node *x = bs__node(c, m->in[0]), *wt = bs__node(c, m->in[1]);
        ops_lp_addmm(odt, &x->value, &wt->value, wt->op == BS_OP_TRANSPOSE, &in[1], dst);
        return BS_OK;
    }
    memset(dst, 0, (size_t)numel * sizeof(double));
    bs_tensor out = {odt, n->value.shape, dst};
    if (n->is_cast) out.dtype = in[0].dtype; /* the reshape in x's dtype, then the conversion */
    c->err[0] = 0;
    bs_status st = bs_ops[n->op].fwd(in, &n->attr, &out, c->err, sizeof c->err);
    if (st) return c->code = st;
    if (n->is_cast) {
        for (int64_t j = 0; j < numel; j++) {
            double v = dst[j];
            dst[j] = odt == BS_F64 ? v : odt == BS_I64 ? trunc(v) : (double)bs_dtype_roundf(odt, (float)v);
        }
        return BS_OK;
    }
    bs__round_tensor(&out);
    return BS_OK;
}

bs_id bs_cast(bs_ctx *c, bs_id x, bs_dtype t)
{
    const bs_node *xn = bs_node_get(c, x);
    if (!xn) {
        bs__err(c, BS_ERR_ARG, "cast: no such node");
        return BS_NONE;
    }
    if (xn->value.dtype == t) return x;
    if (t == BS_I64 && xn->requires_grad) {
        bs__err(c, BS_ERR_TYPE, "only tensors of floating point dtype can require gradients");
        return BS_NONE;
    }
    bs_attr a = bs_attr_default(BS_OP_RESHAPE);
    a.shape = xn->value.shape;
    bs_id y = bs_apply(c, BS_OP_RESHAPE, (bs_id[]){x, BS_NONE, BS_NONE}, &a);
    if (y < 0) return y;
    bs_node *n = bs__node(c, y);
    n->is_cast = true;
    n->value.dtype = n->grad.dtype = t;
    int64_t numel = bs_shape_numel(&n->value.shape);
    /* as c10's conversions: a double goes to Half/BFloat16 through float */
    for (int64_t j = 0; j < numel; j++) {
        double v = n->value.data[j];
        n->value.data[j] = t == BS_F64 ? v : t == BS_I64 ? trunc(v) : (double)bs_dtype_roundf(t, (float)v);
    }
    n->requires_grad = n->requires_grad && t != BS_I64;
    return y;
}


bs_id bs_apply1(bs_ctx *c, bs_op op, bs_id a)
{
    bs_id r = apply_f64_scalar(c, op, a, BS_NONE);
    if (r != BS_APPLY_GENERAL) return r;
    bs_id in[BS_MAX_INPUTS] = {a, BS_NONE, BS_NONE};
    return apply_general(c, op, in, NULL); /* the compact record was tried */
}

bs_id bs_apply2(bs_ctx *c, bs_op op, bs_id a, bs_id b)
{
    bs_id r = apply_f64_scalar(c, op, a, b);
    if (r != BS_APPLY_GENERAL) return r;
    bs_id in[BS_MAX_INPUTS] = {a, b, BS_NONE};
    return apply_general(c, op, in, NULL); /* the compact record was tried */
}

/* ==== Indexing ==== */

static bs_id apply_index(bs_ctx *c, bs_op op, bs_id x, bs_id y, bs_id z, int dim, int64_t start,
                         int64_t stop, int64_t step)
{
    bs_id in[BS_MAX_INPUTS] = {x, y, z};
    bs_attr a = bs_attr_default(op);
    a.dim = dim;
    a.start = start;
    a.stop = stop;
    a.step = step;
    return bs_apply(c, op, in, &a);
}

bs_id bs_select(bs_ctx *c, bs_id x, int dim, int64_t index)
{
    return apply_index(c, BS_OP_SELECT, x, BS_NONE, BS_NONE, dim, index, BS_SLICE_NO_STOP, 1);
}

bs_id bs_slice(bs_ctx *c, bs_id x, int dim, int64_t start, int64_t stop, int64_t step)
{
    return apply_index(c, BS_OP_SLICE, x, BS_NONE, BS_NONE, dim, start, stop, step);
}

bs_id bs_index_select(bs_ctx *c, bs_id x, int dim, bs_id index)
{
    return apply_index(c, BS_OP_INDEX_SELECT, x, index, BS_NONE, dim, BS_SLICE_NO_START,
                       BS_SLICE_NO_STOP, 1);
}

bs_id bs_where(bs_ctx *c, bs_id cond, bs_id a, bs_id b)
{
    bs_id in[BS_MAX_INPUTS] = {cond, a, b};
    return bs_apply(c, BS_OP_WHERE, in, NULL);
}

bs_id bs_masked_fill(bs_ctx *c, bs_id x, bs_id mask, bs_id value)
{
    bs_id in[BS_MAX_INPUTS] = {x, mask, value};
    return bs_apply(c, BS_OP_MASKED_FILL, in, NULL);
}

/* ==== Size variables ==== */

int bs_dim_define(bs_ctx *c, const char *name, int64_t value)
{
    int i = bs_dim_find(c, name);
    if (i < 0) {
        if (c->ndim >= BS_MAX_DIMVARS) {
            bs__err(c, BS_ERR_ARG, "too many size variables (at most %d)", BS_MAX_DIMVARS);
            return -1;
        }
        i = c->ndim++;
        snprintf(c->dim[i].name, sizeof c->dim[i].name, "%s", name);
        c->dim[i].base1 = 0;
        c->dim[i].mul = 1;
    }
    c->dim[i].value = value;
    return i;
}

int bs_dim_derive(bs_ctx *c, int base, int64_t mul)
{
    if (base < 0 || base >= c->ndim || mul < 1) return -1;
    if (c->dim[base].base1) { /* 2 * (3 * D) is 6 * D */
        mul *= c->dim[base].mul;
        base = c->dim[base].base1 - 1;
    }
    if (mul == 1) return base;
    char name[48];
    snprintf(name, sizeof name, "%lld*%s", (long long)mul, c->dim[base].name);
    int i = bs_dim_define(c, name, mul * c->dim[base].value);
    if (i < 0) return -1;
    c->dim[i].base1 = base + 1;
    c->dim[i].mul = mul;
    return i;
}

int bs_dim_base(const bs_ctx *c, int idx, int64_t *mul)
{
    if (idx < 0 || idx >= c->ndim || !c->dim[idx].base1) return -1;
    if (mul) *mul = c->dim[idx].mul;
    return c->dim[idx].base1 - 1;
}

int bs_dim_find(const bs_ctx *c, const char *name)
{
    for (int i = 0; i < c->ndim; i++)
        if (!strcmp(c->dim[i].name, name)) return i;
    return -1;
}

int64_t bs_dim_value(const bs_ctx *c, int idx) { return idx >= 0 && idx < c->ndim ? c->dim[idx].value : -1; }
const char *bs_dim_name(const bs_ctx *c, int idx) { return idx >= 0 && idx < c->ndim ? c->dim[idx].name : "?"; }
int bs_dim_count(const bs_ctx *c) { return c->ndim; }

/* ==== Random numbers: xoshiro256** seeded by splitmix64 ==== */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void bs_ctx_rng_save(const bs_ctx *c, bs_rng_state *r)
{
    memcpy(r->s, c->rng, sizeof c->rng);
    r->have_spare = c->have_spare;
    r->spare = c->spare;
}

void bs_ctx_rng_restore(bs_ctx *c, const bs_rng_state *r)
{
    memcpy(c->rng, r->s, sizeof c->rng);
    c->have_spare = r->have_spare;
    c->spare = r->spare;
}

void bs_ctx_seed(bs_ctx *c, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) c->rng[i] = splitmix64(&x);
    c->have_spare = false;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(bs_ctx *c)
{
    uint64_t *s = c->rng;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double bs_rand_uniform(bs_ctx *c) { return (double)(next_u64(c) >> 11) * 0x1.0p-53; }

double bs_rand_normal(bs_ctx *c)
{
    if (c->have_spare) {
        c->have_spare = false;
        return c->spare;
    }
    double u, v, s;
    do {
        u = 2 * bs_rand_uniform(c) - 1;
        v = 2 * bs_rand_uniform(c) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double m = sqrt(-2 * log(s) / s);
    c->spare = v * m;
    c->have_spare = true;
    return u * m;
}
