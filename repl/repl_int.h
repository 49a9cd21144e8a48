/* repl/repl_int.h: the REPL's internals shared by eval.c, builtins.c, commands.c, print.c,
 * stepper.c and run.c: values, the name table, the session. */
#ifndef BS_REPL_INT_H
#define BS_REPL_INT_H

#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "ast.h"
#include "backstep.h"
#include "repl.h"
#include "viz.h"

/* ==== Values ====
 * What an expression evaluates to. Values live for one statement (their arrays are in the
 * statement's arena); a value becomes a tape node only when it has to (an operand, an assignment). */
typedef enum {
    BS_V_VOID,    /* a call made for its effect (backward(), step()): prints nothing */
    BS_V_NONE,    /* None (x.grad before backward) */
    BS_V_NUM,     /* a Python number; sym >= 0 when it came from a size variable */
    BS_V_BOOL,
    BS_V_STR,
    BS_V_NODE,    /* a tensor on the tape */
    BS_V_TMP,     /* a tensor not on the tape (x.grad): data in the arena */
    BS_V_LIST,    /* [a, b] */
    BS_V_TUPLE,   /* (a, b) */
    BS_V_SHAPE,   /* x.shape */
    BS_V_OPT,     /* an optimizer */
    BS_V_DIM,     /* dim(4), before it is bound to a name */
    BS_V_GRADFN,  /* x.grad_fn */
    BS_V_MODULE,  /* torch, F: one of torch's modules (str: "torch.nn.functional") */
    BS_V_FUNC,    /* a def (ref: bs_hfunc) */
    BS_V_CLASS,   /* a class statement's class (ref: bs_hclass) */
    BS_V_OBJ,     /* an instance: a user class's, or nn.Linear & co (ref: bs_hobj) */
    BS_V_BOUND,   /* obj.method before the call (ref: the bs_hobj, ref2: the bs_hfunc) */
    BS_V_RANGE,   /* range(a, b, c): r[0..2] */
    BS_V_BUILTIN, /* a function or class of backstep's as a value (str: its name, as called); a
                     dict's method (d.get) has ref the dict (bs_bound_dict) */
    BS_V_SUPER,   /* super(): ref the instance, ref2 the class whose base is asked */
    BS_V_DICT,    /* {k: v} (ref: bs_hdict, always on the heap) */
    BS_V_EXC      /* an exception instance, ValueError('bad'): str its message (ref its bs_hstr when
                     kept), ref2 its type's name (a static string of pydict.c) */
} bs_vkind;

typedef struct bs_heap bs_heap;

typedef struct bs_value bs_value;
struct bs_value {
    bs_vkind k;
    double num;           /* NUM */
    bool is_int;          /* NUM: an integer literal (or from one) */
    int sym;              /* NUM: size variable index or -1 */
    bool b;               /* BOOL */
    const char *str;      /* STR, GRADFN */
    bs_id id;             /* NODE */
    bs_tensor tmp;        /* TMP */
    bs_value *items;      /* LIST, TUPLE */
    int n;
    bs_shape shape;       /* SHAPE */
    bs_opt *opt;          /* OPT */
    void *ref, *ref2;     /* LIST, TUPLE, STR: the heap object when it has one (else the items or
                             the string are the statement's); FUNC, CLASS, OBJ, BOUND, SUPER */
    int64_t r[3];         /* RANGE: start, stop, step */
    int32_t grad_owner;   /* TMP from x.grad: x's id + 1 (so that x.grad.zero_() reaches x); 0 */
    const char *numname;  /* NUM, BOOL read from a session name: as an operand it is that name's
                             one constant node, labelled with the name (bs_to_node) */
    bool mask;            /* TMP: a bool tensor (x > 0): int64 0/1 data shown as torch.bool; as a
                             node it is marked is_bool */
};

/* values of one kind, every other field zero (sym -1) */
static inline bs_value bs_value_of(bs_vkind k)
{
    bs_value v;
    memset(&v, 0, sizeof v);
    v.k = k;
    v.sym = -1;
    return v;
}
static inline bs_value bs_num_value(double x, bool is_int)
{
    bs_value v = bs_value_of(BS_V_NUM);
    v.num = x;
    v.is_int = is_int;
    return v;
}
static inline bs_value bs_node_value(bs_id id)
{
    bs_value v = bs_value_of(BS_V_NODE);
    v.id = id;
    return v;
}

/* a bool tensor (torch.bool): a comparison's mask, as a value or a node */
static inline bool bs_is_mask(bs_session *s, const bs_value *v);

/* ==== The heap: values that outlive a statement ====
 * Lists, strings, functions, classes and instances that a name, a container or a frame holds.
 * Every object is on the session's chain; between top-level statements what no name reaches is
 * freed (bs_heap_gc). A list held by two names is one list, as in Python. */
