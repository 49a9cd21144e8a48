/* core/backstep.h: the public contract of backstep's engine (tensors, tape, op table, backward
 * iterator, gradcheck, forward mode, optimizers, backends, replay).
 *
 * Ownership
 *   - A bs_ctx owns everything: the tape's nodes, their values, grads and saved data, the size
 *     variables and the optimizers. bs_ctx_free() (or bs_ctx_reset()) releases all of it.
 *   - Nodes are addressed by bs_id, their index on the tape (creation order, which is topological).
 *     A bs_id stays valid until the next reset or bs_tape_collect(); node pointers from
 *     bs_node_get() stay valid as long (nodes live at fixed addresses and move only when collected).
 *   - Nodes are read-only outside core: bs_node_get() gives a const node, and the operations
 *     under "Changing a node" are the only changes. The engine's bookkeeping (pass marks, partial
 *     gradients, the journal's serials) is not in struct bs_node at all (core_int.h).
 *   - bs_tensor is a view: {dtype, shape, data}. Tensors inside nodes belong to the context; a
 *     caller that builds a bs_tensor for input owns its data and the engine copies what it keeps.
 *
 * Errors
 *   Functions that can fail return a bs_status (BS_OK == 0) or, for those returning a bs_id, a
 *   negative id. The message is in bs_errmsg(ctx), owned by the context, valid until the next call
 *   that fails. Nothing here prints, exits or aborts on bad input; an allocation that fails
 *   (absurd sizes included) is BS_ERR_NOMEM and leaves the tape as it was.
 *
 * Numbers
 *   Values are stored as doubles whatever the dtype; a node's dtype says what they are. f64 nodes
 *   compute in double. f32, f16 and bf16 follow PyTorch's CPU rules: each op reads its inputs as
 *   floats (a Python number or a wider operand cast to the op's dtype first), computes in float
 *   with the accumulation order of torch 1.13's CPU kernels (sums, matmul, softmax: core/ops_lp.c),
 *   and an f16/bf16 result is rounded to its format (forward and VJP, each tensor torch would
 *   materialise). i64 marks integer tensors (class indices, arange), which cannot require grad.
 */
#ifndef BACKSTEP_H
#define BACKSTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BS_MAX_DIMS 4
#define BS_MAX_INPUTS 3 /* where(cond, a, b), masked_fill(x, mask, value) */
#define BS_VERSION "0.1.0"

/* ==== Status ==== */
typedef enum {
    BS_OK = 0,
    BS_ERR_SHAPE,  /* shapes do not fit the op */
    BS_ERR_VALUE,  /* a value outside the op's domain or a bad argument value */
    BS_ERR_TYPE,   /* wrong dtype (grad on integers, float class indices) */
    BS_ERR_NOMEM,  /* allocation failed or size absurd */
    BS_ERR_STATE,  /* graph state forbids it (freed graph, no seed, modified in place) */
    BS_ERR_ARG,    /* wrong arity or unknown attribute */
    BS_ERR_INTERRUPT, /* bs_ctx_interrupt() was called while it ran */
    BS_ERR_UNSUPPORTED /* the backend does not have it (no device, op or dtype missing) */
} bs_status;

/* ==== Types ==== */
typedef enum { BS_F64, BS_F32, BS_F16, BS_BF16, BS_I64, BS_DTYPE_COUNT } bs_dtype;

typedef struct {
    int ndim;                 /* 0 for a scalar */
    int64_t d[BS_MAX_DIMS];   /* sizes, row-major */
} bs_shape;

typedef struct {
    bs_dtype dtype;
    bs_shape shape;
    double *data;             /* numel doubles, row-major; NULL for "no tensor" */
} bs_tensor;

typedef int32_t bs_id;        /* tape index; BS_NONE (-1) for none */
#define BS_NONE (-1)

/* ==== The op table ==== */
typedef enum {
#define BS_OP(ID, fn, sym, ar, kind, flags, gfn, da, db, dc, help) BS_OP_##ID,
#include "ops.def"
#undef BS_OP
    BS_OP_COUNT,
    BS_OP_LEAF = -1           /* not an op: a leaf (literal, constructor, param, detach) */
} bs_op;

typedef enum { BS_K_EW, BS_K_RED, BS_K_SHAPE, BS_K_MAT, BS_K_ROW, BS_K_LOSS, BS_K_INDEX } bs_op_kind;
enum {
    BS_F_INT = 1u << 0,  /* integer inputs give an integer result (add, sum, reshape ...) */
    BS_F_VIEW = 1u << 1, /* PyTorch returns a view of the input (same storage): x.T, reshape of a
                            contiguous tensor, x[i], x[a:b] */
    BS_F_INDEX1 = 1u << 2 /* input 1 holds integer indices (cross_entropy's classes, index_select's
                             index): an i64 one stays integer on the backends (int32), it is not
                             converted to numbers */
};
/* input i is a mask (where's condition, masked_fill's mask): any dtype, nonzero meaning true; it
   takes no gradient and no part in the result's dtype or requires_grad */
#define BS_F_MASK(i) (1u << (3 + (i)))

/* Op attributes: everything an op takes that is not a tensor input. */
typedef struct {
    int dim;                  /* reductions and row ops; BS_DIM_ALL for "all elements" */
    bool keepdim;
    double k;                 /* leaky_relu slope, layernorm eps, clamp min (-inf: None), gelu's
                                 approximate (0: 'none', BS_GELU_TANH: 'tanh') */
    double k2;                /* clamp max (+inf: None) */
    bs_shape shape;           /* reshape target (after -1 resolution) */
    int8_t shape_sym[BS_MAX_DIMS]; /* reshape: size variable per target dim, -1 = literal */
    /* select: start is the index; slice: Python's start:stop:step as given (BS_SLICE_NO_START,
       BS_SLICE_NO_STOP for an omitted bound). Kept as given and resolved against the input's size
       by the op each time, so that a replay at other sizes slices what the same text would. */
    int64_t start, stop, step;
} bs_attr;
#define BS_DIM_ALL 127
#define BS_GELU_TANH 1.0
#define BS_SLICE_NO_START INT64_MIN /* x[:b]: from the first element */
#define BS_SLICE_NO_STOP INT64_MAX  /* x[a:]: to the last */

typedef struct bs_ctx bs_ctx;
typedef struct bs_node bs_node;

/* What an op keeps for backward, as PyTorch's grad_fn keeps it (its _saved_* attributes, for the
 * same inputs and the same requires-grad pattern). saved() gets each input as below and writes up
 * to BS_MAX_SAVED entries; :mem, :show and the backward pass's freed / in-place checks read them. */
typedef struct {
    bs_shape shape;
    bs_dtype dtype;
    bool requires_grad;
    bool number;              /* a Python number the user typed: PyTorch takes it as a Scalar
                                 (saving nothing) or wraps it in a 0-d int64/double tensor */
} bs_saved_in;

typedef enum {
    BS_SAVE_INPUT,            /* input `input` itself (PyTorch may keep a view: same storage) */
    BS_SAVE_RESULT,           /* the op's output */
    BS_SAVE_BUFFER            /* a tensor the op makes for backward: indices, mean, rstd ... */
} bs_save_kind;

