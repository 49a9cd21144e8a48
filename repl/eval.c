/* repl/eval.c: the session, the name table, and the evaluator of statements and expressions.
 * Each statement runs in a protected frame: on failure the tape is cut back to where the statement
 * began and no name changes, so nothing survives half-built. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

/* ==== Errors ==== */

int bs_fail(bs_session *s, int line, int col, const char *fmt, ...)
{
    if (s->e->msg[0]) return -1; /* keep the first (innermost) error */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->e->msg, sizeof s->e->msg, fmt, ap);
    va_end(ap);
    s->e->line = line;
    s->e->col = col;
    return -1;
}

int bs_fail_core(bs_session *s, int line, int col, const char *what)
{
    if (what && *what) return bs_fail(s, line, col, "%s: %s", what, bs_errmsg(s->ctx));
    return bs_fail(s, line, col, "%s", bs_errmsg(s->ctx));
}

/* ==== Names: open addressing on a power-of-two table ==== */

static uint32_t hash_str(const char *p)
{
    uint32_t h = 2166136261u;
    while (*p) h = (h ^ (uint8_t)*p++) * 16777619u;
    return h;
}

bs_name *bs_name_find(bs_session *s, const char *name)
{
    if (!s->cap) return NULL;
    for (uint32_t i = hash_str(name) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->names[i].name) return NULL;
        if (!strcmp(s->names[i].name, name)) return &s->names[i];
    }
}

/* a names table generation no session has had (an AST's 0 is no cache) */
static unsigned names_gen_new(void)
{
    static unsigned last;
    unsigned g = __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
    return g ? g : __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

static bool names_grow(bs_session *s)
{
    int ncap = s->cap ? s->cap * 2 : 64;
    bs_name *nn = calloc((size_t)ncap, sizeof *nn);
    if (!nn) return false;
    for (int i = 0; i < s->cap; i++) {
        if (!s->names[i].name) continue;
        uint32_t j = hash_str(s->names[i].name) & (ncap - 1);
        while (nn[j].name) j = (j + 1) & (ncap - 1);
        nn[j] = s->names[i];
    }
    free(s->names);
    s->names = nn;
    s->cap = ncap;
    s->names_gen = names_gen_new();
    return true;
}

bs_name *bs_name_bind(bs_session *s, const char *name)
{
    bs_name *n = bs_name_find(s, name);
    if (n) return n;
    if ((s->count + 1) * 2 > s->cap && !names_grow(s)) return NULL;
    uint32_t i = hash_str(name) & (s->cap - 1);
    while (s->names[i].name) i = (i + 1) & (s->cap - 1);
    n = &s->names[i];
    n->name = strdup(name);
    if (!n->name) return NULL;
    n->order = s->order++;
    s->count++;
    return n;
}

static int cmp_order(const void *a, const void *b)
{
    const bs_name *x = *(const bs_name *const *)a, *y = *(const bs_name *const *)b;
    return x->order - y->order;
}

int bs_names_sorted(bs_session *s, bs_name **out, int max)
{
    int n = 0;
    for (int i = 0; i < s->cap && n < max; i++)
        if (s->names[i].name) out[n++] = &s->names[i];
    qsort(out, (size_t)n, sizeof *out, cmp_order);
    return n;
}

static void names_clear(bs_session *s)
{
    for (int i = 0; i < s->cap; i++) free(s->names[i].name);
    free(s->names);
    s->names = NULL;
    s->cap = s->count = s->order = 0;
    s->names_gen = names_gen_new();
}

/* ==== The passes :explain can explain ==== */

void bs_pass_record(bs_session *s, bs_id root)
{
    int j = 0;
    for (int i = 0; i < s->npass; i++) /* each root once: the newest at the end */
        if (s->pass_root[i] != root) s->pass_root[j++] = s->pass_root[i];
    s->npass = j;
    if (s->npass == BS_PASS_LOG) {
        memmove(s->pass_root, s->pass_root + 1, (BS_PASS_LOG - 1) * sizeof *s->pass_root);
        s->npass--;
    }
    s->pass_root[s->npass++] = root;
}

void bs_pass_forget_from(bs_session *s, int32_t len)
{
    int j = 0;
    for (int i = 0; i < s->npass; i++)
        if (s->pass_root[i] < len) s->pass_root[j++] = s->pass_root[i];
    s->npass = j;
}

/* ==== Session ==== */

bs_session *bs_session_new(const bs_session_opts *o, FILE *out, FILE *err)
{
    bs_session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ctx = bs_ctx_new();
    if (!s->ctx) {
        free(s);
        return NULL;
    }
    if (o) s->o = *o;
    if (s->o.precision <= 0) s->o.precision = 6;
    s->out = out ? out : stdout;
    s->err = err ? err : stderr;
    s->last_scalar = s->last_assigned = BS_NONE;
    s->e = &s->ebuf;
    s->names_gen = names_gen_new();
    return s;
}

static void seen_clear(bs_session *s);

static void hist_clear(bs_session *s)
{
    for (int i = 0; i < s->nhist; i++) free(s->hist[i]);
    free(s->hist);
    s->hist = NULL;
    s->nhist = s->caphist = 0;
}

void bs_session_reset(bs_session *s)
{
    bs_commands_session_reset(s);
    names_clear(s);
    bs_heap_gc(s); /* what a running script still needs stays */
    hist_clear(s);
    bs_ctx_reset(s->ctx);
    bs_ctx_seed(s->ctx, 0);
    bs_ctx_set_dtype(s->ctx, BS_F64);
    s->last_scalar = s->last_assigned = BS_NONE;
    s->collect_at = 0;
    s->npass = 0;
}

void bs_session_collect(bs_session *s, bool force)
{
    int32_t len = bs_tape_len(s->ctx);
    if (s->step || (!force && len < (s->collect_at > BS_COLLECT_MIN ? s->collect_at : BS_COLLECT_MIN)))
        return;
    int n = 0, cap = s->count + 64;
    bs_id **keep = malloc((size_t)cap * sizeof *keep);
    if (!keep) return; /* nothing reclaimed this time; the next statement tries again */
    for (int i = 0; i < s->cap; i++)
        if (s->names[i].name &&
            (s->names[i].kind == BS_NAME_NODE || (s->names[i].kind == BS_NAME_VALUE && s->names[i].id >= 0)))
            keep[n++] = &s->names[i].id;
    n = bs_heap_ids(s, &keep, n, &cap);
    /* :explain's log keeps only the newest pass through a compaction: each older one would keep
       a whole training step's graph alive (16 of them in a loop), and what a name still reaches
       is kept anyway. An older pass then reads as one :explain no longer knows. */
    if (s->npass > 1) {
        s->pass_root[0] = s->pass_root[s->npass - 1];
        s->npass = 1;
    }
    /* the defaults, the passes, what the command sets hold (the window's root) */
    int more = 2 + s->npass + 8;
    bs_id **room = n < 0 ? NULL : realloc(keep, (size_t)(n + more) * sizeof *keep);
    if (!room) {
        free(keep);
        return;
    }
    keep = room;
    cap = n + more;
    keep[n++] = &s->last_scalar;
    keep[n++] = &s->last_assigned;
    for (int i = 0; i < s->npass; i++) keep[n++] = &s->pass_root[i];
    n += bs_commands_keep_ids(s, keep + n, cap - n);
    int32_t dropped = bs_tape_collect(s->ctx, keep, n);
    free(keep);
    if (dropped < 0) return;
    len = bs_tape_len(s->ctx);
    /* the next one when the tape has doubled; when this one found little to drop (a script that
       builds one big graph), when it has grown four times (each costs what the tape holds) */
    int grow = dropped < len / 8 ? 4 : 2;
    s->collect_at = len > BS_COLLECT_MIN / 2 ? grow * len : BS_COLLECT_MIN;
}

void bs_session_free(bs_session *s)
{
    if (!s) return;
    bs_commands_session_free(s);
    names_clear(s);
    bs_heap_free_all(s);
    bs_exc_free(s);
    hist_clear(s);
    seen_clear(s);
    bs_arena_free(&s->arena);
    bs_ctx_free(s->ctx); /* then the texts its nodes borrowed */
    for (size_t i = 0; i < s->captexts; i++) free(s->texts[i]);
    free(s->texts);
    free(s);
}

bs_ctx *bs_session_ctx(bs_session *s) { return s->ctx; }
bs_session_opts *bs_session_options(bs_session *s) { return &s->o; }
bool bs_session_stepping(bs_session *s) { return s->step != NULL; }

void bs_session_interrupt(bs_session *s)
{
    s->interrupted = 1;
    bs_ctx_interrupt(s->ctx);
}

bool bs_session_incomplete(const char *src) { return bs_lang_incomplete(src); }
bool bs_session_unclosed(const char *src) { return bs_lang_unclosed(src); }
bool bs_session_block_open(const char *src) { return bs_lang_block_open(src); }
bool bs_session_continues_block(const char *line) { return bs_lang_continues_block(line); }
bool bs_session_pending_decorator(const char *src) { return bs_lang_pending_decorator(src); }

void bs_hist_add(bs_session *s, const char *text)
{
    if (s->nhist == s->caphist) {
        int nc = s->caphist ? s->caphist * 2 : 64;
        char **nh = realloc(s->hist, (size_t)nc * sizeof *nh);
        if (!nh) return;
        s->hist = nh;
        s->caphist = nc;
    }
    char *c = strdup(text);
    if (c) s->hist[s->nhist++] = c;
}

/* ==== Expressions ==== */

/* The label texts' hash: a polynomial in the bytes (h = h * B + byte), so that the hash of a
   text made of pieces comes from the pieces' hashes: H(a b) = H(a) * B^|b| + H(b). An expression's
   text then costs the bytes between its operands, not its length again at every level (a long
   a + b + c + ... chain, relu(...) around it). The set's slot is a mix of it. */
#define TH_B 0x100000001b3ull
static uint64_t th_bytes(uint64_t h, const char *c, size_t n, bool *plain)
{
    /* the bytes that make a span not its own text */
    static const unsigned char odd[256] = {['\''] = 1, ['"'] = 1, ['#'] = 1, ['\\'] = 1, ['\n'] = 1, ['\r'] = 1};
    unsigned any = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)c[i];
        any |= odd[b];
        h = h * TH_B + b;
    }
    if (any) *plain = false;
    return h;
}