typedef enum { BS_H_LIST, BS_H_STR, BS_H_SRC, BS_H_FUNC, BS_H_CLASS, BS_H_OBJ, BS_H_DICT } bs_hkind;
struct bs_heap {
    bs_heap *next;
    bs_hkind kind;
    bool mark;
    int pins;             /* > 0: in use by a running bs_session_eval, never freed */
};
typedef struct { int n, cap; char **keys; bs_value *vals; } bs_dict; /* insertion order */
typedef struct { bs_heap h; int n, cap; bs_value *items; } bs_hlist;
/* a Python dict: keys and values in insertion order, keys compared as == does (pydict.c) */
typedef struct { bs_heap h; int n, cap; bs_value *keys, *vals; bool is_set; /* a set: vals None */ } bs_hdict;
typedef struct { bs_heap h; char *s; } bs_hstr;
/* a parsed source that defines functions or classes: their AST lives in its arena */
typedef struct { bs_heap h; char *text; bs_arena arena; bool adopted; /* a def holds it */ } bs_hsrc;
typedef struct bs_hclass bs_hclass;
typedef struct {
    bs_heap h;
    const bs_stmt *def;
    bs_hsrc *src;
    bs_value *defaults;   /* one per parameter (k == BS_V_VOID: none), evaluated at def time */
    bs_hclass *cls;       /* the class a method was defined in (for super()), or NULL */
    bs_dict *closure;     /* a def or lambda inside a function: the enclosing locals, as they were
                             when it was made (looked up after its own locals); NULL at top level */
} bs_hfunc;
struct bs_hclass {
    bs_heap h;
    char *name;
    bs_hclass *base;      /* a user base class, or NULL */
    bool module;          /* derives from nn.Module */
    const char *exc;      /* derives from an exception class: its own name as errors carry it
                             (the session's registry owns the string, bs_exc_register), else NULL */
    bs_dict attrs;        /* methods and class attributes */
};
/* what an nn module of backstep's own does when called (a user class: BS_MOD_USER) */
typedef enum {
    BS_MOD_USER, BS_MOD_LINEAR, BS_MOD_SEQUENTIAL, BS_MOD_MODULELIST, BS_MOD_ACT, BS_MOD_LOSS,
    BS_MOD_IDENTITY, BS_MOD_LAYERNORM, BS_MOD_EMBEDDING, BS_MOD_DROPOUT
} bs_modkind;
typedef struct {
    bs_heap h;
    bs_hclass *cls;       /* user class, or NULL */
    bs_modkind mod;
    const char *type;     /* "Linear", "ReLU", "MSELoss", ... (builtin modules) */
    int op;               /* ACT, LOSS: the op it applies (bs_op) */
    bs_attr attr;         /* ACT, LOSS: its attributes (dim, slope, reduction) */
    bs_dict attrs;        /* attributes in assignment order: parameters, submodules, the rest */
    bool eval_mode;       /* after model.eval() (until model.train()): dropout passes its input */
    int reduction;        /* LOSS: BS_REDUCE_MEAN or BS_REDUCE_SUM */
} bs_hobj;
/* a loss's reduction= ('mean', 'sum'; 'none' is refused with a hint): BS_REDUCE_*, -1 with an
   error at e; bs_loss_sum turns the mean-reduced node *r into the sum (times the count) */
enum { BS_REDUCE_MEAN, BS_REDUCE_SUM };
int bs_loss_reduction(bs_session *s, const bs_value *v, const bs_expr *e);
int bs_loss_sum(bs_session *s, const bs_expr *call, bs_id *r);

/* a zeroed object of `size` bytes (a struct that starts with its bs_heap) on the session's chain */
void *bs_heap_new(bs_session *s, bs_hkind k, size_t size);
bs_hlist *bs_heap_list(bs_session *s, int n);          /* n items, all None */
bool bs_list_push(bs_hlist *l, const bs_value *v);     /* v must be persistent */
const char *bs_heap_str(bs_session *s, const char *text, bs_value *out); /* STR value on the heap */
bs_hobj *bs_heap_obj(bs_session *s, bs_hclass *cls);
/* A copy of v that outlives the statement: lists and strings move to the heap, x.grad and
   numbers stay values; -1 with an error (at e) for what cannot be kept */