typedef struct {
    const char *role;         /* PyTorch's attribute without "_saved_": "self", "other", "mat2",
                                 "result", "indices", "result1" ... */
    bs_save_kind kind;
    int input;                /* BS_SAVE_INPUT: which input */
    bs_shape shape;           /* BS_SAVE_BUFFER: its shape and dtype */
    bs_dtype dtype;
} bs_saved;
#define BS_MAX_SAVED 4

typedef struct {
    bs_op id;
    const char *name;          /* function name: "sigmoid" */
    const char *symbol;        /* graph symbol: "sigmoid", "+" */
    int arity;
    bs_op_kind kind;
    const char *grad_fn;       /* "SigmoidBackward0" */
    const char *deriv[BS_MAX_INPUTS]; /* local derivative templates, see ops.def */
    const char *help;
    unsigned flags;            /* BS_F_* */
    /* out shape from input shapes and dtypes; BS_OK or an error (PyTorch's wording) in err */
    bs_status (*shape)(const bs_shape *in, const bs_dtype *dt, const bs_attr *a, bs_shape *out,
                       char *err, size_t errlen);
    /* forward: out = f(in) (out preallocated with the inferred shape). Value errors (a class
       index out of range) return non-BS_OK with a message; NaN/inf are values, not errors. */
    bs_status (*fwd)(const bs_tensor *in, const bs_attr *a, bs_tensor *out, char *err, size_t errlen);
    /* VJP for input i: din += G^T J_i, with access to inputs and output */
    void (*vjp)(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *g,
                int i, bs_tensor *din);
    /* JVP: dout = sum_i J_i din_i (din[i].data NULL: zero tangent) */
    void (*jvp)(const bs_tensor *in, const bs_tensor *out, const bs_attr *a, const bs_tensor *din,
                bs_tensor *dout);
    double (*flops)(const bs_shape *in, const bs_shape *out, const bs_attr *a); /* forward FLOPs */
    /* the tensors saved for backward (see bs_saved), for these inputs and an output of shape out
       and dtype odt, as PyTorch saves them: the count (0: nothing), entries in sv */
    int (*saved)(const bs_saved_in *in, const bs_shape *out, bs_dtype odt, const bs_attr *a,
                 bs_saved *sv);
    /* elementwise ops only (NULL otherwise): the scalar functions the tensor loops are made of,
       y = f(a, b; k) and g * dy/d(input i), for the tape's fast path on 0-d nodes */
    double (*s_fwd)(double a, double b, double k, double k2);
    double (*s_vjp)(double g, double a, double b, double y, double k, double k2, int i);
} bs_op_info;

extern const bs_op_info bs_ops[BS_OP_COUNT];
const bs_op_info *bs_op_by_name(const char *name); /* NULL if none */

/* ==== Shapes and tensors ==== */
int64_t bs_shape_numel(const bs_shape *s);     /* INT64_MAX when the product overflows */
char *bs_bytes_str(double bytes, char *buf, size_t len); /* "11.8 GiB" */
double bs_bytes_parse(const char *s);          /* "4GiB", "512M", "1e9" -> bytes; -1 if not one */
bool bs_shape_eq(const bs_shape *a, const bs_shape *b);
/* NumPy broadcast of a and b into out; false if incompatible */
bool bs_shape_broadcast(const bs_shape *a, const bs_shape *b, bs_shape *out);
/* "(2, 3)" into buf; returns buf */
char *bs_shape_str(const bs_shape *s, char *buf, size_t len);
/* v as Python's repr(float) writes it: the shortest digits that read back ("0.1", "1e-05",
   "-1.0", "nan", "inf") */
char *bs_float_repr(double v, char *buf, size_t len);
const char *bs_dtype_name(bs_dtype t);
bool bs_dtype_parse(const char *s, bs_dtype *out);
size_t bs_dtype_size(bs_dtype t);
double bs_dtype_round(bs_dtype t, double v);  /* v rounded to what t can hold */
/* v rounded to f16 or bf16 (nearest even, as PyTorch's float -> Half/BFloat16 conversion), v itself
   for f32 (and f64, i64): how the float path stores each result of an op in a 16-bit dtype */
float bs_dtype_roundf(bs_dtype t, float v);
/* whether t computes in float (f32, f16, bf16: PyTorch's CPU rules) rather than double */
/* which functions the float path's exp, log, tanh, ... are: "sleef" (PyTorch's: its AVX2 kernels
   call SLEEF; a build with SLEEF on a CPU with AVX2 and FMA) or "libm" */
const char *bs_float_math(void);
static inline bool bs_dtype_in_float(bs_dtype t) { return t == BS_F32 || t == BS_F16 || t == BS_BF16; }
static inline int64_t bs_tensor_numel(const bs_tensor *t) { return bs_shape_numel(&t->shape); }

/* ==== Nodes and the tape ==== */
typedef enum {
    BS_INIT_NONE = 0,  /* a computed node */
    BS_INIT_DATA,      /* literal data (tensor([...]), numbers) */
    BS_INIT_RANDN, BS_INIT_RAND, BS_INIT_ZEROS, BS_INIT_ONES, BS_INIT_EYE, BS_INIT_ARANGE,
    BS_INIT_FULL,      /* a scalar broadcast to a shape */
    BS_INIT_COPY       /* param(expr)/detach: a copy of node `src`'s value at creation */
} bs_init_kind;

struct bs_node {
    /* the fields a backward pass reads come first, in the record's first cache lines (scalar
       graphs are memory-bound): a 0-d node made by an elementwise op touches only these */
    bs_id id;
    bs_op op;                       /* BS_OP_LEAF for leaves */
    int nin;
    bs_id in[BS_MAX_INPUTS];
    uint32_t version;               /* bumped by in-place updates (optimizer steps) */
    bool requires_grad;
    bool is_leaf;                   /* no grad_fn: literals, constructors, params, detached */
    bool is_param;                  /* a leaf that requires grad (param(...), requires_grad=True) */
    bool in_no_grad;                /* made under no_grad */
    bool is_number;                 /* bs_scalar: a Python number the user typed, not a tensor */
    bool is_bool;                   /* the REPL's mark on an int64 0/1 leaf: a mask that shows and
                                       indexes as torch.bool (core treats it as the int64 it is) */
    bool is_cast;                   /* bs_cast: x.half(), x.to(dtype) of a tensor that requires
                                       grad (PyTorch's ToCopyBackward0), a reshape to x's own shape
                                       whose dtype is the target */
    bool loss_sum;                  /* a loss with reduction='sum': this mul times the count, shown
                                       with the loss's grad_fn (bs_node_grad_fn) as torch shows it */
    int32_t scope;                  /* the module or function call that made it (bs_scope_*), 0:
                                       none */
    /* inline storage for scalars: value.data/grad.data point here when numel == 1 */
    double sval, sgrad;
    bs_tensor value;                /* always present */
    bs_tensor grad;                 /* grad.data NULL until a backward pass reaches the node */
    bs_attr attr;
    /* where a leaf came from, for replay at other sizes */
    bs_init_kind init;
    bs_id init_src;                 /* BS_INIT_COPY: the node copied */
    double init_arg[2];             /* FULL: value; ARANGE: start, step */
    int8_t sym[BS_MAX_DIMS];        /* size variable per dim, -1 = literal */
    int8_t hi_sym1;                 /* randint(0, V, ...): V's size variable + 1 (0: none), so that
                                       a replay draws below V's value there */
    int rebound;                    /* count of later rebindings of `label` (shown as z1') */
    /* labels the REPL gave it */
    char *label;                    /* name bound to it ("z1"), NULL if none */
    char *text;                     /* source text of the expression ("w11 * x1"), may be NULL */
};

