/* core/core_int.h: core's internals shared by its files (the context, allocation, errors). */
#ifndef BS_CORE_INT_H
#define BS_CORE_INT_H

#include <signal.h>
#include <stdarg.h>

#include <stddef.h>
#include <stdint.h>

#include "backstep.h"

#define BS_MAX_NODES_LOG2 26            /* the tape's address space: 2^26 records (24 GiB, never
                                           committed beyond what the tape holds) */
#define BS_MAX_DIMVARS 64

typedef struct {
    char name[32];
    int64_t value;
    int base1;                    /* a derived size (3 * D, bs_dim_derive): its base's index + 1,
                                     0 for a size variable of its own */
    int64_t mul;                  /* derived: value = mul * base's value */
} bs_dimvar;

struct bs_opt {
    bs_opt_conf conf;
    int64_t step;                 /* steps taken (adam's t) */
    int32_t cap;                  /* state arrays are indexed by node id */
    double **m, **v;              /* (numel) per param: momentum / first and second moments */
    bs_id *only;                  /* the params it was given (torch.optim.SGD(params)), or */
    int32_t nonly;                /* NULL: every param of the tape */
    struct bs_opt *next;
};

/* the undo journal of one statement (txn.c) */
typedef struct {
    bs_id id;
    uint32_t version;
    bool freed, had_grad;
    bs_dtype dtype;               /* the value's dtype (a module's .half() converts its params) */
    double *grad, *value;         /* copies (value: params only, which optimizers change) */
} bs__txn_saved;
typedef struct {
    bs_opt *opt;
    bs_id id;
    bool had_m, had_v;
    double *m, *v;                /* copies of the param's optimizer state */
} bs__txn_state;
typedef struct {
    bs_opt *opt;
    int64_t step;
} bs__txn_step;
typedef struct {                  /* a compact node's state before a scalar pass stepped it */
    bs_id id;
    uint8_t f;                    /* its BS_H_GRAD and BS_H_FREED */
    double grad;
} bs__txn_hot;
typedef struct {
    bool on, lost;                /* lost: a copy could not be made (out of memory) */
    uint32_t serial;              /* node->txn == serial: saved in this statement */
    int32_t mark;                 /* tape length at begin */
    int ndim;
    bs_opt *opts;                 /* the optimizer list at begin */
    bs_rng_state rng;
    bs__txn_saved *n;
    int nn, capn;
    bs__txn_state *st;
    int nst, capst;
    bs__txn_step *steps;
    int nsteps, capsteps;
    bs__txn_hot *h;               /* in the order taken; a node may be there more than once */
    int nh, caph;
} bs__txn;

/* A node's engine bookkeeping, which only core reads or writes: it sits just before the node's
 * public part in the tape's record (bs__rec), so a backward step finds it in the same cache
 * lines. The public header does not declare these fields at all. */
typedef struct {
    uint32_t mark;                  /* equals the live pass's number while the node is on it */
    uint32_t txn;                   /* the statement journal's serial (bs_txn_begin) */
    uint32_t in_version[BS_MAX_INPUTS]; /* the inputs' versions when this node was made */
    bool freed;                     /* saved tensors released by a backward without retain_graph */
    bool text_borrowed;             /* text is the caller's (bs_node_borrow_text): not freed here */
    bool cold;                      /* the record's cold part (below) may differ from a fresh
                                       one's, or the node owns heap storage: see bs__rec */
} bs__book;

/* The general backward pass's partial gradient of a node, after the node's public part (the
 * scalar pass keeps its own, but for leaves): NULL outside a pass. */
typedef struct {
    double sgtmp;                   /* gtmp's storage for one element */
    double *gtmp;                   /* during a backward pass: this pass's gradient so far (NULL
                                       when none yet); leaves get it added to grad at the end */
} bs__pass;