int bs_persist(bs_session *s, const bs_value *v, const bs_expr *e, bs_value *out);
bs_value *bs_dict_get(bs_dict *d, const char *key);
/* the same, trying index *slot first and leaving there the index it found (a name's cache) */
bs_value *bs_dict_get_at(bs_dict *d, const char *key, int *slot);
int bs_dict_set(bs_dict *d, const char *key, const bs_value *v);  /* -1: out of memory */
int bs_dict_set_at(bs_dict *d, const char *key, const bs_value *v, int *slot); /* as get_at */
/* the items of a LIST or TUPLE value (its heap list's, when it has one) */
static inline bs_value *bs_list_items(const bs_value *v, int *n)
{
    if (v->ref) {
        bs_hlist *l = (bs_hlist *)v->ref;
        *n = l->n;
        return l->items;
    }
    *n = v->n;
    return v->items;
}
/* how many items range(a, b, st) has (st != 0), and a slice a:b:st after its bounds are clamped */
static inline int64_t bs_range_len(int64_t a, int64_t b, int64_t st)
{
    return st > 0 ? (b > a ? (b - a + st - 1) / st : 0) : (a > b ? (a - b - st - 1) / -st : 0);
}
/* free what nothing reaches (only between top-level statements) */
void bs_heap_gc(bs_session *s);
/* bs_heap_gc when the heap has doubled since the last one */
void bs_heap_maybe_gc(bs_session *s);
/* unlink and free one object that nothing can reference (a source no def kept) */
void bs_heap_drop(bs_session *s, bs_heap *h);
void bs_heap_free_all(bs_session *s);
/* a failed statement cut the tape back to len: nodes past it that the heap holds become None */
void bs_heap_scrub(bs_session *s, int32_t len);
/* append a pointer to every tape id the heap, frames and loops hold to (*keep)[n...] (grown as
   needed, *cap its size), for bs_tape_collect; returns the new count, -1 if out of memory */
int bs_heap_ids(bs_session *s, bs_id ***keep, int n, int *cap);

/* ==== Frames: a function call's locals ==== */
typedef struct bs_frame bs_frame;
struct bs_frame {
    bs_dict locals;
    bs_frame *up;
    bs_hfunc *fn;
    bs_value ret;         /* what 'return' gave */
};
typedef enum { BS_FLOW_NONE, BS_FLOW_BREAK, BS_FLOW_CONTINUE, BS_FLOW_RETURN } bs_flow;

/* ==== Names ==== */
typedef enum { BS_NAME_NODE, BS_NAME_DIM, BS_NAME_OPT, BS_NAME_NONE, BS_NAME_MODULE, BS_NAME_VALUE } bs_name_kind;
typedef struct {
    char *name;           /* NULL: empty slot */
    bs_name_kind kind;
    bs_id id;             /* NODE */
    int dim;              /* DIM: size variable index */
    bs_opt *opt;          /* OPT */
    const char *module;   /* MODULE: a static string of modules.c */
    bs_value val;         /* VALUE: a persistent value (bs_persist); for a number, `id` is the
                             constant node that stands for it in the graph, or BS_NONE */
    int order;            /* definition order, for :vars */
} bs_name;

typedef struct bs_stepper bs_stepper;
typedef struct bs_viz_state bs_viz_state;

#define BS_LOAD_MAX_DEPTH 16 /* scripts that :load scripts, nested */
#define BS_PASS_LOG 16       /* backward passes remembered for :explain */

struct bs_session {
    bs_ctx *ctx;
    bs_session_opts o;
    FILE *out, *err;
    bs_name *names;       /* open addressing, cap a power of two */
    int cap, count, order;
    bs_id last_scalar;    /* the last assigned scalar that requires grad (default for :step) */
    bs_id last_assigned;
    /* the roots of the most recent completed backward passes (L.backward(), :finish, :train),
       oldest first, each once: :explain NAME explains the newest that reached NAME. Like the two
       ids above, tape ids that a change renumbering the tape must remap (or drop) */
    bs_id pass_root[BS_PASS_LOG];
    int npass;
    bs_arena arena;       /* per statement */
    const char *src;      /* source being evaluated */
    char **texts;         /* label texts interned for the session (bs_expr_text): an open-addressing
                             set of captexts slots, ntexts used; nodes borrow them */
    size_t ntexts, captexts;
    struct bs_seen *seen; /* one-line statements run before and their parse (eval.c): an
                             open-addressing table of capseen slots, nseen used, seen_bytes held */
    unsigned names_gen;   /* the names table's generation, unique to the process: a new one at
                             each grow or clear (bs_expr.gslot) */
    size_t nseen, capseen, seen_bytes;
    uint64_t *seen1;      /* the hashes of one-line chunks run once (kept on their second run) */
    size_t nseen1;
    struct bs_seen *seen_hint; /* what bs_session_seen_line found for the text at seen_hint_src */
    const char *seen_hint_src;
    int eval_depth;       /* bs_session_eval calls in progress */
    bs_error *e;          /* where errors go */
    bs_error ebuf;
    char **hist;          /* statements that ran, for :save and :history */
    int nhist, caphist;
    bs_stepper *step;     /* the active stepper (stepper.c), or NULL */
    bs_viz_state *viz;    /* the window and view state (commands.c), or NULL */
    volatile sig_atomic_t interrupted;
    bool quit;
    char *load[BS_LOAD_MAX_DEPTH]; /* real paths of the scripts being run, outermost first */
    int nload;
    int32_t collect_at;   /* compact the tape when it reaches this many nodes (bs_session_collect) */
    bs_heap *heap;        /* every heap object, newest first */
    size_t nheap;
    size_t gc_at;         /* collect the heap when nheap passes this (twice what the last kept) */
    bs_frame *frame;      /* the innermost function call, or NULL at top level */
    int depth;            /* calls in progress */
    int edepth;           /* bs_eval_expr calls in progress */
    const char *child_name; /* the next module scope's name, when a container calls its child */
    bs_flow flow;         /* break / continue / return on its way out */
    bs_hsrc *cur_src;     /* the source being run, while bs_session_eval runs it */
    bs_value *roots[64];  /* values a loop at top level holds (its iterable), for the collector */
    int nroots;
    char **uexc;          /* user exception classes: uexc[2i] a name, uexc[2i+1] its base's name */
    int nuexc;
    const char *cur_exc;  /* inside an except block: the error being handled ("ValueError: bad"),
                             for a bare 'raise'; NULL otherwise */
};