/* ==== Scopes: which module or function call made a node ====
 * Each call the REPL makes (a def, model.fc1 (Linear), ...) is one scope, with its name and the
 * scope it was made in; nodes made while it is current carry its number. Numbers start at 1 and
 * survive bs_tape_collect; bs_ctx_reset forgets them. */
int32_t bs_scope_enter(bs_ctx *c, const char *name); /* makes and enters a scope; returns the one
                                                        to give back to bs_scope_leave, -1 if out
                                                        of memory (nothing entered) */
void bs_scope_leave(bs_ctx *c, int32_t prev);
const char *bs_scope_name(const bs_ctx *c, int32_t scope); /* NULL for 0 or unknown */
int32_t bs_scope_parent(const bs_ctx *c, int32_t scope);   /* 0 at the top */
int32_t bs_scope_count(const bs_ctx *c);                   /* scopes made so far */

bs_ctx *bs_ctx_new(void);
void bs_ctx_free(bs_ctx *c);
void bs_ctx_reset(bs_ctx *c);                   /* drop every node, size variable, optimizer */
const char *bs_errmsg(const bs_ctx *c);
bs_status bs_errcode(const bs_ctx *c);
void bs_ctx_interrupt(bs_ctx *c);               /* async-signal-safe: long loops stop */
void bs_ctx_clear_interrupt(bs_ctx *c);
void bs_ctx_seed(bs_ctx *c, uint64_t seed);
/* the generator's state, so a statement that failed can take back the numbers it drew */
typedef struct { uint64_t s[4]; bool have_spare; double spare; } bs_rng_state;
void bs_ctx_rng_save(const bs_ctx *c, bs_rng_state *r);
void bs_ctx_rng_restore(bs_ctx *c, const bs_rng_state *r);
void bs_ctx_set_dtype(bs_ctx *c, bs_dtype t);   /* dtype of new float leaves */
bs_dtype bs_ctx_dtype(const bs_ctx *c);
void bs_ctx_set_no_grad(bs_ctx *c, bool on);
bool bs_ctx_no_grad(const bs_ctx *c);
size_t bs_ctx_bytes(const bs_ctx *c);          /* bytes held by values, grads and saved data */
/* Memory limit: a new tensor is refused (BS_ERR_NOMEM, the sizes in the message) when it alone or
   the session's running total with it would pass this many bytes. Default: half the physical
   memory; 0 restores the default. */
size_t bs_mem_limit_default(void);
void bs_ctx_set_mem_limit(bs_ctx *c, size_t bytes);
size_t bs_ctx_mem_limit(const bs_ctx *c);

/* A statement's transaction: after bs_txn_begin, rollback undoes everything the engine did since
 * (nodes made, random numbers drawn, size variables defined, optimizers made, and on the nodes
 * that were there before: grads, freed graphs, versions, params' values, optimizer state and step
 * counts); commit keeps it. Its cost is what the statement touched. begin returns false (and the
 * pair does nothing) when one is open already or a backward pass is live. rollback returns false
 * when the journal ran out of memory and could not restore everything. */
bool bs_txn_begin(bs_ctx *c);
void bs_txn_commit(bs_ctx *c);
bool bs_txn_rollback(bs_ctx *c);

int32_t bs_tape_len(const bs_ctx *c);
/* drop every node from len on (a failed statement's partial work); grads of earlier nodes stay */
void bs_tape_truncate(bs_ctx *c, int32_t len);
/* Reclaim what nothing reaches: keep the nodes reachable from the ids *keep[0..nkeep-1] (through
 * their inputs, and the expression a param was copied from; a detached copy does not hold its
 * source, which then reads as gone: init_src BS_NONE) and drop the rest with their values, grads
 * and optimizer state. Survivors keep their order and are renumbered densely; each *keep[i] is
 * rewritten to its new id (BS_NONE entries are skipped). Every other bs_id and node pointer the
 * caller holds is invalid afterwards. BS_ERR_STATE while a backward pass is live. Returns the
 * number of nodes dropped, or -1. */
int32_t bs_tape_collect(bs_ctx *c, bs_id *const *keep, int nkeep);
const bs_node *bs_node_get(const bs_ctx *c, bs_id id);
void bs_node_set_label(bs_ctx *c, bs_id id, const char *label); /* copies; the caller bumps the
                                                  previous holder's `rebound` when rebinding */
void bs_node_set_text(bs_ctx *c, bs_id id, const char *text);
/* the same without a copy: text must outlive the context (the REPL's interned label texts) */
void bs_node_borrow_text(bs_ctx *c, bs_id id, const char *text);
/* node id's text (NULL: none, or no such node), read without filling in a compact node */
const char *bs_node_text(const bs_ctx *c, bs_id id);
/* The display name, never NULL: its label (z1, or z1' once the name was bound to a newer node);
 * else the text that made it when that is at most BS_NAME_TEXT bytes (w11 * x1); a scalar leaf's
 * value (0.5); an op made inside a module or function call, the op and the call ("matmul in
 * model.0 (Linear)"); a longer text, cut ("w11 * x1 + w12 * x2..."); else the op and its node
 * number ("add (node 31)"). */
#define BS_NAME_TEXT 24
const char *bs_node_name(const bs_ctx *c, bs_id id, char *buf, size_t len);
/* the count a mean-reduced node divides by (a loss: its elements, or cross_entropy's rows; a
   mean: the elements per output), what the stepper's {n} is; 1 for a node without inputs */
double bs_node_mean_count(const bs_ctx *c, bs_id id);
/* PyTorch's name for the node's backward ("MulBackward0"; a cast: "ToCopyBackward0"; a
   loss_sum node: its loss's); NULL for a leaf */
const char *bs_node_grad_fn(const bs_ctx *c, bs_id id);
/* mark id (loss * count, made for reduction='sum') as the loss it sums: see loss_sum */
void bs_node_mark_loss_sum(bs_ctx *c, bs_id id);

/* ==== Walking back from a root ====
 * on[i] becomes true for root and each node it depends on through op inputs, in one sweep down
 * (ids are topological). With BS_WALK_GRAD only the edges a backward pass sends a gradient along:
 * from a node with a grad_fn to an input that requires grad in a slot the op differentiates.
 * on has room for root + 1 entries (false on entry, or marks to add to); returns the count of
 * nodes marked and reached. */
#define BS_WALK_GRAD 1u
int32_t bs_tape_walk(const bs_ctx *c, bs_id root, unsigned flags, bool *on);

/* ==== Changing a node ====
 * Nodes are read through bs_node_get (const); these are the only changes made from outside core.
 * Each records itself in an open statement journal where it matters. */