static uint64_t th_pow(size_t n)
{
    uint64_t r = 1, b = TH_B;
    for (; n; n >>= 1, b *= b)
        if (n & 1) r *= b;
    return r;
}

static size_t th_slot(uint64_t h, size_t cap)
{
    h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static uint64_t th_str(const char *t)
{
    bool plain = true;
    return th_bytes(0, t, strlen(t), &plain);
}

/* one session-lifetime copy of each distinct label text (NULL when out of memory): what
   bs_expr_text caches in the AST and what nodes borrow, so a loop does not copy a text per node */
static const char *text_intern(bs_session *s, const char *t)
{
    if (2 * (s->ntexts + 1) > s->captexts) {
        size_t nc = s->captexts ? 2 * s->captexts : 256;
        char **nt = calloc(nc, sizeof *nt);
        if (!nt) return NULL;
        for (size_t i = 0; i < s->captexts; i++) {
            if (!s->texts[i]) continue;
            size_t j = th_slot(th_str(s->texts[i]), nc);
            while (nt[j]) j = (j + 1) & (nc - 1);
            nt[j] = s->texts[i];
        }
        free(s->texts);
        s->texts = nt;
        s->captexts = nc;
    }
    size_t j = th_slot(th_str(t), s->captexts);
    for (; s->texts[j]; j = (j + 1) & (s->captexts - 1))
        if (!strcmp(s->texts[j], t)) return s->texts[j];
    if (!(s->texts[j] = strdup(t))) return NULL;
    s->ntexts++;
    return s->texts[j];
}

/* text_intern for a span that is its own text (no quote, comment, join nor newline in it):
   the text's hash h is given, and the span is copied only when the set lacks it */
static const char *text_intern_span(bs_session *s, const char *t, size_t n, uint64_t h)
{
    if (2 * (s->ntexts + 1) > s->captexts) { /* grow through text_intern: one copy, then look up */
        char *c = strndup(t, n);
        const char *r = c ? text_intern(s, c) : NULL;
        free(c);
        return r;
    }
    size_t j = th_slot(h, s->captexts);
    for (; s->texts[j]; j = (j + 1) & (s->captexts - 1))
        if (!strncmp(s->texts[j], t, n) && !s->texts[j][n]) return s->texts[j]; /* stops at its end */
    if (!(s->texts[j] = strndup(t, n))) return NULL;
    s->ntexts++;
    return s->texts[j];
}

/* e's text when its span is plain, its hash put together from its operands' (those whose text
   was made already: they were evaluated first) and the bytes between them */
static bool plain_text(bs_session *s, bs_expr *e)
{
    const bs_expr *kid[2 + 16];
    int nk = 0;
    switch (e->kind) {
    case BS_EX_BINARY: kid[nk++] = e->bin.lhs; kid[nk++] = e->bin.rhs; break;
    case BS_EX_UNARY: kid[nk++] = e->unary.operand; break;
    case BS_EX_ATTR: kid[nk++] = e->attr.obj; break;
    case BS_EX_SUBSCRIPT: kid[nk++] = e->sub.obj; kid[nk++] = e->sub.index; break;
    case BS_EX_CALL:
        kid[nk++] = e->call.fn;
        for (int i = 0; i < e->call.nargs && nk < (int)(sizeof kid / sizeof kid[0]); i++)
            kid[nk++] = e->call.args[i].value;
        break;
    default: break;
    }
    bool plain = true;
    uint64_t h = 0;
    int pos = e->start;
    for (int i = 0; i < nk; i++) {
        const bs_expr *c = kid[i];
        if (!c || !c->text || !c->text_plain || c->src != e->src || c->start < pos || c->end > e->end ||
            c->end < c->start)
            continue; /* its bytes are hashed with the ones around it */
        h = th_bytes(h, e->src + pos, (size_t)(c->start - pos), &plain);
        h = h * th_pow((size_t)(c->end - c->start)) + c->text_hash;
        pos = c->end;
    }
    h = th_bytes(h, e->src + pos, (size_t)(e->end - pos), &plain);
    if (!plain) return false;
    const char *t = text_intern_span(s, e->src + e->start, (size_t)(e->end - e->start), h);
    if (!t) return false;
    e->text = t;
    e->text_hash = h;
    e->text_plain = true;
    return true;
}

char *bs_expr_text(bs_session *s, const bs_expr *e)
{
    if (!e || !s->src) return NULL;
    if (e->src == s->src) { /* an expression's text once per parse, not once per evaluation */
        if (!e->text && e->end > e->start && plain_text(s, (bs_expr *)e)) return (char *)e->text;
        if (!e->text) {
            char *t = bs_ast_text(&s->arena, s->src, e->start, e->end);
            ((bs_expr *)e)->text = t ? text_intern(s, t) : NULL;
        }
        if (e->text) return (char *)e->text;
    }
    return bs_ast_text(&s->arena, s->src, e->start, e->end);
}

static int num_to_node(bs_session *s, const bs_value *v, const bs_expr *e, bs_id *out);

int bs_lookup_node(bs_session *s, const char *name, int line, int col, bs_id *out)
{
    bs_name *n = bs_name_find(s, name);
    char dym[64];
    if (!n) return bs_fail(s, line, col, "name '%s' is not defined%s", name, bs_suggest_name(s, name, dym, sizeof dym));
    if (n->kind == BS_NAME_VALUE && (n->val.k == BS_V_NUM || n->val.k == BS_V_BOOL)) {
        bs_value v = n->val;
        if (v.k == BS_V_BOOL) v = (bs_value){.k = BS_V_NUM, .num = v.b, .is_int = true, .sym = -1};
        v.numname = n->name;
        return num_to_node(s, &v, NULL, out);
    }
    if (n->kind != BS_NAME_NODE) return bs_fail(s, line, col, "'%s' is not a tensor", name);
    *out = n->id;
    return 0;
}

void bs_node_text_from(bs_session *s, bs_id id, const bs_expr *e)
{
    char *t = bs_expr_text(s, e);
    if (t && t == e->text) bs_node_borrow_text(s->ctx, id, t); /* interned: lives as long */
    else if (t) bs_node_set_text(s->ctx, id, t);
}

static void label_node(bs_session *s, bs_id id, const bs_expr *e)
{
    if (e && id >= 0 && id < bs_tape_len(s->ctx) && !bs_node_text(s->ctx, id)) {
        char *t = bs_expr_text(s, e);
        if (t && t == e->text) bs_node_borrow_text(s->ctx, id, t); /* interned: lives as long */
        else if (t) bs_node_set_text(s->ctx, id, t);
    }
}

/* numbers stay Python numbers until an op needs a tensor */
static int num_to_node(bs_session *s, const bs_value *v, const bs_expr *e, bs_id *out)
{
    /* a name bound to a number (x1 = 1.0) is one constant node of the graph, labelled x1 */
    bs_name *n = v->numname ? bs_name_find(s, v->numname) : NULL;
    if (n && (n->kind != BS_NAME_VALUE || n->val.k != BS_V_NUM || n->val.num != v->num)) n = NULL;
    if (n && n->id >= 0 && n->id < bs_tape_len(s->ctx)) {
        const bs_node *c = bs_node_get(s->ctx, n->id);
        if (c && c->op == BS_OP_LEAF && c->label && !strcmp(c->label, n->name) &&
            bs_tensor_numel(&c->value) == 1 && c->value.data[0] == v->num) {
            *out = n->id;
            return 0;
        }
    }
    /* a Python float stays a double (torch casts it to each op's dtype when it is used) */
    bs_id id = bs_scalar(s->ctx, v->num, v->is_int ? BS_I64 : BS_F64);
    if (id < 0) return bs_fail_core(s, e ? e->line : 0, e ? e->col : 0, NULL);
    if (n) {
        bs_node_set_label(s->ctx, id, n->name);
        n->id = id;
    } else {
        label_node(s, id, e);
    }
    *out = id;
    return 0;
}

int bs_to_node(bs_session *s, bs_value *v, const bs_expr *e, bs_id *out)
{
    int line = e ? e->line : 0, col = e ? e->col : 0;
    switch (v->k) {
    case BS_V_NODE: *out = v->id; return 0;
    case BS_V_NUM: return num_to_node(s, v, e, out);
    case BS_V_BOOL: {
        bs_value n = {.k = BS_V_NUM, .num = v->b, .is_int = true, .sym = -1};
        return num_to_node(s, &n, e, out);
    }
    case BS_V_TMP: {
        bs_id id = bs_leaf(s->ctx, v->tmp.data, &v->tmp.shape, v->tmp.dtype, false);
        if (id < 0) return bs_fail_core(s, line, col, NULL);
        if (v->mask) bs_node_mark_bool(s->ctx, id);
        label_node(s, id, e);
        *out = id;
        return 0;
    }
    case BS_V_NONE:
        return bs_fail(s, line, col, "expected a tensor, got None");
    case BS_V_VOID:
        return bs_fail(s, line, col, "expected a tensor, but this call returns nothing");
    case BS_V_LIST:
    case BS_V_TUPLE:
        return bs_fail(s, line, col, "a list is not a tensor here: write tensor([...])");
    case BS_V_STR: return bs_fail(s, line, col, "expected a tensor, got a string");
    case BS_V_SHAPE: return bs_fail(s, line, col, "expected a tensor, got a shape");
    case BS_V_OPT: return bs_fail(s, line, col, "expected a tensor, got an optimizer");
    case BS_V_DIM: return bs_fail(s, line, col, "expected a tensor, got a size variable");
    case BS_V_GRADFN: return bs_fail(s, line, col, "expected a tensor, got a grad_fn");
    case BS_V_MODULE: return bs_fail(s, line, col, "expected a tensor, got the module %s", v->str);
    case BS_V_FUNC: case BS_V_BOUND: case BS_V_BUILTIN:
        return bs_fail(s, line, col, "expected a tensor, got a function (is a call missing?)");
    case BS_V_CLASS: return bs_fail(s, line, col, "expected a tensor, got a class");
    case BS_V_OBJ: return bs_fail(s, line, col, "expected a tensor, got a module (call it: model(x))");
    case BS_V_RANGE: return bs_fail(s, line, col, "expected a tensor, got a range: write tensor(list(range(...)))");
    case BS_V_SUPER: return bs_fail(s, line, col, "expected a tensor, got super()");
    case BS_V_DICT: return bs_fail(s, line, col, "expected a tensor, got a dict");
    case BS_V_EXC: return bs_fail(s, line, col, "expected a tensor, got an exception");
    }
    return bs_fail(s, line, col, "expected a tensor");
}

int bs_to_tensor(bs_session *s, bs_value *v, const bs_expr *e, bs_tensor *out)
{
    if (v->k == BS_V_TMP) {
        *out = v->tmp;
        return 0;
    }
    if (v->k == BS_V_NUM) {
        double *d = bs_arena_alloc(&s->arena, sizeof(double));
        if (!d) return bs_fail(s, e->line, e->col, "out of memory");
        *d = v->num;
        *out = (bs_tensor){bs_ctx_dtype(s->ctx), {0, {0}}, d};
        return 0;
    }
    if (v->k == BS_V_NODE) {
        *out = bs_node_get(s->ctx, v->id)->value;
        return 0;
    }
    bs_id id;
    if (bs_to_node(s, v, e, &id)) return -1;
    *out = bs_node_get(s->ctx, id)->value;
    return 0;
}

static bs_op binop_op(bs_binop op)
{
    switch (op) {
    case BS_BIN_ADD: return BS_OP_ADD;
    case BS_BIN_SUB: return BS_OP_SUB;
    case BS_BIN_MUL: return BS_OP_MUL;
    case BS_BIN_DIV: return BS_OP_DIV;
    case BS_BIN_POW: return BS_OP_POW;
    case BS_BIN_MATMUL: return BS_OP_MATMUL;
    default: return BS_OP_ADD;
    }
}

/* Python arithmetic on two numbers */
static int fold_numbers(bs_session *s, const bs_expr *e, const bs_value *a, const bs_value *b,
                        bs_value *out)
{
    double x = a->num, y = b->num, r = 0;
    bool is_int = a->is_int && b->is_int;
    switch (e->bin.op) {
    case BS_BIN_ADD: r = x + y; break;
    case BS_BIN_SUB: r = x - y; break;
    case BS_BIN_MUL: r = x * y; break;
    case BS_BIN_DIV: /* numbers are tensors here: 1/0 is inf, as torch gives; a .py file is Python's */
        if (y == 0 && s->o.python_file)
            return bs_fail(s, e->op_line, e->op_col, "ZeroDivisionError: %sdivision by zero", is_int ? "" : "float ");
        r = x / y;
        is_int = false;
        break;
    case BS_BIN_POW:
        r = pow(x, y);
        if (y < 0) is_int = false;
        break;
    case BS_BIN_FLOORDIV:
    case BS_BIN_MOD:
        if (y == 0)
            return bs_fail(s, e->op_line, e->op_col, is_int ? "integer division or modulo by zero"
                                                            : "float division by zero");
        r = e->bin.op == BS_BIN_FLOORDIV ? floor(x / y) : x - floor(x / y) * y;
        if (e->bin.op == BS_BIN_MOD && r != 0 && (r < 0) != (y < 0)) r += y;
        break;
    case BS_BIN_MATMUL:
        return bs_fail(s, e->op_line, e->op_col, "@ needs tensors, not numbers");
    default:
        return bs_fail(s, e->op_line, e->op_col, "unsupported operator");
    }
    /* integers are held as doubles: exact up to 2**53, and an error past it, not a rounding */
    if (is_int && fabs(r) > (double)BS_INT_EXACT_MAX)
        return bs_fail(s, e->op_line, e->op_col, "integer result too large: %.17g is past 2**53, "
                       "where backstep's numbers stop being exact", r);
    *out = (bs_value){.k = BS_V_NUM, .num = r, .is_int = is_int, .sym = -1};
    /* 3 * D of a size variable D is the derived size 3*D (nn.Linear(D, 3 * D) replays) */
    if (e->bin.op == BS_BIN_MUL && is_int && (a->sym >= 0) != (b->sym >= 0) && r >= 1) {
        const bs_value *k = a->sym >= 0 ? b : a;
        if (k->num >= 1) out->sym = bs_dim_derive(s->ctx, a->sym >= 0 ? a->sym : b->sym, (int64_t)k->num);
    }
    return 0;
}

static int eval_list(bs_session *s, const bs_expr *e, bs_value *out)
{
    out->k = e->kind == BS_EX_LIST ? BS_V_LIST : BS_V_TUPLE;
    out->n = e->list.n;
    out->items = bs_arena_alloc(&s->arena, sizeof(bs_value) * (size_t)(e->list.n ? e->list.n : 1));
    if (!out->items) return bs_fail(s, e->line, e->col, "out of memory");
    for (int i = 0; i < e->list.n; i++)
        if (bs_eval_expr(s, e->list.items[i], &out->items[i])) return -1;
    return 0;
}

/* a number, or a one-element tensor that needs no grad, as a number */
static bool scalar_number(bs_session *s, const bs_value *v, double *x, bool *is_int)
{
    if (v->k == BS_V_NODE && bs_node_get(s->ctx, v->id)->requires_grad) return false;
    return v->k != BS_V_TMP && bs_as_number(s, v, x, is_int);
}

int bs_eval_binary_values(bs_session *s, const bs_expr *e, bs_value *a, bs_value *b, bs_value *out)
{
    if (e->bin.op == BS_BIN_BITAND || e->bin.op == BS_BIN_BITOR || e->bin.op == BS_BIN_BITXOR)
        return bs_eval_bitwise(s, e, a, NULL, b, out);
    if ((a->k == BS_V_NUM || a->k == BS_V_BOOL) && (b->k == BS_V_NUM || b->k == BS_V_BOOL)) {
        if (a->k == BS_V_BOOL) *a = (bs_value){.k = BS_V_NUM, .num = a->b, .is_int = true, .sym = -1};
        if (b->k == BS_V_BOOL) *b = (bs_value){.k = BS_V_NUM, .num = b->b, .is_int = true, .sym = -1};
        return fold_numbers(s, e, a, b, out);
    }
    /* tensors and numbers are not Python's: pybinary would only say so */
    bool plain = (a->k == BS_V_NODE || a->k == BS_V_NUM) && (b->k == BS_V_NODE || b->k == BS_V_NUM);
    int py = plain ? 1 : bs_eval_pybinary(s, e, e->bin.op, a, b, out);
    if (py <= 0) return py;
    if (e->bin.op == BS_BIN_FLOORDIV || e->bin.op == BS_BIN_MOD) {
        /* step % n with n a constant: Python numbers (a tensor that learns has no gradient here) */
        double x, y;
        bool xi, yi;
        if (scalar_number(s, a, &x, &xi) && scalar_number(s, b, &y, &yi)) {
            bs_value na = {.k = BS_V_NUM, .num = x, .is_int = xi, .sym = -1};
            bs_value nb = {.k = BS_V_NUM, .num = y, .is_int = yi, .sym = -1};
            return fold_numbers(s, e, &na, &nb, out);
        }
        return bs_fail(s, e->op_line, e->op_col, "'%s' on tensors is not supported (it has no gradient)",
                       bs_binop_symbol(e->bin.op));
    }
    bs_id x = a->id, y = b->id; /* a node is its id (bs_to_node's first case) */
    if ((a->k != BS_V_NODE && bs_to_node(s, a, e->bin.lhs, &x)) ||
        (b->k != BS_V_NODE && bs_to_node(s, b, e->bin.rhs, &y)))
        return -1;
    bs_id r = bs_apply2(s->ctx, binop_op(e->bin.op), x, y);
    if (r < 0) return bs_fail_core(s, e->op_line, e->op_col, NULL);
    label_node(s, r, e);
    out->k = BS_V_NODE;
    out->id = r;
    return 0;
}

static int eval_expr(bs_session *s, const bs_expr *e, bs_value *out);

/* The C stack bounds how deep evaluation goes: expressions inside calls inside expressions */
#define MAX_EVAL_DEPTH 3000

int bs_eval_expr(bs_session *s, const bs_expr *e, bs_value *out)
{
    if (s->edepth >= MAX_EVAL_DEPTH) {
        memset(out, 0, sizeof *out);
        return bs_fail(s, e->line, e->col, "expressions and calls nested too deeply (more than %d levels)",
                       MAX_EVAL_DEPTH);
    }
    s->edepth++;
    int r = eval_expr(s, e, out);
    s->edepth--;
    return r;
}

/* a call (its argument arrays live here, not in every level of eval_expr's recursion) */
__attribute__((noinline)) static int eval_call(bs_session *s, const bs_expr *e, bs_value *out)
{
    const bs_expr *fn = e->call.fn;
    bs_value callee;
    if (fn->kind == BS_EX_NAME) {
        bs_value *local = bs_frame_lookup_name(s, fn);
        bs_name *n = local ? NULL : bs_name_find(s, fn->name);
        if (local || (n && n->kind == BS_NAME_VALUE)) {
            callee = local ? *local : n->val;
            goto call_value;
        }
        if (n) return bs_fail(s, fn->line, fn->col, "'%s' is not callable", fn->name);
        if (bs_is_py_builtin(fn->name)) {
            return bs_py_builtin(s, e, fn->name, out);
        }
        return bs_call_function(s, e, fn->name, out);
    }
    if (fn->kind == BS_EX_ATTR) {
        bs_value obj;
        if (bs_eval_expr(s, fn->attr.obj, &obj)) return -1;
        if (obj.k == BS_V_MODULE) return bs_module_call(s, e, &obj, fn->attr.name, out);
        if (obj.k == BS_V_OBJ) return bs_obj_method(s, e, &obj, fn->attr.name, out);
        if (obj.k == BS_V_LIST || obj.k == BS_V_TUPLE || obj.k == BS_V_STR)
            return bs_list_method(s, e, &obj, fn->attr.name, out);
        if (obj.k == BS_V_DICT) return bs_dict_method(s, e, &obj, fn->attr.name, out);
        if (obj.k == BS_V_SUPER || obj.k == BS_V_CLASS) {
            /* super().__init__(): the base class's method, or nn.Module's (nothing to do) */
            bs_hclass *c = obj.k == BS_V_SUPER ? ((bs_hclass *)obj.ref2)->base : obj.ref;
            bs_value *m = NULL;
            for (bs_hclass *k = c; k && !m; k = k->base) m = bs_dict_get(&k->attrs, fn->attr.name);
            if (!m) {
                if (obj.k == BS_V_SUPER && !strcmp(fn->attr.name, "__init__")) {
                    out->k = BS_V_VOID;
                    return 0;
                }
                return bs_fail(s, fn->attr.name_line, fn->attr.name_col, "'super' object has no attribute '%s'",
                               fn->attr.name);
            }
            if (obj.k == BS_V_SUPER && m->k == BS_V_FUNC) {
                memset(&callee, 0, sizeof callee);
                callee.k = BS_V_BOUND;
                callee.ref = obj.ref;
                callee.ref2 = m->ref;
            } else {
                callee = *m;
            }
            goto call_value;
        }
        if (obj.k == BS_V_NUM || obj.k == BS_V_BOOL) {
            bs_id id;
            if (bs_to_node(s, &obj, fn->attr.obj, &id)) return -1;
            obj = (bs_value){.k = BS_V_NODE, .id = id, .sym = -1};
        }
        return bs_call_method(s, e, &obj, fn->attr.name, out);
    }
    if (bs_eval_expr(s, fn, &callee)) return -1;
call_value: {
    bs_value pos[16], kv[16];
    const char *kn[16];
    int npos, nkw;
    if (bs_eval_args(s, e, pos, &npos, kn, kv, &nkw, 16)) return -1;
    return bs_call_value(s, e, &callee, pos, npos, kn, kv, nkw, out);
}
}

static int eval_expr(bs_session *s, const bs_expr *e, bs_value *out)
{
    memset(out, 0, sizeof *out);
    out->sym = -1;
    if (s->interrupted) return bs_fail(s, e->line, e->col, "interrupted");
    switch (e->kind) {
    case BS_EX_NUM:
        out->k = BS_V_NUM;
        out->num = e->num.value;
        out->is_int = e->num.is_int;
        return 0;
    case BS_EX_STR:
        out->k = BS_V_STR;
        out->str = e->str.s;
        return 0;
    case BS_EX_BOOL:
        out->k = BS_V_BOOL;
        out->b = e->boolean;
        return 0;
    case BS_EX_NONE:
        out->k = BS_V_NONE;
        return 0;
    case BS_EX_NAME: {
        bs_value *local = bs_frame_lookup_name(s, e);
        if (local) {
            *out = *local;
            return 0;
        }
        bs_name *n;
        if (e->gslot_gen == s->names_gen) { /* an entry keeps its slot and name until a grow or clear */
            n = &s->names[e->gslot];
        } else if ((n = bs_name_find(s, e->name))) {
            ((bs_expr *)e)->gslot = (int)(n - s->names);
            ((bs_expr *)e)->gslot_gen = s->names_gen;
        }
        if (!n) {
            if (bs_is_builtin(e->name) || bs_is_py_builtin(e->name) || !strcmp(e->name, "object")) {
                out->k = BS_V_BUILTIN; /* a function of backstep's as a value: act = relu */
                out->str = e->name;
                return 0;
            }
            char dym[64];
            return bs_fail(s, e->line, e->col, "name '%s' is not defined%s", e->name,
                           bs_suggest_name(s, e->name, dym, sizeof dym));
        }
        switch (n->kind) {
        case BS_NAME_NODE: out->k = BS_V_NODE; out->id = n->id; break;
        case BS_NAME_DIM:
            out->k = BS_V_NUM;
            out->num = (double)bs_dim_value(s->ctx, n->dim);
            out->is_int = true;
            out->sym = n->dim;
            break;
        case BS_NAME_OPT: out->k = BS_V_OPT; out->opt = n->opt; break;
        case BS_NAME_NONE: out->k = BS_V_NONE; break;
        case BS_NAME_MODULE: out->k = BS_V_MODULE; out->str = n->module; break;
        case BS_NAME_VALUE:
            *out = n->val;
            if (out->k == BS_V_NUM || out->k == BS_V_BOOL) out->numname = n->name;
            break;
        }
        return 0;
    }
    case BS_EX_LIST:
    case BS_EX_TUPLE:
        return eval_list(s, e, out);
    case BS_EX_UNARY: {
        bs_value v;
        if (bs_eval_expr(s, e->unary.operand, &v)) return -1;
        if (e->unary.op == BS_UN_POS) {
            *out = v;
            return 0;
        }
        if (e->unary.op == BS_UN_INVERT) return bs_eval_bitwise(s, e, NULL, &v, NULL, out);
        if (e->unary.op == BS_UN_NOT) {
            int err;
            bool t = bs_truthy(s, &v, e->unary.operand, &err);
            if (err) return -1;
            *out = (bs_value){.k = BS_V_BOOL, .b = !t, .sym = -1};
            return 0;
        }
        if (v.k == BS_V_NUM || v.k == BS_V_BOOL) {
            *out = (bs_value){.k = BS_V_NUM, .num = v.k == BS_V_BOOL ? -(double)v.b : -v.num,
                              .is_int = v.k == BS_V_BOOL || v.is_int, .sym = -1};
            return 0;
        }
        bs_id a, r;
        if (bs_to_node(s, &v, e->unary.operand, &a)) return -1;
        r = bs_apply1(s->ctx, BS_OP_NEG, a);
        if (r < 0) return bs_fail_core(s, e->op_line, e->op_col, NULL);
        label_node(s, r, e);
        out->k = BS_V_NODE;
        out->id = r;
        return 0;
    }
    case BS_EX_BINARY: {
        bs_value a, b;
        if (bs_eval_expr(s, e->bin.lhs, &a) || bs_eval_expr(s, e->bin.rhs, &b)) return -1;
        return bs_eval_binary_values(s, e, &a, &b, out);
    }
    case BS_EX_BOOLOP: {
        /* a and b: a if a is false, else b (Python's values, not booleans) */
        int err;
        if (bs_eval_expr(s, e->bin.lhs, out)) return -1;
        bool t = bs_truthy(s, out, e->bin.lhs, &err);
        if (err) return -1;
        if ((e->bin.op == BS_BIN_AND) != t) return 0;
        return bs_eval_expr(s, e->bin.rhs, out);
    }
    case BS_EX_COMPARE: return bs_eval_compare(s, e, out);
    case BS_EX_IFEXP: {
        bs_value c;
        int err;
        if (bs_eval_expr(s, e->ifexp.cond, &c)) return -1;
        if ((c.k == BS_V_NODE || c.k == BS_V_TMP) &&
            bs_tensor_numel(c.k == BS_V_NODE ? &bs_node_get(s->ctx, c.id)->value : &c.tmp) != 1) {
            /* a if mask else b on a tensor mask: torch.where(mask, a, b), elementwise */
            bs_value t, f;
            bs_id ci, ti, fi;
            if (bs_to_node(s, &c, e->ifexp.cond, &ci) || bs_eval_expr(s, e->ifexp.then, &t) ||
                bs_to_node(s, &t, e->ifexp.then, &ti) || bs_eval_expr(s, e->ifexp.orelse, &f) ||
                bs_to_node(s, &f, e->ifexp.orelse, &fi))
                return -1;
            bs_id r = bs_where(s->ctx, ci, ti, fi);
            if (r < 0) return bs_fail_core(s, e->op_line, e->op_col, NULL);
            label_node(s, r, e);
            *out = bs_node_value(r);
            return 0;
        }
        bool t = bs_truthy(s, &c, e->ifexp.cond, &err);
        if (err) return -1;
        return bs_eval_expr(s, t ? e->ifexp.then : e->ifexp.orelse, out);
    }
    case BS_EX_SUBSCRIPT: return bs_eval_subscript(s, e, out);
    case BS_EX_SLICE: return bs_fail(s, e->line, e->col, "a slice (a:b) can only be used inside []");
    case BS_EX_FSTRING: return bs_eval_fstring(s, e, out);
    case BS_EX_LISTCOMP: return bs_eval_listcomp(s, e, out);
    case BS_EX_DICT:
    case BS_EX_DICTCOMP: return bs_eval_dict(s, e, out);
    case BS_EX_SET:
    case BS_EX_SETCOMP: return bs_eval_set(s, e, out);
    case BS_EX_LAMBDA: return bs_eval_lambda(s, e, out);
    case BS_EX_ATTR: {
        bs_value obj;
        if (bs_eval_expr(s, e->attr.obj, &obj)) return -1;
        if (obj.k == BS_V_MODULE) return bs_module_attr(s, e, &obj, e->attr.name, out);
        if (obj.k == BS_V_OBJ || obj.k == BS_V_CLASS) return bs_obj_attr(s, e, &obj, e->attr.name, out);
        if (obj.k == BS_V_DICT || obj.k == BS_V_EXC) return bs_pyobj_attr(s, e, &obj, e->attr.name, out);
        if (obj.k == BS_V_STR && !strcmp(e->attr.name, "__name__") && !strncmp(obj.str, "<class '", 8)) {
            /* type(x).__name__: type() gives "<class 'torch.Tensor'>" */
            const char *b = obj.str + 8, *q = strchr(b, '\''), *dot = b;
            for (const char *c = b; q && c < q; c++)
                if (*c == '.') dot = c + 1;
            out->k = BS_V_STR;
            out->str = bs_arena_strndup(&s->arena, dot, q ? (size_t)(q - dot) : strlen(dot));
            return out->str ? 0 : bs_fail(s, e->line, e->col, "out of memory");
        }
        if (obj.k == BS_V_NUM || obj.k == BS_V_BOOL) { /* a number is a constant node: c.grad, c.item() */
            bs_id id;
            if (bs_to_node(s, &obj, e->attr.obj, &id)) return -1;
            obj = (bs_value){.k = BS_V_NODE, .id = id, .sym = -1};
        }
        return bs_get_attr(s, e, &obj, e->attr.name, out);
    }
    case BS_EX_CALL: return eval_call(s, e, out);
    }
    return bs_fail(s, e->line, e->col, "cannot evaluate this expression");
}

/* ==== Statements ==== */

static bool is_scalar_node(bs_session *s, bs_id id)
{
    const bs_node *n = bs_node_get(s->ctx, id);
    return n && bs_shape_numel(&n->value.shape) == 1;
}

static int bind_at(bs_session *s, const char *name, const bs_value *vin, const bs_expr *at, int *slot);

int bs_bind(bs_session *s, const char *name, const bs_value *vin, const bs_expr *at, bool as_node)
{
    (void)as_node;
    int slot = 0;
    return bind_at(s, name, vin, at, &slot);
}

int bs_bind_name(bs_session *s, const bs_expr *target, const bs_value *vin, const bs_expr *at, bool as_node)
{
    (void)as_node;
    /* the slot is a cache in the (otherwise read-only) tree, as e->text is */
    return bind_at(s, target->name, vin, at, &((bs_expr *)target)->slot);
}

static int bind_at(bs_session *s, const char *name, const bs_value *vin, const bs_expr *at, int *slot)
{
    int line = at ? at->line : 0, col = at ? at->col : 0;
    bs_value v = *vin;
    if (s->frame) { /* a function's local */
        bs_value keep;
        if (bs_persist(s, &v, at, &keep)) return -1;
        if (bs_dict_set_at(&s->frame->locals, name, &keep, slot))
            return bs_fail(s, line, col, "out of memory");
        return 0;
    }
    bs_name tmp = {0};
    switch (v.k) {
    case BS_V_DIM: {
        int idx = bs_dim_define(s->ctx, name, (int64_t)v.num);
        if (idx < 0) return bs_fail_core(s, line, col, NULL);
        tmp.kind = BS_NAME_DIM;
        tmp.dim = idx;
        break;
    }
    case BS_V_OPT:
        if (v.ref) goto value; /* torch.optim's, with its param groups */
        tmp.kind = BS_NAME_OPT;
        tmp.opt = v.opt;
        break;
    case BS_V_MODULE:
        tmp.kind = BS_NAME_MODULE;
        tmp.module = v.str;
        break;
    case BS_V_NONE:
        tmp.kind = BS_NAME_NONE;
        break;
    case BS_V_VOID:
        return bs_fail(s, line, col, "this call returns nothing to assign");
    case BS_V_NODE:
    case BS_V_TMP:
        goto node;
    default: /* numbers too: a Python number, which an op turns into the name's constant node */
    value:
        tmp.kind = BS_NAME_VALUE;
        if (bs_persist(s, &v, at, &tmp.val)) return -1;
        bs_nn_relabel(s, &tmp.val, name); /* model = nn.Linear(...): model.weight */
        tmp.val.numname = NULL;
        tmp.id = BS_NONE;
        break;
    node: {
        bs_id id;
        if (bs_to_node(s, &v, at, &id)) return -1;
        tmp.kind = BS_NAME_NODE;
        tmp.id = id;
        break;
    }
    }
    /* commit: nothing below fails except out of memory */
    bs_name *n = bs_name_find(s, name);
    bs_id old = BS_NONE;
    if (n && (n->kind == BS_NAME_NODE || n->kind == BS_NAME_VALUE) && n->id >= 0 && n->id != tmp.id &&
        n->id < bs_tape_len(s->ctx))
        old = n->id;
    if (!n) n = bs_name_bind(s, name);
    if (!n) return bs_fail(s, line, col, "out of memory");
    if (tmp.kind != BS_NAME_NODE) bs_node_rebind(s->ctx, old, BS_NONE, name);
    n->kind = tmp.kind;
    n->id = tmp.id;
    n->dim = tmp.dim;
    n->opt = tmp.opt;
    n->module = tmp.module;
    n->val = tmp.val;
    if (tmp.kind == BS_NAME_NODE) {
        bs_node_rebind(s->ctx, old, tmp.id, name);
        const bs_node *node = bs_node_get(s->ctx, tmp.id);
        if (!node->text && at) label_node(s, tmp.id, at);
        s->last_assigned = tmp.id;
        if (is_scalar_node(s, tmp.id) && node->requires_grad) s->last_scalar = tmp.id;
    }
    return 0;
}

static int do_assign(bs_session *s, const bs_stmt *st)
{
    const bs_expr *t = st->assign.target;
    if (t->kind != BS_EX_NAME) {
        bs_value v;
        if (bs_eval_expr(s, st->assign.value, &v)) return -1;
        return bs_assign_target(s, t, &v, st->assign.value);
    }
    const char *name = st->assign.name;
    /* at the prompt and in .bs scripts backstep's functions keep their names; a .py file is Python,
       where mean = x.mean() hides the function mean */
    if (!s->frame && !s->o.python_file && bs_is_builtin(name) && !bs_name_find(s, name))
        return bs_fail(s, st->line, st->col,
                       "'%s' is a built-in function; choose another name", name);
    bs_value v;
    if (bs_eval_expr(s, st->assign.value, &v)) return -1;
    return bs_bind_name(s, t, &v, st->assign.value, true);
}

static int do_expr(bs_session *s, const bs_stmt *st)
{
    bs_value v;
    if (bs_eval_expr(s, st->expr, &v)) return -1;
    if (v.k == BS_V_VOID) return 0;
    /* as Python's prompt: a call that gives None (a function without return) prints nothing;
       and in a .py file, as Python runs one, no bare expression prints */
    if (v.k == BS_V_NONE && st->expr->kind == BS_EX_CALL) return 0;
    if (s->o.python_file) return 0;
    bs_print_value(s, s->out, &v);
    return 0;
}

static int run_stmt(bs_session *s, const bs_stmt *st);

static bool is_loop(const bs_stmt *st)
{
    return st->kind == BS_ST_FOR || st->kind == BS_ST_WHILE;
}

int bs_exec_simple(bs_session *s, const bs_stmt *st)
{
    /* a loop is not one step: each statement inside it is (as in Python, a loop that fails at
       its fifth turn keeps what the first four did), so that between turns the tape can drop
       the graphs of earlier turns. Every other statement, with and if blocks too, is all or
       nothing. */
    if (is_loop(st)) return run_stmt(s, st);
    /* a statement that fails leaves no trace: its nodes, random draws, backward() and optimizer
       steps are all taken back (the outermost statement owns the transaction) */
    bool txn = bs_txn_begin(s->ctx);
    int npass = s->npass;
    bs_id pass_root[BS_PASS_LOG];
    memcpy(pass_root, s->pass_root, sizeof pass_root);
    int r = run_stmt(s, st);
    if (!txn) return r;
    if (r) { /* the passes it recorded are undone with it */
        s->npass = npass;
        memcpy(s->pass_root, pass_root, sizeof pass_root);
    }
    if (!r) {
        bs_txn_commit(s->ctx);
    } else {
        if (!bs_txn_rollback(s->ctx))
            fprintf(s->err, "warning: out of memory while undoing the failed statement: some grads or "
                            "optimizer state may keep its changes\n");
        bs_heap_scrub(s, bs_tape_len(s->ctx));
    }
    return r;
}

static int run_stmt(bs_session *s, const bs_stmt *st)
{
    int r;
    switch (st->kind) {
    case BS_ST_ASSIGN: r = do_assign(s, st); break;
    case BS_ST_EXPR: r = do_expr(s, st); break;
    case BS_ST_COMMAND: r = bs_run_command(s, st); break;
    case BS_ST_IMPORT: r = bs_run_import(s, st); break;
    case BS_ST_WITH: {
        if (strcmp(st->with.ctx, "no_grad"))
            return bs_fail(s, st->line, st->col, "only 'with no_grad:' is supported");
        bool was = bs_ctx_no_grad(s->ctx);
        bs_ctx_set_no_grad(s->ctx, true);
        bs_block b = {st->with.body, st->with.n};
        r = bs_exec_block(s, &b);
        bs_ctx_set_no_grad(s->ctx, was);
        return r;
    }
    default: r = bs_exec_stmt(s, st); break;
    }
    return r;
}

static bool records_history(const bs_stmt *st)
{
    if (st->kind != BS_ST_COMMAND) return true;
    const char *keep[] = {"dtype", "train", NULL}; /* they change what later statements see */
    for (int i = 0; keep[i]; i++)
        if (!strcmp(st->cmd.name, keep[i])) return true;
    return false;
}

/* ==== Statements seen before ====
 * A one-line chunk of simple statements (assignments and expressions of names, numbers, strings,
 * operators, calls, attributes, subscripts, lists and tuples) that parsed and ran, a second time,
 * keeps its parse, as a loop body does: the same text again (a loop written out line by line, a statement typed again) is not
 * parsed again, and its expressions keep their label texts (bs_expr_text's cache in the AST). The
 * kinds are the ones listed because only they are walked here: every position in a one-line chunk
 * is on its one line, and a hit on another line sets each of them to that line. The AST holds no
 * evaluation state besides caches that are checked where they are used (text, slot). Only the
 * outermost bs_session_eval looks (a nested one could otherwise drop a parse that is running). */
struct bs_seen {
    char *text;             /* NULL: a free slot */
    uint64_t hash;
    bs_arena arena;         /* the AST's */
    bs_ast *ast;
    int line0;              /* the line its positions say */
};
#define SEEN_MAX 1024           /* entries; past it (or SEEN_BYTES of ASTs) the table starts again */
#define SEEN_BYTES ((size_t)8 << 20)
#define SEEN_TEXT 4096          /* longer chunks are not kept */
#define SEEN1_CAP 8192          /* slots for the hashes of texts run once */

static bool seen_expr(bs_expr *e, int line)
{
    if (!e) return true;
    if (line > 0) e->line = e->op_line = line;
    switch (e->kind) {
    case BS_EX_NUM: case BS_EX_STR: case BS_EX_NAME: case BS_EX_BOOL: case BS_EX_NONE: return true;
    case BS_EX_BINARY: case BS_EX_BOOLOP: return seen_expr(e->bin.lhs, line) && seen_expr(e->bin.rhs, line);
    case BS_EX_UNARY: return seen_expr(e->unary.operand, line);
    case BS_EX_ATTR:
        if (line > 0) e->attr.name_line = line;
        return seen_expr(e->attr.obj, line);
    case BS_EX_CALL:
        for (int i = 0; i < e->call.nargs; i++) {
            if (line > 0) e->call.args[i].line = line;
            if (!seen_expr(e->call.args[i].value, line)) return false;
        }
        return seen_expr(e->call.fn, line);
    case BS_EX_LIST: case BS_EX_TUPLE:
        for (int i = 0; i < e->list.n; i++)
            if (!seen_expr(e->list.items[i], line)) return false;
        return true;
    case BS_EX_SUBSCRIPT: return seen_expr(e->sub.obj, line) && seen_expr(e->sub.index, line);
    case BS_EX_SLICE:
        return seen_expr(e->slice.lo, line) && seen_expr(e->slice.hi, line) && seen_expr(e->slice.step, line);
    default: return false;
    }
}

/* line 0: is every statement of ast one seen_expr walks? line > 0: set its positions to line */
static bool seen_ast(bs_ast *ast, int line)
{
    for (int i = 0; i < ast->n; i++) {
        bs_stmt *st = ast->stmts[i];
        if (line > 0) st->line = line;
        bool ok;
        switch (st->kind) {
        case BS_ST_EXPR: ok = seen_expr(st->expr, line); break;
        case BS_ST_ASSIGN:
            if (line > 0) st->assign.op_line = line;
            ok = seen_expr(st->assign.target, line) && seen_expr(st->assign.value, line);
            break;
        case BS_ST_AUGASSIGN:
            if (line > 0) st->aug.op_line = line;
            ok = seen_expr(st->aug.target, line) && seen_expr(st->aug.value, line);
            break;
        default: ok = false; break;
        }
        if (!ok) return false;
    }
    if (line > 0) ast->line0 = line;
    return true;
}

static uint64_t seen_hash(const char *t, size_t *len)
{
    size_t n = strlen(t), i = 0;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (; i + 8 <= n; i += 8) { /* eight bytes a step */
        uint64_t w;
        memcpy(&w, t + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)t[i]) * 0x100000001b3ull;
    *len = n;
    return h ^ (h >> 32);
}

static void seen_clear(bs_session *s)
{
    for (size_t i = 0; i < s->capseen; i++) {
        free(s->seen[i].text);
        bs_arena_free(&s->seen[i].arena);
    }
    free(s->seen);
    free(s->seen1);
    s->seen = s->seen_hint = NULL;
    s->seen1 = NULL;
    s->nseen1 = 0;
    s->nseen = s->capseen = s->seen_bytes = 0;
}

/* the kept parse of src (a one-line chunk), or NULL; *h and *n: src's hash and length */
static struct bs_seen *seen_find(bs_session *s, const char *src, uint64_t *h, size_t *n)
{
    *n = 0;
    if (strchr(src, '\n')) return NULL;
    *h = seen_hash(src, n);
    if (*n > SEEN_TEXT || !s->capseen) return NULL;
    for (size_t i = *h & (s->capseen - 1);; i = (i + 1) & (s->capseen - 1)) {
        struct bs_seen *q = &s->seen[i];
        if (!q->text) return NULL;
        if (q->hash == *h && !strcmp(q->text, src)) return q;
    }
}

/* keep hs's text and AST (they leave hs) when the chunk is one seen_ast walks */
static void seen_add(bs_session *s, bs_hsrc *hs, bs_ast *ast, uint64_t h, size_t n, int line0)
{
    if (n > SEEN_TEXT || !seen_ast(ast, 0)) return;
    /* a text is kept when it comes again: most lines of a script that are not a loop written out
       run once, and their memory is better reused by the next statement */
    if (!s->seen1 && !(s->seen1 = calloc(SEEN1_CAP, sizeof *s->seen1))) return;
    uint64_t key = h ? h : 1; /* 0: a free slot */
    size_t j = key & (SEEN1_CAP - 1);
    while (s->seen1[j] && s->seen1[j] != key) j = (j + 1) & (SEEN1_CAP - 1);
    if (!s->seen1[j]) {
        if (2 * (s->nseen1 + 1) > SEEN1_CAP) { /* half full: start again */
            memset(s->seen1, 0, SEEN1_CAP * sizeof *s->seen1);
            s->nseen1 = 0;
            j = key & (SEEN1_CAP - 1);
        }
        s->seen1[j] = key;
        s->nseen1++;
        return;
    }
    free(hs->arena.spare); /* kept: only the blocks the AST is in */
    hs->arena.spare = NULL;
    size_t bytes = hs->arena.total + (hs->arena.first ? hs->arena.first : 8192) + n + 1; /* its blocks, at most */
    if (s->nseen >= SEEN_MAX || s->seen_bytes + bytes > SEEN_BYTES) seen_clear(s);
    if (!s->capseen) {
        s->seen = calloc(2 * SEEN_MAX, sizeof *s->seen);
        if (!s->seen) return;
        s->capseen = 2 * SEEN_MAX;
    }
    size_t i = h & (s->capseen - 1);
    while (s->seen[i].text) i = (i + 1) & (s->capseen - 1);
    s->seen[i] = (struct bs_seen){hs->text, h, hs->arena, ast, line0};
    s->nseen++;
    s->seen_bytes += bytes;
    hs->text = NULL;
    hs->arena = (bs_arena)BS_ARENA_INIT;
}

bool bs_session_seen_line(bs_session *s, const char *line)
{
    uint64_t h;
    size_t n;
    struct bs_seen *q = s->eval_depth || !line ? NULL : seen_find(s, line, &h, &n);
    if (!q) return false;
    s->seen_hint = q; /* bs_session_eval of this text next: no need to hash it again */
    s->seen_hint_src = line;
    /* a final '\\' (the lexer lets a chunk end with one) still joins the next line */
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r' || line[n - 1] == '\f' ||
                     line[n - 1] == '\v'))
        n--;
    return !(n > 0 && line[n - 1] == '\\');
}