/* The tape keeps what the session can still reach: a name, the defaults of :step and :graph, the
   window's root. Between statements, once the tape has passed BS_COLLECT_MIN nodes and doubled
   since the last compaction, the rest is reclaimed (bs_tape_collect). A tape small enough to be
   drawn is never compacted, so what the window shows of old rebound values stays. */
#ifndef BS_COLLECT_MIN /* the fuzz build sets it to 1, so that every input exercises compaction */
#define BS_COLLECT_MIN 4096
#endif
void bs_session_collect(bs_session *s, bool force);

/* ==== Errors ==== */
/* record an error at line:col (1-based); returns -1 */
int bs_fail(bs_session *s, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int bs_fail_core(bs_session *s, int line, int col, const char *what);

void bs_session_reset(bs_session *s);
/* append a statement to the history :save writes (a copy) */
void bs_hist_add(bs_session *s, const char *text);
/* a whole text file (at most max bytes; no directories, devices or NUL bytes), malloc'd and
   NUL-terminated, or NULL with the reason in err */
char *bs_read_text(const char *path, size_t max, size_t *len, char *err, size_t errlen);
/* print node id in full (:show, window clicks) */
void bs_show_node(bs_session *s, FILE *f, bs_id id);
/* What node id keeps for backward, as "self=x, other=x" into buf, and its bytes, each tensor once;
   seen (NULL: none) marks storages counted by nodes listed before ("(counted above)"); *fresh and
   *fresh_bytes (may be NULL) get the count and bytes of the tensors not counted before; a tensor
   a checkpoint makes inside itself is not kept, so not counted, unless all (the figure the graph
   would have without checkpoints) (print.c) */
size_t bs_mem_node_saves(bs_session *s, bs_id id, bool all, bool *seen, int *fresh, size_t *fresh_bytes,
                         char *buf, size_t len);
/* the same for the k tensors sv that bs_node_saved gave; buf NULL: only the counts */
size_t bs_mem_saves_of(bs_session *s, const bs_saved_tensor *sv, int k, bool all, bool *seen, int *fresh,
                       size_t *fresh_bytes, char *buf, size_t len);
/* the node a command argument names (a name, or the default root when arg is NULL) */
int bs_cmd_node(bs_session *s, const bs_stmt *st, const char *arg, bs_id *out);
/* :export FILE.py: root's graph as a PyTorch program (export_py.c); check: run it with torch and
   compare one step's loss and grads with a replay here */
int bs_export_py(bs_session *s, const char *file, bs_id root, bool check, int line, int col);

/* The gradient of node id as every surface shows it (bs_grad_now): *out gets a copy in the
   statement's arena unless the result is BS_GRAD_NONE; -1 with an error when out of memory */
int bs_grad_get(bs_session *s, bs_id id, bs_tensor *out);
/* "(partial: step k/N)" while a pass is being stepped, "" otherwise; returns buf */
char *bs_grad_note(bs_session *s, char *buf, size_t len);

static inline bool bs_is_mask(bs_session *s, const bs_value *v)
{
    if (v->k == BS_V_TMP) return v->mask;
    if (v->k == BS_V_NODE) {
        const bs_node *n = bs_node_get(s->ctx, v->id);
        return n && n->is_bool;
    }
    return false;
}
/* a mask made from data (torch.tensor([True, False]), x.bool(), a comparison): an int64 0/1
   leaf marked is_bool; -1 with an error */
int bs_mask_leaf(bs_session *s, const bs_expr *e, const bs_tensor *t, bs_value *out);

/* ==== Names ==== */
bs_name *bs_name_find(bs_session *s, const char *name);
bs_name *bs_name_bind(bs_session *s, const char *name);  /* finds or creates */
/* iterate in definition order: fills up to max pointers, returns count */
int bs_names_sorted(bs_session *s, bs_name **out, int max);

/* ==== Evaluation ==== */
int bs_eval_expr(bs_session *s, const bs_expr *e, bs_value *out);
/* exec.c: compound statements, functions, classes, Python's values */
int bs_exec_stmt(bs_session *s, const bs_stmt *st);     /* IF, FOR, WHILE, DEF, CLASS, ... */
int bs_exec_block(bs_session *s, const bs_block *b);
int bs_exec_simple(bs_session *s, const bs_stmt *st);   /* one statement, undone if it fails */
bool bs_truthy(bs_session *s, const bs_value *v, const bs_expr *e, int *err);
/* a Python number, a bool, or a one-element tensor as a double (is_int: an int, a bool or an
   integer tensor; may be NULL); false if it is none of them */
bool bs_as_number(bs_session *s, const bs_value *v, double *out, bool *is_int);
int bs_eval_compare(bs_session *s, const bs_expr *e, bs_value *out);
int bs_eval_subscript(bs_session *s, const bs_expr *e, bs_value *out);
/* obj[index] for a tensor obj, index e->sub.index (index.c) */
int bs_tensor_index(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *out);
int bs_eval_fstring(bs_session *s, const bs_expr *e, bs_value *out);
int bs_eval_listcomp(bs_session *s, const bs_expr *e, bs_value *out);
/* a + b etc. on values that are not both numbers nor tensors (strings, lists): 1 if not handled */
int bs_eval_pybinary(bs_session *s, const bs_expr *e, bs_binop op, const bs_value *a,
                     const bs_value *b, bs_value *out);
/* the arithmetic of e (a BINARY) on evaluated operands */
int bs_eval_binary_values(bs_session *s, const bs_expr *e, bs_value *a, bs_value *b, bs_value *out);
bool bs_is_py_builtin(const char *name);
/* len, range, enumerate, ...; sum/max/min/abs of a tensor go to the op */
int bs_py_builtin(bs_session *s, const bs_expr *call, const char *name, bs_value *out);
int bs_py_builtin_v(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos,
                    const char **kn, bs_value *kv, int nkw, bs_value *out);
/* call a value (a function, class, instance, bound method, builtin) with evaluated arguments */
int bs_call_value(bs_session *s, const bs_expr *call, bs_value *fn, bs_value *pos, int npos,
                  const char **kn, bs_value *kv, int nkw, bs_value *out);
/* evaluate a call's arguments */
/* f(*xs) or f(**d) (g->star), v the value of g's expression: its items appended to pos, or its
   keys and values to kn, kv; -1 with an error */
int bs_expand_star(bs_session *s, const bs_arg *g, bs_value *v, bs_value *pos, int *npos, const char **kn,
                   bs_value *kv, int *nkw, int max);
int bs_eval_args(bs_session *s, const bs_expr *call, bs_value *pos, int *npos, const char **kn,
                 bs_value *kv, int *nkw, int max);
/* name lookup through the frames: NULL if unbound; *local says where */
bs_value *bs_frame_lookup(bs_session *s, const char *name);
/* the same for a NAME expression, through its slot cache (e->slot) for the locals */
bs_value *bs_frame_lookup_name(bs_session *s, const bs_expr *e);
/* bind a name (in the current frame, or the session's names); numbers become constant nodes at
   top level when as_node */
int bs_bind(bs_session *s, const char *name, const bs_value *v, const bs_expr *at, bool as_node);
/* the same for a NAME target, whose slot caches where a function's local is (bs_frame_lookup_name) */
int bs_bind_name(bs_session *s, const bs_expr *target, const bs_value *v, const bs_expr *at, bool as_node);
int bs_assign_target(bs_session *s, const bs_expr *target, bs_value *v, const bs_expr *at);
int bs_obj_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out);
int bs_obj_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out);
int bs_list_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out);
/* format v as format(v, spec) would (f-strings) into a heap-free buffer in the arena */
char *bs_format_value(bs_session *s, const bs_value *v, const char *spec, char conv, const bs_expr *e);
/* str(v) as Python writes it (print, f-strings without a spec) */
char *bs_str_value(bs_session *s, const bs_value *v);
/* nn.py: torch.nn's modules and torch.optim's optimizers over a parameter list */
int bs_nn_attr(bs_session *s, const bs_expr *e, const char *name, bs_value *out); /* nn.NAME */
int bs_nn_new(bs_session *s, const bs_expr *call, const char *name, bs_value *pos, int npos,
              const char **kn, bs_value *kv, int nkw, bs_value *out);