/* saved tensors released by a backward without retain_graph */
bool bs_node_freed(const bs_ctx *c, bs_id id);
/* x.requires_grad_(on) on a leaf: BS_ERR_ARG with PyTorch's message for an integer tensor or a
   node with a grad_fn */
bs_status bs_node_set_requires_grad(bs_ctx *c, bs_id id, bool on);
/* an int64 node as a torch.bool mask: values made 0/1, shown and indexed as bool */
void bs_node_mark_bool(bs_ctx *c, bs_id id);
/* a leaf converted to dtype t in place, its value and grad rounded: tensor(x, dtype=...), and a
   module's params under model.half() / .float() / .to(dtype) (PyTorch's Module._apply); kept by
   an open statement journal */
bs_status bs_leaf_convert(bs_ctx *c, bs_id id, bs_dtype t);
/* `name = ...` binds name to id: old (BS_NONE: none), the node name held before, counts one more
   rebinding if it was labelled name (shown z1'); id takes the label unless it has one already */
void bs_node_rebind(bs_ctx *c, bs_id old, bs_id id, const char *name);
/* how a leaf replays at other sizes: its initializer, arguments, the size variable of each dim
   (sym, NULL: unchanged) and for randint the size variable of its bound (hi_sym, -1: none) */
void bs_leaf_set_init(bs_ctx *c, bs_id id, bs_init_kind kind, double arg0, double arg1,
                      const int8_t *sym, int hi_sym);
/* recompute the tape up to upto from its leaves' current values (after a replay stored params
   back) and make it consistent again: its saved tensors are fresh, so nothing is freed or
   stale */
bs_status bs_tape_refresh(bs_ctx *c, bs_id upto);

/* ==== Saved tensors (what :mem counts) ====
 * A node's saved tensors (its op's saved() for its inputs) resolved on the tape: each is one
 * storage, named by the node whose value it is, followed through views (x.T keeps x's storage),
 * or, for a buffer the op made, by the node and the buffer's slot. Entries with the same
 * (tensor, slot) are one tensor in memory: a sum over a graph counts each once. */
typedef struct {
    const char *role;     /* bs_saved.role: "self", "other", "result", "indices" ... */
    bs_id tensor;         /* the node whose storage it is; for a buffer, the node that made it */
    int slot;             /* -1: that node's value; k >= 0: the node's buffer k */
    bs_id value;          /* the node the op reads it as (an input, the node itself), before
                             following views; BS_NONE for a buffer */
    size_t bytes;         /* the storage's size: numel x dtype size (8 for a wrapped number) */
    bs_shape shape;       /* a buffer's shape and dtype (what it is, as :mem prints it) */
    bs_dtype dtype;
    bool recomputed;      /* made inside the same checkpoint as the node: not kept after the
                             forward, made again when backward reaches the checkpoint */
} bs_saved_tensor;
/* Writes up to BS_MAX_SAVED entries; returns the count: 0 for a leaf and for a node that needs no
 * grad (PyTorch makes no grad_fn). A freed node (n->freed) reports what it kept before backward
 * released it. */
int bs_node_saved(const bs_ctx *c, bs_id id, bs_saved_tensor *out);

/* ==== Building ==== */
/* A leaf from data (copied). requires_grad on an integer dtype is BS_ERR_TYPE. */
bs_id bs_leaf(bs_ctx *c, const double *data, const bs_shape *shape, bs_dtype t, bool requires_grad);
bs_id bs_scalar(bs_ctx *c, double v, bs_dtype t);                /* a constant: a Python number
                                                  (is_number; ops that PyTorch gives a Scalar
                                                  save what they would for one) */
/* constructors: randn rand zeros ones eye arange full; sym[] may be NULL */
bs_id bs_make(bs_ctx *c, bs_init_kind kind, const bs_shape *shape, const int8_t *sym, bs_dtype t,
              double arg0, double arg1);
/* param(x) / tensor(x, requires_grad=True) / x.detach(): a new leaf copying x's value */
bs_id bs_copy_leaf(bs_ctx *c, bs_id src, bool requires_grad);
/* apply an op; records a node unless no_grad (then the result is a plain leaf-like constant) */
bs_id bs_apply(bs_ctx *c, bs_op op, const bs_id *in, const bs_attr *attr);
bs_id bs_apply1(bs_ctx *c, bs_op op, bs_id a);
bs_id bs_apply2(bs_ctx *c, bs_op op, bs_id a, bs_id b);
/* mm + b as nn.Linear's forward on a 2-D input: the add, whose value in the float path is
   torch's addmm(b, x, W.t()) (the bias added inside the product, one rounding) */
bs_id bs_apply_linear_bias(bs_ctx *c, bs_id mm, bs_id b);
/* x converted to dtype t, differentiably (x.half(), x.to(torch.float32)): its grad comes back
   converted to x's dtype, as autograd's ToCopyBackward0 does. x itself when it has dtype t. */
bs_id bs_cast(bs_ctx *c, bs_id x, bs_dtype t);
/* torch's result_type for n operands of dtypes dts in tiers (0: a Python number, 1: a 0-d
   tensor, 2: a tensor with dims; -1: no part): the promoted dtype of the highest tier that holds
   the highest category (float over integer); all integers give i64 when int_op, else deflt */
bs_dtype bs_result_dtype(const bs_dtype *dts, const int *tiers, int n, bool int_op, bs_dtype deflt);
bs_attr bs_attr_default(bs_op op);              /* dim = -1 or ALL as the op wants, k = slope/eps */

/* ==== Indexing: the ops PyTorch's x[...] lowers to ====
 * Each returns the new node, or a negative id with the reason in bs_errmsg (PyTorch's words where
 * it has them): a dim outside [-ndim, ndim) is BS_ERR_VALUE, as for the reductions. dim counts
 * from the end when negative. The results are views in PyTorch (select, slice), which :mem
 * follows. Their attributes are kept as given and resolved against the input's size each time,
 * so a replay at other sizes (bs_plan_new) indexes what the same expression would there. */
/* x[..., index, ...]: the dim removed. index in [-size, size), negative counting from the end
   (BS_ERR_VALUE otherwise: "select(): index 3 out of range for tensor of size [2, 3] at dimension
   1"); a 0-d x is BS_ERR_SHAPE. SelectBackward0: the gradient is G put back at index, zero
   elsewhere. */
bs_id bs_select(bs_ctx *c, bs_id x, int dim, int64_t index);
/* x[..., start:stop:step, ...], Python's slice rules: start and stop count from the end when
   negative and are clamped into [0, size] (an empty result is fine), BS_SLICE_NO_START and
   BS_SLICE_NO_STOP leave a bound out; step > 0 (BS_ERR_VALUE otherwise). SliceBackward0. */
bs_id bs_slice(bs_ctx *c, bs_id x, int dim, int64_t start, int64_t stop, int64_t step);
/* torch.index_select(x, dim, index), also what x[index] with an integer tensor is along dim 0:
   index is a 0-d or 1-D i64 tensor (BS_ERR_TYPE / BS_ERR_SHAPE otherwise); the result is x with
   dim's size replaced by index's length (a 0-d x takes one index and stays 0-d). Entries in [-size, size), negative counting from the end
   as x[index] does (torch.index_select itself refuses negatives); one out of range is
   BS_ERR_VALUE, "index 3 is out of bounds for dimension 1 with size 3". Repeated entries add
   their gradients. IndexSelectBackward0 (it keeps the index). */