/* A full node's record: 64-byte aligned, its first BS__REC_HOT bytes (three cache lines: the
 * bookkeeping, the node's ids, flags, inline scalars, value and grad) hold everything a 0-d
 * elementwise node made by bs_apply's slow scalar path (apply_scalar) has of its own; the rest
 * (attr, init, labels, the pass's gtmp) is the cold part. Records are whole from their making
 * (node_new, node_new_hot, bs__materialize write all of one) and dense in bs_ctx.rec, found
 * through bs_ctx.slot: a compact node (bs__hot) has none, so a tape of compact nodes with a few
 * full ones among them (leaves, named results) touches one page of records per ten full nodes,
 * not one per ten nodes (a fresh page costs the kernel its zeroing, most of all on a virtual
 * machine: 384 bytes a node by id was most of a scalar script's time). A full node without
 * `cold` has the cold part of rec_free (gtmp NULL between passes, sgtmp written before it is
 * read); whatever writes a node's cold part (a label, attributes, a leaf's init) or gives it
 * heap storage sets `cold`. */
typedef struct {
    _Alignas(64) bs__book b;
    bs_node n;
    bs__pass p;
} bs__rec;
#define BS__REC_HOT offsetof(bs__rec, n.attr)

/* A node's compact record: one cache line per node in a dense array (bs_ctx.hot, node i at
 * hot[i]). A 0-d f64 node made by bs_apply's fast path (apply_f64_scalar: an elementwise op with
 * its default attributes, k and k2 both 0) is written here alone: its value, grad, inputs, its
 * borrowed text (the REPL's label text, so that labelling a node does not fill it in:
 * bs_node_text reads either record) and the bookkeeping a backward pass reads and writes.
 * Everything else a bs_node has (shapes, tensor views, attributes, labels) is what apply_scalar
 * gives such a node, and is filled into a new full record the first time anything asks for the
 * node (bs__node, bs_node_get, bs_node_at: bs__materialize); from then on the node is full and
 * that record is its one (the compact one is unused). Every other node is full from its making.
 * Where a node's full record is, or that it has none, is an int per node (bs_ctx.slot), small
 * enough to stay in cache while every node is asked about it, as the general engine's loops do.
 * Only the fast paths (apply_f64_scalar, the scalar pass, the journal, truncation, compaction,
 * reset) read a compact record. */
enum {
    BS_H_RG = 1 << 1,       /* requires_grad (is_leaf is its negation) */
    BS_H_NOGRAD = 1 << 2,   /* in_no_grad */
    BS_H_GRAD = 1 << 3,     /* grad.data is set (grad holds it) */
    BS_H_FREED = 1 << 4     /* freed (bs__book) */
};
typedef struct {
    _Alignas(64) double val;       /* sval */
    double grad;                   /* sgrad */
    bs_id in[2];                   /* in[1] BS_NONE for a unary op */
    uint32_t in_version[2];
    uint32_t version;
    uint32_t mark;                 /* bs__book's */
    int32_t scope;
    int16_t op;
    uint8_t f;                     /* BS_H_* */
    const char *text;              /* borrowed source text (bs_node_borrow_text), NULL: none */
} bs__hot;
_Static_assert(sizeof(bs__hot) == 64, "a compact record is one cache line");

struct bs_ctx {
    bs__hot *hot;                 /* node i's compact record (unused for a full node): the same
                                     reservation scheme as rec, committed with it */
    int32_t *slot;                /* slot[i]: node i's full record is rec[slot[i]]; -1: node i is
                                     compact (usable throughout; its pages made with hot's) */
    bs__rec *rec;                 /* the full records, dense, in the order they were made (a node
                                     filled in later has its record after younger ones): one
                                     reservation of address space made at the first node, so
                                     records move only in bs_tape_collect (tape.c's "The tape's
                                     memory") */
    int32_t len;                  /* nodes */
    int32_t nrec;                 /* records of rec used (a dead one among them is a hole until
                                     bs_tape_collect: a truncated node's not at the end) */
    int64_t hot_cap, rec_cap;     /* entries of hot and rec usable */
    size_t hot_have, rec_have;    /* their bytes usable */
    size_t rec_made;              /* rec's bytes whose pages were made (rec_taken) */
    int32_t ncompact;             /* compact nodes: rec is kept committed for nrec + ncompact
                                     records, so that filling one in never fails */
    int64_t reserved;             /* nodes (and records) the reservations have room for */
    char err[512];
    bs_status code;
    volatile sig_atomic_t interrupted;
    uint64_t rng[4];
    bool have_spare;
    double spare;
    bs_dtype dtype;
    bool no_grad;
    size_t bytes;                 /* values, grads */
    size_t limit;                 /* refuse single tensors above this many bytes */
    uint32_t pass;                /* backward pass counter (node->mark) */
    struct bs_bwd *live;          /* the backward iterator in progress, NULL when none (at most
                                     one: bs_grad_now reads its progress) */
    bs_dimvar dim[BS_MAX_DIMVARS];
    int ndim;
    struct bs_opt *opts;
    bs__txn txn;
    /* scopes: scope i (1-based) is name[i - 1] (interned in names), made inside parent[i - 1] */
    const char **scope_name;
    int32_t *scope_parent;
    int32_t *scope_ckpt;          /* the outermost checkpoint scope i is inside (itself, when it
                                     is one), 0: none (checkpoint.c) */
    int32_t nscope, capscope, cur_scope;
    int32_t nckpt;                /* checkpoints made: 0 keeps them off the backward's path */
    char **names;
    int32_t nnames, capnames;
    /* the scalar pass's scratch (backward.c), kept from one pass to the next */
    double *sp_g;                 /* gradient so far of the pass's non-leaf nodes, by root - id */
    int64_t sp_capg;
    int64_t *sp_step;             /* the nodes stepped (with two flags) */
    int32_t *sp_leaf;             /* the leaves reached */
    int64_t sp_capstep, sp_capleaf;
};