int bs_nn_call(bs_session *s, const bs_expr *call, bs_hobj *m, bs_value *pos, int npos,
               bs_value *out);
int bs_nn_params(bs_session *s, bs_hobj *m, const char *prefix, bs_hlist *names, bs_hlist *params);
bool bs_is_nn_class(const char *name);
/* torch.optim's optimizers with param groups (an OPT value whose ref holds them): opt.param_groups,
   and step() / zero_grad() over every group; both return 1 for an optimizer without groups */
int bs_opt_groups(bs_session *s, const bs_value *opt, bs_value *out);
/* model.state_dict() (load false) and model.load_state_dict(sd) (load true) */
int bs_nn_state(bs_session *s, const bs_expr *call, bs_hobj *m, bool load, bs_value *pos, int npos, bs_value *out);
/* model.train(mode) / model.eval(): the mode of m and every module inside it */
void bs_nn_set_training(bs_hobj *m, bool training);
/* dropout of x with probability p: x * mask / (1 - p), the mask from backstep's generator (so
   it differs from torch's); x itself when not training or p == 0 */
int bs_nn_dropout(bs_session *s, const bs_expr *call, bs_value *x, double p, bool training, bs_value *out);
int bs_nn_layer_norm(bs_session *s, const bs_expr *call, bs_value *x, const bs_value *w, const bs_value *b,
                     double eps, bs_value *out);