bs_id bs_index_select(bs_ctx *c, bs_id x, int dim, bs_id index);
/* torch.where(cond, a, b): a where cond is nonzero, else b; the three broadcast together. cond
   may be f64 or i64 (backstep has no bool tensors) and takes no gradient. WhereBackward0 (it
   keeps the condition). */
bs_id bs_where(bs_ctx *c, bs_id cond, bs_id a, bs_id b);
/* x.masked_fill(mask, value): value where mask is nonzero, else x; mask and x broadcast together
   (out of place, as torch's), value is 0-d (a number, bs_scalar, or a tensor that may require
   grad: it gets the sum of the gradient where mask is set). mask may be f64 or i64 and takes no
   gradient. MaskedFillBackward0 (it keeps the mask; torch names the node MaskedFillBackward1 when
   the value is a tensor). */
bs_id bs_masked_fill(bs_ctx *c, bs_id x, bs_id mask, bs_id value);

/* ==== Checkpoints: torch.utils.checkpoint(fn, *args, use_reentrant=False) ====
 * The nodes made while a checkpoint is entered are its own (nested calls too). Their saved
 * tensors that the checkpoint made itself are not kept (bs_saved_tensor.recomputed): what it keeps
 * is what it reads from outside, its inputs (and the params it uses, which exist anyway). When a
 * backward pass reaches one of its nodes, the checkpoint's forward runs again first (its op
 * nodes' values made anew from their inputs, as PyTorch's recomputation does), then its VJPs;
 * the step that follows reports it. Replay plans (:run) free those values after the forward and
 * make them again in backward. */
typedef struct {
    int32_t scope;        /* the checkpoint (a scope: bs_scope_name), 0: nothing ran */
    int nodes;            /* op nodes whose forward ran again */
    bool same;            /* every value made again equals the forward's, bit for bit */
    double flops;         /* their forward FLOPs */
    bs_id lo, hi;         /* the checkpoint's first and last node */
} bs_recompute_info;
/* enters a checkpoint named name (a scope, see bs_scope_enter); returns the scope to give back to
   bs_scope_leave, -1 if out of memory */
int32_t bs_checkpoint_enter(bs_ctx *c, const char *name);
/* the checkpoint node id was made in (its scope), 0: none */
int32_t bs_node_checkpoint(const bs_ctx *c, bs_id id);

/* ==== Backward ==== */
typedef struct {
    bs_id input;
    bool gets_grad;       /* input requires grad (else no VJP is computed) */
    bool accumulated;     /* input already had a gradient from another path in this pass */
    bool local_ok;        /* local holds d out/d input elementwise (ew op without broadcast, or scalar out) */
    bool local_bcast;     /* the input broadcasts in an ew op: local holds each output
                             element's d out/d input, at the output's shape */
    bs_tensor local;      /* local derivative (iterator-owned), if local_ok */
    bs_tensor vjp;        /* what was added to the input's grad (iterator-owned) */
    bs_tensor after;      /* this pass's gradient of the input right after this contribution:
                             the running total d root/d input (iterator-owned; a later slot of
                             the same step that is the same tensor, x * x, adds after it) */
} bs_step_input;

typedef struct {
    bs_id node;
    int index, total;     /* 1-based step number, number of steps in this pass */
    bs_tensor upstream;   /* dL/dnode (iterator-owned) */
    int nin;
    bs_step_input in[BS_MAX_INPUTS];
    bs_recompute_info recompute; /* a checkpoint's forward that ran again just before this step */
} bs_step;
/* how many entries of step st's VJP for input k are 0 in the input's dtype but nonzero when the
   same VJP (same upstream, same values) is computed in double: the stepper's underflow mark */
int64_t bs_step_underflow(const bs_ctx *c, const bs_step *st, int k);

typedef struct bs_bwd bs_bwd;
/* Start a backward pass from root. seed NULL: root must be a single element (seed 1).
 * want_detail: fill local derivatives (costs one more VJP per input; for the stepper).
 * Errors (no seed, freed graph, nothing requires grad, modified in place) are found here, before
 * any gradient changes. */
bs_bwd *bs_backward_begin(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain_graph,
                          bool want_detail);
/* Next step into *out (valid until the next call). Returns 1 with a step, 0 when done, <0 error. */
int bs_backward_next(bs_bwd *b, bs_step *out);
/* A pass for explanations and slide frames: detail on, retained, and it ignores freed/in-place
 * state (values are all still on the tape). It changes grads like any pass: take a snapshot first
 * and restore it after bs_backward_abort(). */
bs_bwd *bs_backward_replay_begin(bs_ctx *c, bs_id root, const bs_tensor *seed);
void bs_backward_end(bs_bwd *b);                 /* finishes bookkeeping (frees saved data unless
                                                    retained) and releases the iterator */
void bs_backward_abort(bs_bwd *b);               /* release without touching freed flags */
bs_status bs_backward(bs_ctx *c, bs_id root, const bs_tensor *seed, bool retain_graph);

/* The gradient of node id as every surface shows it (x.grad, :vars, :show, the window, exports).
 * With no pass in progress: its .grad. While an iterator is live (a stepped pass, or a replay for
 * explanations and frames): the gradient accumulated so far, that is the grad before the pass plus
 * what this pass has added up to the last step returned, rounded to the node's dtype as the end of
 * the pass rounds it, so that after the last contribution it equals what bs_backward() leaves.
 * dst (numel doubles, may be NULL to ask only the state) receives it unless the result is NONE. */
typedef enum {
    BS_GRAD_NONE = 0,   /* None: no pass has reached it (dst untouched) */
    BS_GRAD_FINAL,      /* no pass in progress will change it */
    BS_GRAD_PARTIAL     /* on the live pass and not complete yet: more may be added */
} bs_grad_state;
bs_grad_state bs_grad_now(const bs_ctx *c, bs_id id, double *dst);
/* Is an iterator live? Then its root, the steps returned so far and the steps in all (any may be
 * NULL). */
/* where a node stands in the live pass: OFF (no live pass, or not on it), WAITING (on it, no
   gradient has reached it yet), REACHED (some has; for a leaf, all of it once every step that uses
   it has run), STEPPED (a node with a grad_fn whose step has run) */
typedef enum { BS_PASS_OFF, BS_PASS_WAITING, BS_PASS_REACHED, BS_PASS_STEPPED } bs_pass_state;
bs_pass_state bs_backward_state(const bs_ctx *c, bs_id id);
bool bs_backward_progress(const bs_ctx *c, bs_id *root, int *index, int *total);

/* grads: set to None (PyTorch's set_to_none) */
void bs_zero_grad(bs_ctx *c, bs_id id);
void bs_zero_grad_all(bs_ctx *c);                /* every param */
/* snapshot and restore every grad (the stepper's :abort); the snapshot is opaque */
typedef struct bs_grad_snapshot bs_grad_snapshot;
bs_grad_snapshot *bs_grad_snapshot_take(bs_ctx *c);
void bs_grad_snapshot_restore(bs_ctx *c, bs_grad_snapshot *s); /* also frees s */
void bs_grad_snapshot_free(bs_grad_snapshot *s);