int bs_session_eval(bs_session *s, const char *src_in, int line0, bs_error *e)
{
    bs_error local;
    s->e = e ? e : &local;
    memset(s->e, 0, sizeof *s->e);
    s->interrupted = 0;
    bs_ctx_clear_interrupt(s->ctx);
    /* the source and its AST live on the heap: a def or class made here keeps them */
    bs_hsrc *hs = bs_heap_new(s, BS_H_SRC, sizeof *hs);
    if (!src_in) src_in = "";
    uint64_t seen_h = 0;
    size_t seen_n = 0;
    struct bs_seen *seen = NULL;
    if (hs && s->eval_depth == 0 && line0 > 0)
        seen = s->seen_hint && s->seen_hint_src == src_in && !strcmp(s->seen_hint->text, src_in)
                   ? s->seen_hint : seen_find(s, src_in, &seen_h, &seen_n);
    s->seen_hint = NULL;
    char *src = seen ? seen->text : hs ? strdup(src_in) : NULL;
    if (!src) { /* an empty source object, if any, is freed by the next collection */
        snprintf(s->e->msg, sizeof s->e->msg, "out of memory");
        return -1;
    }
    if (!seen) hs->text = src;
    hs->h.pins = 1; /* until this eval ends: its statements are running */
    bs_parse_error pe;
    bs_ast *ast;
    if (seen) {
        ast = seen->ast;
        pe.status = BS_PARSE_OK;
        if (seen->line0 != line0) {
            seen_ast(ast, line0);
            seen->line0 = line0;
        }
    } else {
        /* the AST takes about 32 bytes a source byte: a short statement's fits a small first
           block (one kept below holds no 8 KB for a 20-byte line) */
        size_t first = 512;
        while (first < 8192 && first < 64 * seen_n) first *= 2;
        if (seen_n) hs->arena.first = first;
        ast = bs_parse(src, line0, &hs->arena, &pe);
    }
    if (!ast) {
        hs->h.pins = 0;
        snprintf(s->e->msg, sizeof s->e->msg, "out of memory");
        return -1;
    }
    s->eval_depth++;
    bs_hsrc *saved_cur = s->cur_src;
    s->cur_src = hs;
    bs_arena_mark amark = bs_arena_save(&s->arena); /* a :load inside a statement keeps its data */
    /* the statements before a syntax error run, as they would line by line at the prompt */
    int rc = 0;
    const char *saved_src = s->src;
    for (int i = 0; i < ast->n && rc == 0; i++) {
        const bs_stmt *st = ast->stmts[i];
        s->src = src;
        s->flow = BS_FLOW_NONE;
        if (bs_exec_simple(s, st)) {
            rc = -1;
        } else if (s->flow != BS_FLOW_NONE) {
            bs_fail(s, st->line, st->col, "'%s' outside %s", s->flow == BS_FLOW_RETURN ? "return" :
                    s->flow == BS_FLOW_BREAK ? "break" : "continue", s->flow == BS_FLOW_RETURN ? "function" : "loop");
            s->flow = BS_FLOW_NONE;
            rc = -1;
        } else {
            if (records_history(st)) {
                /* a compound statement as typed, lines and indentation kept */
                bool raw = st->kind == BS_ST_IF || st->kind == BS_ST_WHILE || st->kind == BS_ST_FOR ||
                           st->kind == BS_ST_DEF || st->kind == BS_ST_CLASS || st->kind == BS_ST_WITH;
                char *t = raw ? bs_arena_strndup(&s->arena, src + st->start, (size_t)(st->end - st->start))
                              : bs_ast_text(&s->arena, src, st->start, st->end);
                if (t && *t) bs_hist_add(s, t);
            }
            if (s->quit) rc = 1;
        }
        bs_arena_release(&s->arena, amark);
        if (!s->frame) bs_heap_maybe_gc(s);
        bs_session_collect(s, false);
    }
    bs_ctx_clear_interrupt(s->ctx);
    s->interrupted = 0;
    s->src = saved_src;
    s->cur_src = saved_cur;
    hs->h.pins--;
    s->eval_depth--;
    if (!seen && rc == 0 && pe.status == BS_PARSE_OK && s->eval_depth == 0 && !hs->adopted && !hs->h.pins &&
        seen_n > 0)
        seen_add(s, hs, ast, seen_h, seen_n, line0);
    if (rc == 0 && pe.status != BS_PARSE_OK) {
        s->e->line = pe.line;
        s->e->col = pe.col;
        snprintf(s->e->msg, sizeof s->e->msg, "%s", pe.msg);
        rc = -1;
    }
    if (!hs->adopted && !hs->h.pins) bs_heap_drop(s, &hs->h); /* no def made here: not kept */
    else if (!s->frame) bs_heap_maybe_gc(s);
    bs_commands_after_statement(s);
    s->e = &s->ebuf;
    return rc;
}