/* nn.Embedding's forward, F.embedding(idx, weight) */
int bs_nn_embedding(bs_session *s, const bs_expr *call, bs_value *idx, const bs_value *w, bs_value *out);
int bs_opt_each(bs_session *s, const bs_expr *at, const bs_value *opt, bool step);
/* torch.amp.GradScaler (amp.c): a heap object of type "GradScaler" and its methods */
bool bs_is_amp(const bs_hobj *o);
/* GradScaler.update()'s rule (_amp_update_scale_) on a scale and its count of good steps */
void bs_amp_update_scale(float *scale, int64_t *tracker, bool found_inf, double growth, double backoff,
                         int64_t interval);
int bs_amp_new(bs_session *s, const bs_expr *call, bs_value *pos, int npos, const char **kn,
               bs_value *kv, int nkw, bs_value *out);
int bs_amp_method(bs_session *s, const bs_expr *call, bs_hobj *o, const char *name, bs_value *pos, int npos,
                  const char **kn, bs_value *kv, int nkw, bs_value *out);
/* an nn module: one of backstep's, or an instance of a class that derives from nn.Module */
bool bs_is_module(const bs_hobj *o);
/* a module bound to NAME (or self.NAME): its parameters are labelled NAME.weight, NAME.0.bias, ...
   in the graph and in formulas, names that evaluate back to them */
void bs_nn_relabel(bs_session *s, const bs_value *v, const char *prefix);
/* enter the scope of a module call ("fc1 (Linear)" for self.fc1(x)): returns what
   bs_scope_leave takes, -1 if none was entered */
int32_t bs_enter_module_scope(bs_session *s, const bs_expr *call, const char *type);
/* the module path of a scope for headers and labels: "model.0 (Linear)", "" for none */
char *bs_scope_path(bs_session *s, int32_t scope, char *buf, size_t len);
/* builtins.c: call a builtin function or op with evaluated arguments */
int bs_call_builtin_v(bs_session *s, const bs_expr *call, const char *name, const bs_value *self,
                      bs_value *pos, int npos, const char **kn, bs_value *kv, int nkw, bs_value *out);
/* the value as a tape node (numbers become constants); e gives the position and label text */
int bs_to_node(bs_session *s, bs_value *v, const bs_expr *e, bs_id *out);
/* the value as a plain tensor (for seeds): data in the arena */
int bs_to_tensor(bs_session *s, bs_value *v, const bs_expr *e, bs_tensor *out);
char *bs_expr_text(bs_session *s, const bs_expr *e);
/* node id's text: e's (bs_expr_text), borrowed when interned, else copied */
void bs_node_text_from(bs_session *s, bs_id id, const bs_expr *e);
/* look up `name` as a tensor: -1 with an error if it is not one */
int bs_lookup_node(bs_session *s, const char *name, int line, int col, bs_id *out);

/* builtins.c: functions, methods, attributes */
int bs_call_function(bs_session *s, const bs_expr *call, const char *name, bs_value *out);
int bs_call_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out);
int bs_get_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out);
/* completion sources */
void bs_builtins_each(void (*fn)(void *ud, const char *name, bool is_func), void *ud);
const char *const *bs_tensor_attrs(void);   /* NULL-terminated: attributes and methods */
bool bs_is_builtin(const char *name);
/* :help NAME for a builtin function that is not an op: its usage line, or NULL */
const char *bs_builtin_help(const char *name);