/* ==== Formulas (core/formula.c) ====
 * An op's local derivative is one expression in ops.def, in the language's own syntax. Rendering
 * puts each operand's own expression in (its name; a constant as its number; an unnamed result as
 * its op applied to its inputs, recursively; `out` for an unnamed output) and prints with the
 * fewest parentheses Python's precedence needs, so the text pasted at the prompt computes what is
 * shown. A conditional whose test is known (scalar operands) prints as the branch taken. All
 * functions write into buf (cut to len) and return it. */
/* numbers false: names; true: scalar operands as their values, with at least `prec` significant
 * digits and more where needed so that the numbers as printed give the value at `prec` digits */
char *bs_deriv_render(const bs_ctx *c, bs_id node, int i, bool numbers, int prec, char *buf,
                      size_t len);
/* the template itself, for :help (a, b, out, n, slope; A, B, Y, G in matrix rules) */
char *bs_deriv_render_generic(bs_op op, int i, char *buf, size_t len);
bool bs_deriv_is_rule(bs_op op, int i);    /* a VJP rule in matrix form ("dA = G @ B.T") */
bool bs_deriv_parses(bs_op op, int i);     /* the template is a well-formed expression */
/* the rendered formula at this node has no operand in it (1, -1, 1 / 3) */
bool bs_deriv_is_const(const bs_ctx *c, bs_id node, int i);
/* the formula's value at a node whose inputs and output are scalars (false otherwise) */
bool bs_deriv_eval(const bs_ctx *c, bs_id node, int i, double *out);
/* the template's value at given operands (elementwise ops and losses; false for rules) */
bool bs_deriv_eval_at(bs_op op, int i, double a, double b, double out, double n, double slope,
                      double k2, double *v); /* slope: attr.k (also clamp's min and gelu's
                                                approximate), k2: attr.k2 */
/* a node as an expression (name, or op applied to its inputs), shortened with ... past maxlen */
char *bs_node_expr(const bs_ctx *c, bs_id id, size_t maxlen, char *buf, size_t len);

/* ==== Forward mode (JVP) ==== */
/* Tangents of every node from root-independent forward sweep: tangent of `wrt` is `dir`
 * (NULL: ones). Calls visit(node, tangent) in creation order for nodes that depend on wrt. */
typedef void (*bs_jvp_visit)(void *ud, bs_id node, const bs_tensor *tangent);
bs_status bs_jvp(bs_ctx *c, bs_id wrt, const bs_tensor *dir, bs_id upto, bs_jvp_visit visit, void *ud);

/* ==== Gradcheck ==== */
typedef struct {
    bs_id param;
    double max_abs_err;   /* max |analytic - numeric| */
    double max_rel_err;
    int64_t worst_index;
    double analytic, numeric;   /* at worst_index */
} bs_gradcheck_result;
/* For every param (requires-grad leaf) that `root` depends on: central differences with step eps
 * in double, re-evaluating the graph, against one backward pass. Does not change grads.
 * Writes up to max results; returns count or <0 on error. */
int bs_gradcheck(bs_ctx *c, bs_id root, double eps, bs_gradcheck_result *res, int max);
/* Re-evaluate every non-leaf node between leaves and upto (inclusive) from current leaf values. */
bs_status bs_recompute(bs_ctx *c, bs_id upto);

/* ==== Optimizers ==== */
typedef enum { BS_OPT_SGD, BS_OPT_ADAM } bs_opt_kind;
typedef struct {
    bs_opt_kind kind;
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
    double beta1, beta2, eps;
} bs_opt_conf;
typedef struct bs_opt bs_opt;
bs_opt_conf bs_opt_defaults(bs_opt_kind k);     /* torch.optim's defaults (sgd lr must be set) */
/* owned by c. NULL and BS_ERR_VALUE for what torch.optim refuses, in its words and order
 * ("Invalid learning rate: -1.0", "Invalid epsilon value: ...", "Invalid beta parameter at
 * index 0: ...", "Invalid momentum value: ...", "Invalid weight_decay value: ..."). */
bs_opt *bs_opt_new(bs_ctx *c, const bs_opt_conf *conf);
/* One step, as torch.optim's step(): every param whose grad is not None is updated in place
 * (bumping its version); a param whose grad is None is skipped and its state left alone. State
 * is per param and made on its first step with a grad: SGD's momentum buffer (a clone of that
 * step's gradient), Adam's moments and its own step count, so that a param that first gets a
 * grad at the optimizer's third step is bias-corrected as at its step 1. */
bs_status bs_opt_step(bs_ctx *c, bs_opt *o);
void bs_opt_zero_grad(bs_ctx *c, bs_opt *o);
/* GradScaler's unscale_ over the params o updates that have a grad (torch's
   _amp_foreach_non_finite_check_and_unscale_): *found_inf set when an entry is inf or NaN, then
   each grad multiplied by inv_scale in float and stored in the grad's dtype (also when one was
   not finite). An f16 grad is BS_ERR_VALUE unless allow_fp16 ("Attempting to unscale FP16
   gradients.", as torch), before anything changes. */
bs_status bs_opt_unscale(bs_ctx *c, bs_opt *o, float inv_scale, bool allow_fp16, bool *found_inf);
/* the number of params o updates that have a grad, and up to max of their ids */
int bs_opt_params(const bs_ctx *c, const bs_opt *o, bs_id *ids, int max);

/* ==== Underflow (core/underflow.c) ====
 * A gradient entry underflowed when it is 0 in its node's dtype but nonzero in exact arithmetic
 * (the same backward pass recomputed in double from the same values, no VJP rounded). */
typedef struct {
    bs_id node;
    bs_dtype dtype;
    int64_t numel;
    int64_t zero;             /* entries whose gradient is 0 in the dtype */
    int64_t underflowed;      /* ... of which exact arithmetic has nonzero */
    double largest_lost;      /* the largest |exact gradient| among those */
} bs_underflow_row;
/* a backward pass from root (seed ones) recomputed both ways: one row per node of a non-f64
   float dtype it reaches, up to max in rows; the count of such nodes, -1 on error. The tape is
   not changed. */
int bs_underflow(bs_ctx *c, bs_id root, bs_underflow_row *rows, int max);
/* torch.optim.SGD(params, ...): o updates (and zero_grad() clears) only these leaves from now on;
   without this call it takes every param on the tape */
bs_status bs_opt_set_params(bs_ctx *c, bs_opt *o, const bs_id *ids, int n);
/* x -= ..., x.copy_(v) under no_grad: write v (x's numel, or one value) into the leaf x in place,
   bumping its version, as PyTorch's in-place ops on a leaf; refused outside no_grad when x
   requires grad, and for a tensor an op computed */