int bs_session_number(bs_session *s, const char *expr, double *out, bs_error *e)
{
    bs_error local;
    s->e = e ? e : &local;
    memset(s->e, 0, sizeof *s->e);
    bs_parse_error pe;
    bs_arena pa = BS_ARENA_INIT;
    bs_expr *x = bs_parse_expr(expr, 1, &pa, &pe);
    int rc = -1;
    if (!x) {
        s->e->line = pe.line;
        s->e->col = pe.col;
        snprintf(s->e->msg, sizeof s->e->msg, "%s", pe.msg);
        goto done;
    }
    int32_t mark = bs_tape_len(s->ctx);
    const char *saved = s->src;
    s->src = expr;
    bs_value v;
    if (bs_eval_expr(s, x, &v) == 0) {
        if (v.k == BS_V_NUM) {
            *out = v.num;
            rc = 0;
        } else if (v.k == BS_V_BOOL) {
            *out = v.b;
            rc = 0;
        } else if (v.k == BS_V_NODE || v.k == BS_V_TMP) {
            const bs_tensor *t = v.k == BS_V_NODE ? &bs_node_get(s->ctx, v.id)->value : &v.tmp;
            if (bs_tensor_numel(t) == 1) {
                *out = t->data[0];
                rc = 0;
            } else {
                bs_fail(s, x->line, x->col, "expected a number, got a tensor of %lld elements",
                        (long long)bs_tensor_numel(t));
            }
        } else {
            bs_fail(s, x->line, x->col, "expected a number");
        }
    }
    /* a check must not change the graph */
    bs_tape_truncate(s->ctx, mark);
    bs_pass_forget_from(s, mark);
    s->src = saved;
    bs_arena_free(&s->arena);
done:
    bs_arena_free(&pa);
    s->e = &s->ebuf;
    return rc;
}