/* modules.c: import lines, and torch.NAME / F.NAME as PyTorch spells them */
int bs_run_import(bs_session *s, const bs_stmt *st);
/* "F" for mse_loss, "nn" for Linear, "torch.optim" for SGD: where PyTorch keeps a name backstep has
   only under a module; NULL otherwise */
const char *bs_module_home(const char *name);
int bs_module_attr(bs_session *s, const bs_expr *e, const bs_value *mod, const char *name, bs_value *out);
int bs_module_call(bs_session *s, const bs_expr *call, const bs_value *mod, const char *name,
                   bs_value *out);

/* suggest.c: ". Did you mean: 'sigmoid'?" (into buf) or "" when nothing is close */
const char *bs_suggest_name(bs_session *s, const char *word, char *buf, size_t len);
const char *bs_suggest_attr(const char *word, char *buf, size_t len);
const char *bs_suggest_among(const char *word, const char *const *cands, int n, char *buf, size_t len);
const char *bs_suggest_method(const bs_value *obj, const char *word, char *buf, size_t len);
bool bs_opt_method(const char *word); /* zero_grad, step */

/* pydict.c: dicts, lambdas, try/except/raise, del, and exceptions as values */
bs_hdict *bs_heap_dict(bs_session *s);
/* the index of key in d, or -1; -2 with an error (at e) for a key that cannot be hashed */
int bs_hdict_find(bs_session *s, bs_hdict *d, const bs_value *key, const bs_expr *e);
/* d[key] = v (both made persistent); -1 with an error */
int bs_hdict_set(bs_session *s, bs_hdict *d, const bs_value *key, const bs_value *v, const bs_expr *e);
/* {a, b}, {x for x in xs}: a set (a bs_hdict with is_set) */
int bs_eval_set(bs_session *s, const bs_expr *e, bs_value *out);
/* set(), set(iterable) */
int bs_set_new(bs_session *s, const bs_expr *call, bs_value *pos, int npos, bs_value *out);
bool bs_is_set(const bs_value *v);
/* a | b, a & b, a ^ b, a - b on sets (op '|', '&', '^', '-'): a new set */
int bs_set_op(bs_session *s, const bs_expr *e, char op, const bs_value *a, const bs_value *b, bs_value *out);
int bs_eval_dict(bs_session *s, const bs_expr *e, bs_value *out);      /* {k: v}, {k: v for ...} */
int bs_eval_lambda(bs_session *s, const bs_expr *e, bs_value *out);
int bs_dict_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out);
int bs_dict_method_v(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *pos, int npos,
                     const char **kn, bs_value *kv, int nkw, bs_value *out);
/* a BUILTIN value that is a dict's method (d.get as a value): its dict, or NULL */
void *bs_bound_dict(const bs_value *fn);
int bs_dict_subscript(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *key, bs_value *out);
int bs_exec_try(bs_session *s, const bs_stmt *st);
int bs_exec_raise(bs_session *s, const bs_stmt *st);
int bs_exec_del(bs_session *s, const bs_stmt *st);
int bs_pyobj_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out);
/* a & b, a | b, a ^ b (e a BINARY; x NULL) and ~x (e a UNARY; a, b NULL): on masks elementwise
   logic (a mask), on integers and integer tensors bitwise, as Python and torch */
int bs_eval_bitwise(bs_session *s, const bs_expr *e, bs_value *a, bs_value *x, bs_value *b, bs_value *out);
/* ValueError, KeyError, ...: a name of Python's exception classes */
bool bs_is_exc_name(const char *name);
/* class NAME(BASE) where BASE is an exception class: the interned name, or NULL out of memory */
const char *bs_exc_register(bs_session *s, const char *name, const char *base);
void bs_exc_free(bs_session *s);
/* is the exception type `type` (a name) the class cls or derived from it? */
bool bs_exc_is(bs_session *s, const char *type, const char *cls);
/* ValueError('msg') called: the exception value */
int bs_exc_new(bs_session *s, const bs_expr *call, const char *type, bs_value *pos, int npos, bs_value *out);
/* the str() of a dict or an exception, in the arena */
const char *bs_dict_str(bs_session *s, const bs_value *v);
/* exec.c helpers for pydict.c */
int bs_values_eq(bs_session *s, const bs_value *a, const bs_value *b, bool *eq); /* -2: tensors */
const char *bs_type_name(const bs_value *v);
char *bs_repr_value(bs_session *s, const bs_value *v);
int bs_collect(bs_session *s, const bs_expr *e, bs_value *v, bs_value *out); /* items into a list */
int bs_make_def(bs_session *s, const bs_stmt *st, bs_value *out);          /* a DEF as a function */