/* The pages of [p, p + bytes) made now, in one system call where the kernel offers it (Linux
   5.14's MADV_POPULATE_WRITE), for memory about to be written in full: a page first written
   costs a fault otherwise (about 10 us on a virtual machine, where 65k scalar nodes took 9,000
   of them). Whole pages inside the range only; nothing below 16 KiB, or where refused. */
void bs__prefault(void *p, size_t bytes);

/* node id's full record filled from its compact one (bs__hot), returned as its slot; logically
   const: the node reads the same before and after. Never fails (rec keeps the room). */
int32_t bs__materialize(bs_ctx *c, bs_id id);

static inline bool bs__is_full(const bs_ctx *c, bs_id id) { return c->slot[id] >= 0; }
/* a full node's record */
static inline bs__rec *bs__rec_at(const bs_ctx *c, bs_id id) { return &c->rec[c->slot[id]]; }

static inline bs_node *bs__node(const bs_ctx *c, bs_id id)
{
    int32_t k = c->slot[id];
    if (__builtin_expect(k < 0, 0)) k = bs__materialize((bs_ctx *)c, id);
    return &c->rec[k].n;
}

/* node id if its full record is its own, NULL for a compact one (bs__hot: a 0-d f64 op node,
   never a param or a leaf), for loops over the tape that look for params or leaves only */
static inline bs_node *bs__full(const bs_ctx *c, bs_id id)
{
    int32_t k = c->slot[id];
    return k >= 0 ? &c->rec[k].n : NULL;
}

/* an input of the 0-d f64 fast paths (apply_f64_scalar, the scalar pass): its value, version and
   requires_grad from whichever record is its own; false when it is not a 0-d f64 node */
static inline bool bs__scalar_in(const bs_ctx *c, bs_id id, double *v, uint32_t *ver, bool *rg)
{
    if (__builtin_expect(!bs__is_full(c, id), 1)) {
        const bs__hot *h = &c->hot[id];
        *v = h->val;
        *ver = h->version;
        *rg = h->f & BS_H_RG;
        return true;
    }
    const bs_node *x = &bs__rec_at(c, id)->n;
    if (x->value.shape.ndim != 0 || x->value.dtype != BS_F64) return false;
    *v = x->value.data[0];
    *ver = x->version;
    *rg = x->requires_grad;
    return true;
}

/* the record and the bookkeeping of a node of the tape */
static inline bs__rec *bs__rec_of(const bs_node *n)
{
    return (bs__rec *)((char *)(uintptr_t)n - offsetof(bs__rec, n));
}
static inline bs__book *BK(const bs_node *n) { return &bs__rec_of(n)->b; }
static inline bs__pass *PS(const bs_node *n) { return &bs__rec_of(n)->p; }

/* the writable node (NULL if out of range): core's alone; the others read through bs_node_get
   and change a node through the operations of backstep.h */
bs_node *bs_node_at(bs_ctx *c, bs_id id);