bs_status bs_update_inplace(bs_ctx *c, bs_id id, const bs_tensor *v);
/* x.grad.zero_(): x's grad, when it has one, becomes zeros (not None) */
void bs_grad_zero_(bs_ctx *c, bs_id id);
/* x.grad = g, x.grad /= s: x's grad becomes a copy of g (x's shape) */
bs_status bs_grad_set(bs_ctx *c, bs_id id, const bs_tensor *g);
const bs_opt_conf *bs_opt_conf_of(const bs_opt *o);
/* new hyperparameters for o from its next step on (optimizer.param_groups[i]['lr'] = ...), checked
   as bs_opt_new checks them; the kind stays, and so does the state (moments, step count) */
bs_status bs_opt_set_conf(bs_ctx *c, bs_opt *o, const bs_opt_conf *conf);

/* ==== Size variables ==== */
int bs_dim_define(bs_ctx *c, const char *name, int64_t value); /* returns its index (< 64) */
int bs_dim_find(const bs_ctx *c, const char *name);            /* -1 if none */
/* mul * size variable `base` (nn.Linear(D, 3 * D)): a size variable named "3*D" that a replay
   computes from base's value rather than binds; returns its index, -1 when there is no room */
int bs_dim_derive(bs_ctx *c, int base, int64_t mul);
int bs_dim_base(const bs_ctx *c, int idx, int64_t *mul);      /* derived: its base (and mul); else -1 */
int64_t bs_dim_value(const bs_ctx *c, int idx);
const char *bs_dim_name(const bs_ctx *c, int idx);
int bs_dim_count(const bs_ctx *c);

/* ==== Random numbers (for constructors and tests) ==== */
double bs_rand_uniform(bs_ctx *c);  /* [0, 1) */
double bs_rand_normal(bs_ctx *c);

/* ==== Backends: replaying the graph at real sizes ====
 * A backend is a table of functions over its own buffers (device or host memory). Buffers hold
 * `dtype` elements: f64, f32, bf16 (bf16 computes in f32), and BS_I64 tensors (class indices) are
 * stored as int32. The planner (bs_plan_*) owns every buffer it allocates and frees it. */
typedef struct {
    bs_op op;
    bs_attr attr;
    int nin;
    const void *in[BS_MAX_INPUTS];      /* input buffers */
    bs_shape in_shape[BS_MAX_INPUTS];
    bs_dtype in_dtype[BS_MAX_INPUTS];
    void *out;                          /* output buffer (forward writes it; vjp reads it) */
    bs_shape out_shape;
    bs_dtype dtype;                     /* dtype of the float tensors (out, grads) */
} bs_exec;

typedef struct bs_backend bs_backend;
struct bs_backend {
    const char *name;                   /* "cpu", "gpu" */
    void *impl;                         /* backend state (handles, streams) */
    char device[128];                   /* what it runs on, filled by open */
    /* BS_OK if usable; else BS_ERR_UNSUPPORTED and a one-line reason in err */
    bs_status (*open)(bs_backend *b, char *err, size_t errlen);
    void (*close)(bs_backend *b);
    bool (*supports)(const bs_backend *b, bs_op op, bs_dtype t);
    bool (*supports_dtype)(const bs_backend *b, bs_dtype t);
    void *(*alloc)(bs_backend *b, size_t bytes);            /* NULL when out of memory */
    void (*free)(bs_backend *b, void *p);
    /* host doubles <-> buffer of n elements of dtype t (converting) */
    bs_status (*upload)(bs_backend *b, void *dst, const double *src, int64_t n, bs_dtype t);
    bs_status (*download)(bs_backend *b, double *dst, const void *src, int64_t n, bs_dtype t);
    bs_status (*fill)(bs_backend *b, void *dst, double v, int64_t n, bs_dtype t);
    bs_status (*forward)(bs_backend *b, const bs_exec *e);
    /* din += VJP of input i given upstream g (same shape as out); din has in_shape[i] */
    bs_status (*vjp)(bs_backend *b, const bs_exec *e, int i, const void *g, void *din);
    /* dst += src, n elements (gradient accumulation across paths) */
    bs_status (*accumulate)(bs_backend *b, void *dst, const void *src, int64_t n, bs_dtype t);
    /* one optimizer update of n elements: p, its grad g, state buffers m, v (zeroed at start,
       v unused for sgd), step counter t >= 1 */
    bs_status (*opt_step)(bs_backend *b, const bs_opt_conf *conf, int64_t t, void *p,
                          const void *g, void *m, void *v, int64_t n, bs_dtype dt);
    bs_status (*sync)(bs_backend *b);   /* wait for queued work (timing) */
    /* Plan features, each optional (NULL: the backend has none, and the planner runs the plain
       ops instead). The planner names no backend: it asks these. */
    /* Transposed operands: a matmul reads a 2-D input in place as the transpose of its source,
       so x @ W.T copies nothing and its VJP adds straight into W's grad. ta/tb: operand a/bm is
       read transposed (it is then the transpose's source buffer). */
    bool (*supports_matmul_t)(const bs_backend *b, bs_dtype t);
    bs_status (*matmul_t_fwd)(bs_backend *b, const bs_exec *mm, bool ta, bool tb, const void *a,
                              const void *bm);
    bs_status (*matmul_t_vjp)(bs_backend *b, const bs_exec *mm, bool ta, bool tb, const void *a,
                              const void *bm, int k, const void *g, void *din);
    /* Bias + activation as one loop: act(x + b), b a row repeated over x's leading dims. Forward
       writes add's and act's outputs; backward writes da (add's grad) and adds b's VJP into db
       (NULL: b needs none). supports_bias_act says whether this pair can run so. */
    bool (*supports_bias_act)(const bs_backend *b, const bs_exec *add, const bs_exec *act);
    bs_status (*bias_act_fwd)(bs_backend *b, const bs_exec *add, const bs_exec *act);
    bs_status (*bias_act_vjp)(bs_backend *b, const bs_exec *add, const bs_exec *act, const void *g,
                              void *da, void *db);
};

/* Backends are registered by name; core registers "cpu", the program registers "gpu" when built. */
void bs_backend_register(bs_backend *b);
bs_backend *bs_backend_find(const char *name);
bs_backend *bs_backend_cpu(void);

/* ==== Replay plans ====
 * A plan replays, on a backend, the part of the tape that `root` depends on, at sizes that may
 * differ from the recorded ones:
 *   - size variables are rebound (node->sym[] on constructor leaves, attr.shape_sym on reshape)
 *     and every shape is inferred again through bs_ops[op].shape;
 *   - leaves whose shape changed get their initializer again at the new sizes (randn, rand, zeros,
 *     ones, eye, arange, full; param(expr) re-runs expr's subgraph on the host with the eager
 *     kernels); random ones are drawn from `seed` and the node id, so two plans with the same
 *     options start from the same values. Leaves whose shape did not change keep the tape's
 *     current values (a replay at the recorded sizes starts where the tape is). Literal data
 *     (tensor([...])) replays only at its own size: when a rebinding needs it to change, plan_new
 *     fails with a message that names it;
 *   - integer (i64) tensors are constants: computed once on the host, stored as int32;
 *   - every buffer (values, grads, optimizer state) is allocated once on the backend, reused by
 *     every step, and freed by bs_plan_free().
 * A step is forward (tape order), backward (reverse order, VJPs added into the inputs' grads,
 * only for nodes that require grad; each grad buffer zeroed just before its first VJP, the root
 * seeded with ones) and an optimizer update of every param. A gradient passed through unchanged
 * (x in x + b, reshape) shares its consumer's buffer. On the CPU backend a bias add followed by
 * an activation runs as one loop, forward and backward, and a 2-D transpose used only by
 * matmuls (x @ W.T) is read in place by them (its value is made only when read). With time_nodes, the backend is synced
 * around each node and each node's forward and VJP time is recorded.
 *
 * Ownership: the caller opens the backend (be->open) before bs_plan_new and closes it after
 * bs_plan_free. The plan reads the tape only while it is built (and in bs_plan_store_params);
 * it owns everything else. Errors: NULL or a status, with a one-line message in err or
 * bs_plan_errmsg(). */