/* eval.c: the passes :explain can explain */
/* remember a completed backward pass from root for :explain */
void bs_pass_record(bs_session *s, bs_id root);
/* forget the passes whose root is at or past len (the tape was truncated or reset) */
void bs_pass_forget_from(bs_session *s, int32_t len);

/* print.c */
void bs_print_value(bs_session *s, FILE *f, const bs_value *v);
void bs_print_inline(bs_session *s, FILE *f, const bs_value *v); /* quiet form, no newline */
void bs_print_tensor(bs_session *s, FILE *f, const bs_tensor *t, bool quiet, int prec);
/* compact one-line preview: "0.4629" or "(2, 3) [0.1, 0.2, ...]" */
char *bs_preview(const bs_tensor *t, int prec, char *buf, size_t len);
void bs_fmt_num(char *buf, size_t len, double v, int prec, bool is_int);

/* ==== Commands (cmdtab.c): the table the other layers register into ====
 * repl/ is layered: the interpreter (eval, exec, builtins, nn, modules, amp, heap, index, pydict,
 * suggest, print, cmdtab: an evaluator and its builtins call each other, as any interpreter's
 * do) at the bottom; above it the tools, each with its own command set (commands.c: inspecting
 * and the session, and :lesson over lesson.c's runner; stepper.c, viewer.c, run.c, export_py.c),
 * which call down and never up; session.c at the top registers the sets (bs_repl_init);
 * complete.c, term.c and main.c use it all. The interpreter
 * reaches a tool only through the table: a `:cmd` statement, and the hooks below. */
typedef struct {
    const char *name;
    int (*fn)(bs_session *, const bs_stmt *);
    const char *usage;
    const char *help;
} bs_command;

typedef struct {
    const char *title;              /* its heading in :help */
    const bs_command *cmds;         /* ends with a NULL name */
    /* hooks, each optional */
    void (*after_statement)(bs_session *s);        /* each statement's end (the window redraws) */
    void (*session_reset)(bs_session *s);          /* :reset, and before the session is freed */
    void (*session_free)(bs_session *s);
    /* node ids the set holds, kept by a compaction (bs_tape_collect): fills up to max, returns
       the count */
    int (*keep_ids)(bs_session *s, bs_id **out, int max);
} bs_command_set;

/* sets are process-wide, listed in the order registered (session.c); registering one twice does
   nothing */
void bs_commands_register(const bs_command_set *set);
int bs_command_set_count(void);
const bs_command_set *bs_command_set_at(int i);
/* a command by name, or by a prefix that names one command (:h, :ex); NULL if none */
const bs_command *bs_command_find(const char *name, bool prefix);
const char *const *bs_command_names(void);  /* NULL-terminated, without ':' */
int bs_run_command(bs_session *s, const bs_stmt *st);
void bs_commands_after_statement(bs_session *s);
void bs_commands_session_reset(bs_session *s);
void bs_commands_session_free(bs_session *s);
int bs_commands_keep_ids(bs_session *s, bs_id **out, int max);
/* argument helpers every set uses */
bool bs_cmd_flag(const bs_stmt *st, const char *flag);
const bs_word *bs_cmd_positional(const bs_stmt *st, int k); /* non --flag argument k, or NULL */
int bs_cmd_usage(bs_session *s, const bs_stmt *st, const char *u);

/* the sets (session.c registers them) */
extern const bs_command_set bs_inspect_commands, bs_session_commands; /* commands.c */
extern const bs_command_set bs_stepper_commands;                     /* stepper.c */
extern const bs_command_set bs_viewer_commands;                      /* viewer.c */
extern const bs_command_set bs_run_commands;                         /* run.c */
extern const bs_command_set bs_lesson_commands;                      /* commands.c */

/* viewer.c: the window and the graph commands */
bs_window *bs_session_window(bs_session *s); /* the open window or NULL */
/* one hold of bs_session_window_hold given back without the redraw a release does (:load: the
   statement that ran it redraws once it is done) */
void bs_session_window_unhold(bs_session *s);

/* stepper.c */
/* for the window and exports: the current stepping state (NULL when not stepping) */
const bs_view_state *bs_stepper_view(bs_session *s);
/* window keys n / b / f */
void bs_stepper_key(bs_session *s, bs_window_event_kind k);
/* :export DIR --steps: one frame per step of a pass from root */
int bs_stepper_export_frames(bs_session *s, const bs_stmt *st, const char *dir, bs_id root,
                             const char *ext);

/* run.c */
int bs_cmd_mem_sizes(bs_session *s, const bs_stmt *st); /* :mem DIM=a,b,... (repl/run.c) */

#endif