/* set the context's error; returns code */
bs_status bs__err(bs_ctx *c, bs_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* data storage for n doubles (zeroed); inline when n == 1 (then `inl` is used) */
double *bs__data_alloc(bs_ctx *c, int64_t n, double *inl);
void bs__data_free(bs_ctx *c, double *p, int64_t n, double *inl);
/* bytes check for a new tensor of n elements; BS_OK or NOMEM with PyTorch-like message */
bs_status bs__check_size(bs_ctx *c, const bs_shape *s);
void bs__round_tensor(bs_tensor *t);
/* the bs_tensor views of a node's inputs */
void bs__inputs(const bs_ctx *c, const bs_node *n, bs_tensor *in);
/* whether node n keeps input i for backward, or a buffer the op recomputes from its inputs
   (backstep's VJPs read the inputs themselves: a changed input then changes the gradient) */
bool bs__saves_input(const bs_ctx *c, const bs_node *n, int i);
/* internal backward with the option to ignore freed/version checks (gradcheck) */
bs_bwd *bs__backward_begin(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain,
                           bool detail, bool check_state);

/* the journal: call before changing node n (grad, freed, version, a param's value), and before
   optimizer o changes param id's state; both do nothing outside a statement's transaction */
void bs__txn_node(bs_ctx *c, bs_node *n);
void bs__txn_opt(bs_ctx *c, bs_opt *o, bs_id id, int64_t numel);
/* the same for compact node id (bs__hot) before the scalar pass steps it, kept compact (inline:
   once per node of a pass; bs__txn_hot_grow makes room, or sets lost) */
bool bs__txn_hot_grow(bs_ctx *c);
static inline void bs__txn_hot_node(bs_ctx *c, bs_id id)
{
    bs__txn *t = &c->txn;
    if (!t->on || id >= t->mark || (t->nh == t->caph && !bs__txn_hot_grow(c))) return;
    const bs__hot *h = &c->hot[id];
    t->h[t->nh++] = (bs__txn_hot){id, (uint8_t)(h->f & (BS_H_GRAD | BS_H_FREED)), h->grad};
}
void bs__txn_free(bs_ctx *c);
void bs__txn_reset(bs_ctx *c);
void bs__opt_free(bs_opt *o);

/* The backward schedule (backward.c): the one order both the eager iterator and replay plans
 * run a pass in. step: the nodes with a grad_fn the root reaches through requires-grad edges,
 * in the order they run (ids descending); leaf: the leaves reached, each once; lo: the lowest
 * step. mark (per node id, NULL: the nodes' own) is set to pass on every node of the pass;
 * check refuses a freed graph or an input changed in place. On failure the context has the
 * error and s is empty. */
typedef struct {
    int32_t *step, nstep, capstep;
    int32_t *leaf, nleaf, capleaf;
    int32_t lo;
} bs__sched;
bs_status bs__sched_build(bs_ctx *c, bs_id root, uint32_t pass, uint32_t *mark, bool check,
                          bs__sched *s);
void bs__sched_free(bs__sched *s);

/* An ADD made by bs_apply_linear_bias (attr.start): torch's addmm, the bias inside the product */
#define BS_ADD_ADDMM 1
/* node n's value computed again from its inputs' values, into dst (numel doubles), exactly as
   bs_apply made it (the 0-d fast path, addmm, a cast's conversion) */
bs_status bs__node_forward(bs_ctx *c, const bs_node *n, double *dst); /* the op's error */

/* Checkpoints (checkpoint.c). The checkpoint node id was made in (0: none). */
static inline int32_t bs__ckpt_of(const bs_ctx *c, const bs_node *n)
{
    return n->scope > 0 && n->scope <= c->nscope ? c->scope_ckpt[n->scope - 1] : 0;
}
/* the ids lo..hi of checkpoint k's nodes, found from one of them (they are made in a row) */
void bs__ckpt_range(const bs_ctx *c, int32_t k, bs_id near, bs_id *lo, bs_id *hi);
/* backward reached checkpoint k: its forward runs again from the values it reads (its inputs),
   each op node's value made anew; info says what ran. BS_OK or NOMEM. */
bs_status bs__ckpt_recompute(bs_ctx *c, int32_t k, bs_id near, bs_recompute_info *info);

/* optimizer state follows a compaction of the tape (bs_tape_collect) */
void bs__opt_remap(bs_ctx *c, const bs_id *remap, int32_t len, int32_t newlen);


#endif