typedef struct bs_plan bs_plan;

#define BS_PLAN_MAX_BIND 16
typedef struct {
    int nbind;
    int bind_dim[BS_PLAN_MAX_BIND];      /* size variable index (bs_dim_find) */
    int64_t bind_value[BS_PLAN_MAX_BIND]; /* its value in this plan (>= 1) */
    bs_dtype dtype;          /* float dtype on the backend: f32, f64 or bf16 */
    bool backward;           /* run backward (when the root requires grad) */
    bool update;             /* an optimizer step after backward */
    bs_opt_conf opt;         /* the optimizer of `update` */
    bool time_nodes;         /* sync around every node and time it */
    uint64_t seed;           /* for random leaves drawn at new sizes */
    bool no_checkpoint;      /* keep every value, as if the graph had no checkpoint (:run's
                                figure beside the checkpointed one) */
} bs_plan_opts;

/* f32, backward and update on, SGD lr 0.01, time_nodes on, seed 0, nothing rebound */
bs_plan_opts bs_plan_defaults(void);
bs_plan *bs_plan_new(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o, char *err,
                     size_t errlen);
void bs_plan_free(bs_plan *p);
const char *bs_plan_errmsg(const bs_plan *p);

/* One training step: forward, backward, update (as the options say); *loss (may be NULL) gets the
 * root's value (its sum when it has several elements) computed by this step's forward. */
bs_status bs_plan_step(bs_plan *p, double *loss);
bs_status bs_plan_forward(bs_plan *p, double *loss);
bs_status bs_plan_backward(bs_plan *p);
bs_status bs_plan_update(bs_plan *p);
/* forget the timings so far (after warm-up steps) */
void bs_plan_reset_stats(bs_plan *p);
/* turn per-node timing (a sync around every node) on or off for the next steps */
void bs_plan_time_nodes(bs_plan *p, bool on);

/* the shape of tape node id in the plan (NULL: not in the plan) */
const bs_shape *bs_plan_shape(const bs_plan *p, bs_id id);
/* a node's value or grad as doubles (numel of bs_plan_shape); BS_ERR_ARG when it has none */
bs_status bs_plan_read(bs_plan *p, bs_id id, bool grad, double *dst);
/* copy the params' values and grads back into the tape (same sizes only), bumping their
 * versions; the other nodes' grads become None (each step's graph is a new one) */
bs_status bs_plan_store_params(bs_plan *p, bs_ctx *c);

typedef struct {
    bs_id node;
    bs_shape shape;
    bs_dtype dtype;               /* f32/f64/bf16, or BS_I64 (int32 on the backend) */
    bool leaf;                    /* no forward: a leaf or an integer constant */
    bool has_bwd;                 /* runs VJPs in backward */
    bool resized;                 /* its shape differs from the recorded one */
    double fwd_ms, bwd_ms;        /* median over the timed steps (0 without time_nodes) */
    double fwd_flops, bwd_flops;  /* per step: the op table's count; VJPs: that count per
                                     input that gets a gradient (matmul: exact) */
    size_t bytes;                 /* its buffers: value, grad, optimizer state */
    bool fused_fwd;               /* its forward ran inside its input's (bias + activation) */
    bool fused_bwd;               /* its VJP ran inside its consumer's (bias + activation) */
    bool folded;                  /* a transpose its matmuls read in place: no copy, no grad */
} bs_plan_node;
/* The backward pass's steps as tape ids, in the order the plan runs them (at most max written;
   returns the count): core's one schedule, the order bs_backward_next steps the same root in.
   A transpose read in place and an integer op are on it but run nothing. */
int bs_plan_schedule(const bs_plan *p, bs_id *ids, int max);
int bs_plan_node_count(const bs_plan *p);
/* node i of the plan, in tape order */
void bs_plan_node_get(const bs_plan *p, int i, bs_plan_node *out);

typedef struct {
    int steps;                    /* timed steps */
    double step_ms;               /* median wall time of a whole step */
    double fwd_ms, bwd_ms, opt_ms;/* medians of the per-step sums */
    double fwd_flops, bwd_flops;  /* per step */
    size_t peak_bytes;            /* everything the plan holds on the backend */
    int64_t param_elems;          /* elements of the params it updates */
    int checkpoints;              /* checkpoints whose inside values are freed after the forward */
    size_t ckpt_bytes;            /* the one buffer their inside values and grads share */
    double recompute_flops;       /* per step: the forward FLOPs backward runs again */
    bool backward;                /* backward runs (the root requires grad and it was asked) */
} bs_plan_summary;
void bs_plan_summary_get(const bs_plan *p, bs_plan_summary *s);
/* The shape of every node (shapes: bs_tape_len entries, tape order) when root's graph is replayed
 * at o's sizes, without allocating anything: nodes outside the graph keep their own. sizes (may
 * be NULL) gets bs_plan_sizes' text. BS_OK, or BS_ERR_SHAPE and why in err (:mem N=...). */
bs_status bs_plan_shapes(bs_ctx *c, bs_id root, const bs_plan_opts *o, bs_shape *shapes, char *sizes,
                         size_t sizes_len, char *err, size_t errlen);
/* "N=256 D=784": every size variable the graph uses, at the plan's values; returns buf */
char *bs_plan_sizes(const bs_plan *p, char *buf, size_t len);
/* literal-data leaves of the graph (they keep their size): "y (4,), t (2, 2)"; returns count */
int bs_plan_fixed(const bs_plan *p, char *buf, size_t len);

/* --check: one forward and backward of root on `be` and on `other` (NULL: the eager engine in
 * f64, through the op table's kernels) from the same leaf values, comparing every value and grad.
 * The sizes are o's, halved (every size variable the graph uses) until the forward FLOPs fit
 * budget_flops (0: no limit). */
typedef struct {
    double max_diff;              /* largest |x - ref| / max(1, |ref|) over values and grads */
    bs_id worst;                  /* where (BS_NONE when nothing was compared) */
    bool worst_is_grad;
    int compared;                 /* tensors compared */
    bool reduced;                 /* sizes were scaled down */
    char sizes[160];              /* the sizes it ran at, as bs_plan_sizes */
    char other[64];               /* "eager f64" or the other backend and dtype */
} bs_plan_check_result;
bs_status bs_plan_check(bs_ctx *c, bs_id root, bs_backend *be, const bs_plan_opts *o,
                        bs_backend *other, double budget_flops, bs_plan_check_result *res,
                        char *err, size_t errlen);

#endif
