/* core/formula.c: derivative templates as expression trees. Each template in ops.def is parsed
 * once (the language's own expression syntax), then for a node its placeholders are replaced by
 * the operands' own expression trees (or their values), conditionals whose test is known are
 * resolved, and the tree is printed with the fewest parentheses that keep its structure under
 * Python's precedence rules. The same tree is evaluated over doubles, so the number printed
 * beside a formula is that formula's value. core never prints: everything renders into buffers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ==== Trees ==== */

typedef enum { FX_NUM, FX_NAME, FX_NEG, FX_BIN, FX_CALL, FX_ATTR, FX_COND, FX_RULE, FX_SUB } fx_kind;

typedef struct fx fx;
struct fx {
    fx_kind k;
    char op[3];          /* FX_BIN: + - * / ** @ > < == */
    bool approx;         /* FX_NUM: a value put in for an operand (printed at the asked precision) */
    double v;            /* FX_NUM */
    const char *s;       /* FX_NAME, FX_CALL (function), FX_ATTR (attribute), FX_RULE (lhs),
                            FX_SUB (what comes before the item: ":, ", "..., ") */
    const char *s2;      /* FX_SUB: what comes after the item (", :") */
    fx *x, *y, *z;       /* BIN x op y; NEG -x; ATTR x.s; COND x if z else y; RULE s = x;
                            SUB x[s y s2] */
    int nargs;           /* FX_CALL */
    fx **args;
    const char **kw;     /* per argument: keyword or NULL */
};

/* per-render allocations, freed together */
typedef struct fx_block {
    struct fx_block *next;
    size_t used;
    max_align_t data[512];
} fx_block;

typedef struct {
    fx_block *head;
    bool failed;
    int nodes;           /* operand nodes expanded so far (a shared sub-expression repeats) */
} fx_pool;

static void *pool_alloc(fx_pool *p, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n > sizeof p->head->data) {
        p->failed = true;
        return NULL;
    }
    if (!p->head || sizeof p->head->data - p->head->used < n) {
        fx_block *b = malloc(sizeof *b);
        if (!b) {
            p->failed = true;
            return NULL;
        }
        b->next = p->head;
        b->used = 0;
        p->head = b;
    }
    void *r = (char *)p->head->data + p->head->used;
    p->head->used += n;
    memset(r, 0, n);
    return r;
}

static void pool_free(fx_pool *p)
{
    for (fx_block *b = p->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    p->head = NULL;
}

static fx *fx_new(fx_pool *p, fx_kind k)
{
    fx *e = pool_alloc(p, sizeof *e);
    if (e) e->k = k;
    return e;
}

static const char *pool_str(fx_pool *p, const char *s, size_t n)
{
    char *d = pool_alloc(p, n + 1);
    if (!d) return "?";
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static fx *fx_num(fx_pool *p, double v, bool approx)
{
    fx *e = fx_new(p, FX_NUM);
    if (e) {
        e->v = v;
        e->approx = approx;
    }
    return e;
}

static fx *fx_name(fx_pool *p, const char *s)
{
    fx *e = fx_new(p, FX_NAME);
    if (e) e->s = pool_str(p, s, strlen(s));
    return e;
}

/* an integer as typed (an index, a bound): 10, not 1e+01 */
static fx *fx_int(fx_pool *p, int64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return fx_name(p, b);
}

static fx *fx_bin(fx_pool *p, const char *op, fx *x, fx *y)
{
    fx *e = fx_new(p, FX_BIN);
    if (!e) return NULL;
    snprintf(e->op, sizeof e->op, "%s", op);
    e->x = x;
    e->y = y;
    return e;
}

/* ==== Parsing templates ====
 * rule := NAME '=' cond            (a VJP rule in matrix form: "dA = G @ B.T")
 * cond := cmp ['if' cmp 'else' cond]
 * cmp  := sum [('>' | '<' | '==') sum]
 * sum  := term (('+' | '-') term)*
 * term := factor (('*' | '/' | '@') factor)*
 * factor := '-' factor | power
 * power  := primary ['**' factor]
 * primary := (NUMBER | NAME ['(' [arg (',' arg)*] ')'] | '(' cond ')') ('.' NAME)*
 * arg  := [NAME '='] cond */

typedef struct {
    const char *s;
    fx_pool *pool;
    bool bad;
} fx_parser;

static void skip_ws(fx_parser *ps)
{
    while (*ps->s == ' ') ps->s++;
}

static bool is_id0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_id(char c) { return is_id0(c) || (c >= '0' && c <= '9'); }

static bool eat(fx_parser *ps, const char *tok)
{
    skip_ws(ps);
    size_t n = strlen(tok);
    if (strncmp(ps->s, tok, n)) return false;
    if (is_id0(tok[0]) && is_id(ps->s[n])) return false; /* a keyword, not a prefix of a name */
    ps->s += n;
    return true;
}

static fx *p_cond(fx_parser *ps);
static fx *p_factor(fx_parser *ps);

static fx *p_primary(fx_parser *ps)
{
    skip_ws(ps);
    fx *e = NULL;
    const char *s = ps->s;
    if ((*s >= '0' && *s <= '9') || *s == '.') {
        char *end;
        double v = strtod(s, &end);
        ps->s = end;
        e = fx_num(ps->pool, v, false);
    } else if (is_id0(*s)) {
        const char *q = s;
        while (is_id(*q)) q++;
        ps->s = q;
        if (eat(ps, "(")) {
            e = fx_new(ps->pool, FX_CALL);
            if (!e) return NULL;
            e->s = pool_str(ps->pool, s, (size_t)(q - s));
            fx *args[8];
            const char *kw[8];
            int n = 0;
            if (!eat(ps, ")")) {
                do {
                    if (n == 8) {
                        ps->bad = true;
                        return NULL;
                    }
                    skip_ws(ps);
                    const char *k = ps->s, *kq = k;
                    while (is_id(*kq)) kq++;
                    kw[n] = NULL;
                    if (kq > k && kq[0] == '=' && kq[1] != '=') {
                        kw[n] = pool_str(ps->pool, k, (size_t)(kq - k));
                        ps->s = kq + 1;
                    }
                    args[n++] = p_cond(ps);
                } while (eat(ps, ","));
                if (!eat(ps, ")")) ps->bad = true;
            }
            e->nargs = n;
            e->args = pool_alloc(ps->pool, sizeof(fx *) * (size_t)(n ? n : 1));
            e->kw = pool_alloc(ps->pool, sizeof(char *) * (size_t)(n ? n : 1));
            if (!e->args || !e->kw) return NULL;
            memcpy(e->args, args, sizeof(fx *) * (size_t)n);
            memcpy(e->kw, kw, sizeof(char *) * (size_t)n);
        } else {
            e = fx_new(ps->pool, FX_NAME);
            if (e) e->s = pool_str(ps->pool, s, (size_t)(q - s));
        }
    } else if (eat(ps, "(")) {
        e = p_cond(ps);
        if (!eat(ps, ")")) ps->bad = true;
    } else {
        ps->bad = true;
        return NULL;
    }
    while (e && !ps->bad) {
        skip_ws(ps);
        if (ps->s[0] != '.' || !is_id0(ps->s[1])) break;
        const char *a = ++ps->s;
        while (is_id(*ps->s)) ps->s++;
        fx *t = fx_new(ps->pool, FX_ATTR);
        if (!t) return NULL;
        t->x = e;
        t->s = pool_str(ps->pool, a, (size_t)(ps->s - a));
        e = t;
    }
    return e;
}

static fx *p_power(fx_parser *ps)
{
    fx *x = p_primary(ps);
    if (eat(ps, "**")) return fx_bin(ps->pool, "**", x, p_factor(ps));
    return x;
}

static fx *p_factor(fx_parser *ps)
{
    if (eat(ps, "-")) {
        fx *e = fx_new(ps->pool, FX_NEG);
        if (e) e->x = p_factor(ps);
        return e;
    }
    return p_power(ps);
}

static fx *p_term(fx_parser *ps)
{
    fx *x = p_factor(ps);
    for (;;) {
        skip_ws(ps);
        if (ps->s[0] == '*' && ps->s[1] != '*') {
            ps->s++;
            x = fx_bin(ps->pool, "*", x, p_factor(ps));
        } else if (eat(ps, "/")) {
            x = fx_bin(ps->pool, "/", x, p_factor(ps));
        } else if (eat(ps, "@")) {
            x = fx_bin(ps->pool, "@", x, p_factor(ps));
        } else {
            return x;
        }
    }
}

static fx *p_sum(fx_parser *ps)
{
    fx *x = p_term(ps);
    for (;;) {
        if (eat(ps, "+"))
            x = fx_bin(ps->pool, "+", x, p_term(ps));
        else if (eat(ps, "-"))
            x = fx_bin(ps->pool, "-", x, p_term(ps));
        else
            return x;
    }
}

static fx *p_cmp(fx_parser *ps)
{
    fx *x = p_sum(ps);
    if (eat(ps, "==")) return fx_bin(ps->pool, "==", x, p_sum(ps));
    if (eat(ps, ">")) return fx_bin(ps->pool, ">", x, p_sum(ps));
    if (eat(ps, "<")) return fx_bin(ps->pool, "<", x, p_sum(ps));
    return x;
}

static fx *p_cond(fx_parser *ps)
{
    fx *x = p_cmp(ps);
    if (!eat(ps, "if")) return x;
    fx *e = fx_new(ps->pool, FX_COND);
    if (!e) return NULL;
    e->x = x;
    e->z = p_cmp(ps);
    if (!eat(ps, "else")) ps->bad = true;
    e->y = p_cond(ps);
    return e;
}

static fx *parse_template(const char *tpl, fx_pool *pool)
{
    fx_parser ps = {tpl, pool, false};
    fx *e;
    skip_ws(&ps);
    const char *q = ps.s;
    while (is_id(*q)) q++;
    const char *r = q;
    while (*r == ' ') r++;
    if (q > ps.s && r[0] == '=' && r[1] != '=') {
        e = fx_new(pool, FX_RULE);
        if (e) e->s = pool_str(pool, ps.s, (size_t)(q - ps.s));
        ps.s = r + 1;
        if (e) e->x = p_cond(&ps);
    } else {
        e = p_cond(&ps);
    }
    skip_ws(&ps);
    if (ps.bad || *ps.s || pool->failed || !e) return NULL;
    return e;
}

/* every template parsed once, for the life of the program */
static fx_pool tpl_pool;
static fx *tpl_tree[BS_OP_COUNT][BS_MAX_INPUTS];
static bool tpl_done;

static void templates_parse(void)
{
    if (tpl_done) return;
    tpl_done = true;
    for (int o = 0; o < BS_OP_COUNT; o++)
        for (int i = 0; i < BS_MAX_INPUTS && i < bs_ops[o].arity; i++)
            if (bs_ops[o].deriv[i]) tpl_tree[o][i] = parse_template(bs_ops[o].deriv[i], &tpl_pool);
}

static fx *tpl(bs_op op, int i)
{
    if ((int)op < 0 || op >= BS_OP_COUNT || i < 0 || i >= BS_MAX_INPUTS) return NULL;
    templates_parse();
    return tpl_tree[op][i];
}

bool bs_deriv_parses(bs_op op, int i) { return tpl(op, i) != NULL; }

bool bs_deriv_is_rule(bs_op op, int i)
{
    fx *t = tpl(op, i);
    return t && t->k == FX_RULE;
}

/* ==== Printing ====
 * Python's precedence, loosest first: conditional 1, comparison 2, + - 3, * / @ 4, unary - 5,
 * ** 6, primary 7. ** is right-associative and its left operand must be a primary (so (-h) ** 3
 * keeps its parentheses and -x ** 2 means -(x ** 2)); the others are left-associative. A
 * negative number counts as unary minus, and as any binary operator's right operand it is
 * parenthesised for the reader: 2 * (-0.4). */

typedef struct {
    char *b;
    size_t len, n;       /* capacity, used (n may pass len: the output was cut) */
    int prec;            /* significant digits of approximate numbers */
} sbuf;

static void sput(sbuf *o, const char *s)
{
    for (; *s; s++) {
        if (o->n + 1 < o->len) o->b[o->n] = *s;
        o->n++;
    }
    if (o->len) o->b[o->n < o->len ? o->n : o->len - 1] = 0;
}

/* the shortest text that reads back as v (exact constants: 2, 0.01, 1e-05) */
static void fmt_exact(char *b, size_t n, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(b, n, "%.*g", p, v);
        if (strtod(b, NULL) == v) return;
    }
}

static void fmt_fx_num(const sbuf *o, const fx *e, char *b, size_t n)
{
    if (isnan(e->v)) snprintf(b, n, "nan");
    else if (isinf(e->v)) snprintf(b, n, e->v < 0 ? "-inf" : "inf");
    else if (e->approx) snprintf(b, n, "%.*g", o->prec, e->v == 0 ? 0.0 : e->v);
    else fmt_exact(b, n, e->v == 0 ? 0.0 : e->v);
}

static int fx_prec(const fx *e)
{
    switch (e->k) {
    case FX_COND: return 1;
    case FX_RULE: return 0;
    case FX_NEG: return 5;
    case FX_NUM: return e->v < 0 || (e->v == 0 && signbit(e->v)) ? 5 : 7;
    case FX_BIN:
        if (!strcmp(e->op, "**")) return 6;
        if (strchr("*/@", e->op[0])) return 4;
        if (strchr("+-", e->op[0])) return 3;
        return 2;
    default: return 7;
    }
}

static void fx_print(sbuf *o, const fx *e);

static void print_paren(sbuf *o, const fx *e, bool paren)
{
    if (paren) sput(o, "(");
    fx_print(o, e);
    if (paren) sput(o, ")");
}

static void fx_print(sbuf *o, const fx *e)
{
    char nb[40];
    if (!e) {
        sput(o, "?");
        return;
    }
    switch (e->k) {
    case FX_NUM:
        fmt_fx_num(o, e, nb, sizeof nb);
        sput(o, nb);
        break;
    case FX_NAME:
        sput(o, e->s);
        break;
    case FX_NEG:
        sput(o, "-");
        print_paren(o, e->x, fx_prec(e->x) < 5 || (e->x->k == FX_NUM && fx_prec(e->x) == 5) ||
                                 e->x->k == FX_NEG);
        break;
    case FX_BIN: {
        int p = fx_prec(e);
        bool pow = p == 6;
        bool lp = pow ? fx_prec(e->x) < 7 : fx_prec(e->x) < p;
        /* left-assoc: an equal-precedence right operand keeps its parentheses; ** nests right */
        int rp = fx_prec(e->y);
        bool rpar = pow ? rp < 6 : rp <= p || rp == 5;
        if (p == 2) { lp = fx_prec(e->x) <= 2; rpar = rp <= 2 || rp == 5; }
        print_paren(o, e->x, lp);
        sput(o, " ");
        sput(o, e->op);
        sput(o, " ");
        print_paren(o, e->y, rpar);
        break;
    }
    case FX_CALL:
        sput(o, e->s);
        sput(o, "(");
        for (int i = 0; i < e->nargs; i++) {
            if (i) sput(o, ", ");
            if (e->kw[i]) {
                sput(o, e->kw[i]);
                sput(o, "=");
            }
            fx_print(o, e->args[i]);
        }
        sput(o, ")");
        break;
    case FX_ATTR:
        print_paren(o, e->x, fx_prec(e->x) < 7);
        sput(o, ".");
        sput(o, e->s);
        break;
    case FX_SUB:
        print_paren(o, e->x, fx_prec(e->x) < 7);
        sput(o, "[");
        sput(o, e->s);
        fx_print(o, e->y);
        sput(o, e->s2);
        sput(o, "]");
        break;
    case FX_COND:
        print_paren(o, e->x, fx_prec(e->x) <= 1);
        sput(o, " if ");
        print_paren(o, e->z, fx_prec(e->z) <= 1);
        sput(o, " else ");
        print_paren(o, e->y, fx_prec(e->y) < 1);
        break;
    case FX_RULE:
        sput(o, e->s);
        sput(o, " = ");
        fx_print(o, e->x);
        break;
    }
}

static bool fx_is_const(const fx *e)
{
    if (!e) return false;
    switch (e->k) {
    case FX_NUM: return !e->approx;
    case FX_NEG: return fx_is_const(e->x);
    case FX_BIN: return fx_is_const(e->x) && fx_is_const(e->y);
    default: return false;
    }
}

/* ==== Evaluating over doubles ====
 * Names are looked up in env; functions are the ops' own scalar forward functions (the ones the
 * tensor loops are made of), so a formula means here what it means typed at the prompt. */

typedef struct {
    const char *name[12];
    double v[12];
    int n;
} fx_env;

static bool env_get(const fx_env *env, const char *s, double *v)
{
    for (int i = 0; env && i < env->n; i++)
        if (!strcmp(env->name[i], s)) {
            *v = env->v[i];
            return true;
        }
    return false;
}

static bool fx_eval(const fx *e, const fx_env *env, double *out)
{
    double x, y, z;
    if (!e) return false;
    switch (e->k) {
    case FX_NUM: *out = e->v; return true;
    case FX_NAME: return env_get(env, e->s, out);
    case FX_NEG:
        if (!fx_eval(e->x, env, &x)) return false;
        *out = -x;
        return true;
    case FX_BIN:
        if (!fx_eval(e->x, env, &x) || !fx_eval(e->y, env, &y)) return false;
        switch (e->op[0]) {
        case '+': *out = x + y; return true;
        case '-': *out = x - y; return true;
        case '/': *out = x / y; return true;
        case '*': *out = e->op[1] ? bs_ops[BS_OP_POW].s_fwd(x, y, 0, 0) : x * y; return true;
        case '>': *out = x > y; return true;
        case '<': *out = x < y; return true;
        case '=': *out = x == y; return true;
        default: return false; /* @ is not a scalar operation */
        }
    case FX_COND:
        if (!fx_eval(e->z, env, &z)) return false;
        return fx_eval(z != 0 ? e->x : e->y, env, out);
    case FX_CALL: {
        const bs_op_info *op = bs_op_by_name(e->s);
        if (!op || e->nargs < 1 || !fx_eval(e->args[0], env, &x)) return false;
        if (op->kind == BS_K_RED) { /* of one number: the number */
            *out = x;
            return true;
        }
        if (!op->s_fwd) return false;
        y = 0;
        bs_attr at = bs_attr_default(op->id);
        if (e->nargs > 1) {
            if (!fx_eval(e->args[1], env, op->arity == 2 ? &y : &at.k)) return false;
        }
        if (e->nargs > 2 && op->arity == 1 && !fx_eval(e->args[2], env, &at.k2)) return false;
        *out = op->s_fwd(x, y, at.k, at.k2);
        return true;
    }
    default: return false;
    }
}

/* ==== A node's expression ====
 * A node's own tree: its name if the user gave it one; a constant as its number; otherwise its
 * op applied to its inputs' trees, spelled as the user would type it. */

static const char *const kw_true = "True";

/* a slice's start:stop:step as typed, omitted bounds and a step of 1 left out */
static const char *slice_text(fx_pool *p, const bs_attr *a)
{
    char b[80] = "";
    size_t k = 0;
    if (a->start != BS_SLICE_NO_START) k += (size_t)snprintf(b + k, sizeof b - k, "%lld", (long long)a->start);
    k += (size_t)snprintf(b + k, sizeof b - k, ":");
    if (a->stop != BS_SLICE_NO_STOP && k < sizeof b)
        k += (size_t)snprintf(b + k, sizeof b - k, "%lld", (long long)a->stop);
    if (a->step != 1 && k < sizeof b) snprintf(b + k, sizeof b - k, ":%lld", (long long)a->step);
    return pool_str(p, b, strlen(b));
}

/* x[i], x[a:b], x[idx] along dim as PyTorch writes them: x[:, i] for dim 1, x[..., i] for dim -1,
   x[..., i, :] for dim -2 */
static fx *subscript(fx_pool *p, const bs_node *n, fx *x, fx *item)
{
    fx *e = fx_new(p, FX_SUB);
    if (!e) return NULL;
    char pre[64] = "", post[64] = "";
    int d = n->attr.dim;
    if (d >= 0)
        for (int k = 0; k < d && k < 16; k++) strcat(pre, ":, ");
    else {
        strcpy(pre, "..., ");
        for (int k = 0; k < -d - 1 && k < 16; k++) strcat(post, ", :");
    }
    e->x = x;
    e->y = item;
    e->s = pool_str(p, pre, strlen(pre));
    e->s2 = pool_str(p, post, strlen(post));
    return e;
}

static fx *node_tree(fx_pool *p, const bs_ctx *c, bs_id id, int depth, int maxdepth)
{
    const bs_node *n = bs_node_get(c, id);
    char nb[96];
    if (!n) return fx_name(p, "?");
    if (n->label) {
        snprintf(nb, sizeof nb, "%s%s", n->label, n->rebound ? "'" : "");
        return fx_name(p, nb);
    }
    if (n->op == BS_OP_LEAF) {
        if (bs_shape_numel(&n->value.shape) == 1 && n->value.shape.ndim == 0)
            return fx_num(p, n->value.data[0], false);
        if (n->text) return fx_name(p, n->text); /* tensor([...]) as typed: a call, a primary */
        char sh[64];
        snprintf(nb, sizeof nb, "tensor(%s)", bs_shape_str(&n->value.shape, sh, sizeof sh));
        return fx_name(p, nb);
    }
    if (depth >= maxdepth || ++p->nodes > 400) return fx_name(p, "...");
    const bs_op_info *op = &bs_ops[n->op];
    fx *in[BS_MAX_INPUTS] = {NULL, NULL, NULL};
    for (int k = 0; k < n->nin && k < BS_MAX_INPUTS; k++)
        in[k] = node_tree(p, c, n->in[k], depth + 1, maxdepth);
    fx *a = in[0], *b = in[1];
    if (n->op == BS_OP_SELECT) return subscript(p, n, a, fx_int(p, n->attr.start));
    if (n->op == BS_OP_SLICE) return subscript(p, n, a, fx_name(p, slice_text(p, &n->attr)));
    if (n->op == BS_OP_INDEX_SELECT) return subscript(p, n, a, b);
    if (n->op == BS_OP_NEG) {
        fx *e = fx_new(p, FX_NEG);
        if (e) e->x = a;
        return e;
    }
    if (n->is_cast) { /* x.half(), x.float(): bs_cast's node */
        fx *e = fx_new(p, FX_ATTR);
        if (e) {
            e->x = a;
            e->s = n->value.dtype == BS_F16 ? "half()" : n->value.dtype == BS_BF16 ? "bfloat16()"
                 : n->value.dtype == BS_F32 ? "float()" : n->value.dtype == BS_F64 ? "double()" : "long()";
        }
        return e;
    }
    if (n->op == BS_OP_TRANSPOSE) {
        fx *e = fx_new(p, FX_ATTR);
        if (e) {
            e->x = a;
            e->s = "T";
        }
        return e;
    }
    if (n->op == BS_OP_MATMUL || (op->kind == BS_K_EW && op->arity == 2 && strlen(op->symbol) <= 2))
        return fx_bin(p, op->symbol, a, b);
    /* a call, with the attributes that differ from the defaults */
    fx *e = fx_new(p, FX_CALL);
    if (!e) return NULL;
    e->s = op->name;
    e->args = pool_alloc(p, sizeof(fx *) * (BS_MAX_INPUTS + BS_MAX_DIMS));
    e->kw = pool_alloc(p, sizeof(char *) * (BS_MAX_INPUTS + BS_MAX_DIMS));
    if (!e->args || !e->kw) return NULL;
    for (int k = 0; k < n->nin && k < BS_MAX_INPUTS; k++) e->args[e->nargs++] = in[k];
    bs_attr d = bs_attr_default(n->op);
    if (n->op == BS_OP_GELU && n->attr.k != 0) {
        e->kw[e->nargs] = "approximate";
        e->args[e->nargs++] = fx_name(p, "'tanh'");
    } else if (n->op == BS_OP_LEAKY_RELU) {
        e->args[e->nargs++] = fx_num(p, n->attr.k, false);
    } else if (n->op == BS_OP_CLAMP) {
        if (isfinite(n->attr.k)) {
            e->kw[e->nargs] = "min";
            e->args[e->nargs++] = fx_num(p, n->attr.k, false);
        }
        if (isfinite(n->attr.k2)) {
            e->kw[e->nargs] = "max";
            e->args[e->nargs++] = fx_num(p, n->attr.k2, false);
        }
    } else if (n->op == BS_OP_LAYERNORM && n->attr.k != d.k) {
        e->kw[e->nargs] = "eps";
        e->args[e->nargs++] = fx_num(p, n->attr.k, false);
    } else if (n->op == BS_OP_PERMUTE) {
        for (int i = 0; i < n->attr.shape.ndim && i < BS_MAX_DIMS; i++)
            e->args[e->nargs++] = fx_int(p, n->attr.shape.d[i]);
    } else if ((n->op == BS_OP_TRIL || n->op == BS_OP_TRIU) && n->attr.start != 0) {
        e->kw[e->nargs] = "diagonal";
        e->args[e->nargs++] = fx_int(p, n->attr.start);
    } else if (n->op == BS_OP_RESHAPE) {
        for (int i = 0; i < n->attr.shape.ndim && i < BS_MAX_DIMS; i++)
            e->args[e->nargs++] = fx_num(p, (double)n->attr.shape.d[i], false);
    } else if ((op->kind == BS_K_RED || op->kind == BS_K_ROW) && n->op != BS_OP_LAYERNORM) {
        if (n->attr.dim != BS_DIM_ALL && (op->kind == BS_K_RED || n->attr.dim != d.dim)) {
            e->kw[e->nargs] = "dim";
            e->args[e->nargs++] = fx_num(p, n->attr.dim, false);
        }
        if (n->attr.keepdim) {
            e->kw[e->nargs] = "keepdim";
            e->args[e->nargs++] = fx_name(p, kw_true);
        }
    }
    return e;
}

static void render_tree(const fx *e, int prec, char *buf, size_t len, size_t *need)
{
    sbuf o = {buf, len, 0, prec};
    if (len) buf[0] = 0;
    fx_print(&o, e);
    if (need) *need = o.n;
}

char *bs_node_expr(const bs_ctx *c, bs_id id, size_t maxlen, char *buf, size_t len)
{
    fx_pool p = {0};
    size_t need = 0;
    /* shortened readably: deeper unnamed sub-expressions become ... until it fits */
    for (int depth = 64; depth >= 1; depth = depth > 12 ? 12 : depth - 1) {
        fx *e = node_tree(&p, c, id, 0, depth);
        render_tree(e, 6, buf, len, &need);
        pool_free(&p);
        if (need <= maxlen && need < len) break;
    }
    return buf;
}

/* ==== Rendering a node's local derivative ==== */

static double op_n(const bs_ctx *c, const bs_node *n);

double bs_node_mean_count(const bs_ctx *c, bs_id id)
{
    const bs_node *n = bs_node_get(c, id);
    return n && n->nin > 0 ? op_n(c, n) : 1;
}

/* {n}: the count a mean divides by */
static double op_n(const bs_ctx *c, const bs_node *n)
{
    const bs_node *a = bs_node_get(c, n->in[0]);
    double na = (double)bs_shape_numel(&a->value.shape);
    if (n->op == BS_OP_CROSS_ENTROPY) return a->value.shape.ndim >= 2 ? (double)a->value.shape.d[0] : 1;
    if (bs_ops[n->op].kind == BS_K_LOSS) {
        if (n->nin > 1) {
            bs_shape bsh;
            if (bs_shape_broadcast(&a->value.shape, &bs_node_get(c, n->in[1])->value.shape, &bsh))
                return (double)bs_shape_numel(&bsh);
        }
        return na;
    }
    double no = (double)bs_shape_numel(&n->value.shape);
    return no > 0 ? na / no : na;
}

/* what a placeholder stands for at one node */
typedef struct {
    const bs_ctx *c;
    const bs_node *n;
    bs_id node;
    bool numbers;        /* scalar operands as their values */
    bool rule;
    fx_env env;          /* a, b, out, n, slope as numbers where they are scalars */
} subst_ctx;

static bool scalar_node(const bs_node *x) { return x && bs_shape_numel(&x->value.shape) == 1; }

#define OPERAND_OUT (-1) /* operand(): the node's output rather than input k */

static fx *operand(fx_pool *p, const subst_ctx *sc, int k, bool dname)
{
    bs_id id = k == OPERAND_OUT ? sc->node : k < sc->n->nin ? sc->n->in[k] : BS_NONE;
    const bs_node *x = bs_node_get(sc->c, id);
    if (!x) return fx_name(p, "?");
    if (sc->numbers && scalar_node(x) && !dname) return fx_num(p, x->value.data[0], true);
    if (k == OPERAND_OUT && !x->label) return fx_name(p, "out");
    fx *e = node_tree(p, sc->c, id, 0, 64);
    if (!dname) return e;
    char b[128], d[140];
    render_tree(e, 6, b, sizeof b, NULL);
    snprintf(d, sizeof d, e->k == FX_NAME ? "d%s" : "d(%s)", b);
    return fx_name(p, d);
}

static fx *subst(fx_pool *p, const fx *t, const subst_ctx *sc)
{
    if (!t) return NULL;
    fx *e;
    switch (t->k) {
    case FX_NAME: {
        const char *s = t->s;
        if (sc->rule) {
            if (!strcmp(s, "A")) return operand(p, sc, 0, false);
            if (!strcmp(s, "B") || !strcmp(s, "t")) return operand(p, sc, 1, false);
            if (!strcmp(s, "C")) return operand(p, sc, 2, false);
            if (!strcmp(s, "Y")) return operand(p, sc, OPERAND_OUT, false);
            if (!strcmp(s, "dA")) return operand(p, sc, 0, true);
            if (!strcmp(s, "dB")) return operand(p, sc, 1, true);
            if (!strcmp(s, "dC")) return operand(p, sc, 2, true);
            if (!strcmp(s, "N")) return fx_num(p, op_n(sc->c, sc->n), false);
            if (!strcmp(s, "dim")) return fx_num(p, sc->n->attr.dim, false);
            /* select's index, slice's bounds (an omitted one is None, as typed) */
            if (!strcmp(s, "index")) return fx_int(p, sc->n->attr.start);
            if (!strcmp(s, "start"))
                return sc->n->attr.start == BS_SLICE_NO_START ? fx_name(p, "None") : fx_int(p, sc->n->attr.start);
            if (!strcmp(s, "stop"))
                return sc->n->attr.stop == BS_SLICE_NO_STOP ? fx_name(p, "None") : fx_int(p, sc->n->attr.stop);
            if (!strcmp(s, "step")) return fx_int(p, sc->n->attr.step);
            if (!strcmp(s, "diagonal")) return fx_int(p, sc->n->attr.start); /* tril, triu */
            if (!strcmp(s, "inverse_dims")) { /* permute's dims undone: (0, 2, 1, 3) */
                const bs_attr *at = &sc->n->attr;
                int nd = at->shape.ndim, inv[BS_MAX_DIMS] = {0};
                for (int k = 0; k < nd; k++)
                    inv[at->shape.d[k] < 0 ? at->shape.d[k] + nd : at->shape.d[k]] = k;
                char b[64] = "(";
                for (int k = 0; k < nd; k++)
                    snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", k ? ", " : "", inv[k]);
                snprintf(b + strlen(b), sizeof b - strlen(b), nd == 1 ? ",)" : ")");
                return fx_name(p, b);
            }
        } else {
            if (!strcmp(s, "a")) return operand(p, sc, 0, false);
            if (!strcmp(s, "b")) return operand(p, sc, 1, false);
            if (!strcmp(s, "out")) return operand(p, sc, OPERAND_OUT, false);
            if (!strcmp(s, "n")) return fx_num(p, op_n(sc->c, sc->n), false);
            if (!strcmp(s, "slope") || !strcmp(s, "min")) return fx_num(p, sc->n->attr.k, false);
            if (!strcmp(s, "max")) return fx_num(p, sc->n->attr.k2, false);
            if (!strcmp(s, "approximate")) return fx_num(p, sc->n->attr.k, false);
        }
        return fx_name(p, s);
    }
    case FX_RULE:
        e = fx_new(p, FX_RULE);
        if (!e) return NULL;
        {
            fx nm = {.k = FX_NAME, .s = t->s};
            fx *l = subst(p, &nm, sc);
            char b[160];
            render_tree(l, 6, b, sizeof b, NULL);
            e->s = pool_str(p, b, strlen(b));
        }
        e->x = subst(p, t->x, sc);
        return e;
    case FX_COND: {
        /* a test whose value is known picks its branch: the formula is what ran */
        double z;
        if (fx_eval(t->z, &sc->env, &z)) return subst(p, z != 0 ? t->x : t->y, sc);
        break;
    }
    case FX_BIN:
        /* x / n with n == 1: the division only spread a mean over one element */
        if (t->op[0] == '/' && t->y->k == FX_NAME && !strcmp(t->y->s, sc->rule ? "N" : "n") &&
            op_n(sc->c, sc->n) == 1)
            return subst(p, t->x, sc);
        break;
    default:
        break;
    }
    e = fx_new(p, t->k);
    if (!e) return NULL;
    *e = *t;
    e->x = subst(p, t->x, sc);
    e->y = subst(p, t->y, sc);
    e->z = subst(p, t->z, sc);
    if (t->k == FX_CALL) {
        e->args = pool_alloc(p, sizeof(fx *) * (size_t)(t->nargs ? t->nargs : 1));
        if (!e->args) return NULL;
        for (int i = 0; i < t->nargs; i++) e->args[i] = subst(p, t->args[i], sc);
    }
    return e;
}

static void env_put(fx_env *env, const char *name, double v)
{
    if (env->n < (int)(sizeof env->v / sizeof env->v[0])) {
        env->name[env->n] = name;
        env->v[env->n++] = v;
    }
}

static bool subst_init(subst_ctx *sc, const bs_ctx *c, bs_id node, int i, bool numbers)
{
    const bs_node *n = bs_node_get(c, node);
    if (!n || n->op == BS_OP_LEAF || i < 0 || i >= n->nin || !tpl(n->op, i)) return false;
    memset(sc, 0, sizeof *sc);
    sc->c = c;
    sc->n = n;
    sc->node = node;
    sc->numbers = numbers;
    sc->rule = tpl(n->op, i)->k == FX_RULE;
    const char *nm[3] = {"a", "b", "out"};
    for (int k = 0; k < 3; k++) {
        const bs_node *x = k < 2 ? (k < n->nin ? bs_node_get(c, n->in[k]) : NULL) : n;
        if (scalar_node(x)) env_put(&sc->env, nm[k], x->value.data[0]);
    }
    env_put(&sc->env, "n", op_n(c, n));
    env_put(&sc->env, "slope", n->attr.k);
    env_put(&sc->env, "min", n->attr.k);
    env_put(&sc->env, "max", n->attr.k2);
    env_put(&sc->env, "approximate", n->attr.k);
    return true;
}

bool bs_deriv_eval(const bs_ctx *c, bs_id node, int i, double *out)
{
    subst_ctx sc;
    if (!subst_init(&sc, c, node, i, true) || sc.rule) return false;
    const bs_node *n = sc.n;
    if (!scalar_node(n)) return false;
    for (int k = 0; k < n->nin; k++)
        if (!scalar_node(bs_node_get(c, n->in[k]))) return false;
    return fx_eval(tpl(n->op, i), &sc.env, out);
}

bool bs_deriv_eval_at(bs_op op, int i, double a, double b, double out, double n, double k,
                      double k2, double *v)
{
    fx_env env = {{"a", "b", "out", "n", "slope", "min", "max", "approximate"},
                  {a, b, out, n, k, k, k2, k}, 8};
    fx *t = tpl(op, i);
    return t && t->k != FX_RULE && fx_eval(t, &env, v);
}

/* the numbers' value as printed (each approximate number read back from its text) */
static void round_numbers(fx *e, int prec)
{
    if (!e) return;
    if (e->k == FX_NUM && e->approx && isfinite(e->v)) {
        char b[40];
        snprintf(b, sizeof b, "%.*g", prec, e->v);
        e->v = strtod(b, NULL);
    }
    round_numbers(e->x, prec);
    round_numbers(e->y, prec);
    round_numbers(e->z, prec);
    for (int k = 0; e->k == FX_CALL && k < e->nargs; k++) round_numbers(e->args[k], prec);
}

char *bs_deriv_render(const bs_ctx *c, bs_id node, int i, bool numbers, int prec, char *buf,
                      size_t len)
{
    subst_ctx sc;
    if (len) buf[0] = 0;
    if (!subst_init(&sc, c, node, i, numbers)) {
        const bs_node *n = bs_node_get(c, node);
        snprintf(buf, len, n && n->op != BS_OP_LEAF && i >= 0 && i < n->nin && !bs_ops[n->op].deriv[i]
                               ? "(not differentiable)" : "?");
        return buf;
    }
    fx_pool p = {0};
    fx *e = subst(&p, tpl(sc.n->op, i), &sc);
    if (prec < 1) prec = 1;
    double exact;
    int used = prec;
    if (numbers && fx_eval(e, NULL, &exact) && isfinite(exact)) {
        /* enough digits that the numbers as printed give the value as printed */
        char want[40], got[40];
        snprintf(want, sizeof want, "%.*g", prec, exact);
        for (; used < 17; used++) {
            fx_pool q = {0};
            fx *r = subst(&q, tpl(sc.n->op, i), &sc);
            round_numbers(r, used);
            double v;
            bool ok = fx_eval(r, NULL, &v);
            pool_free(&q);
            snprintf(got, sizeof got, "%.*g", prec, v);
            if (ok && !strcmp(want, got)) break;
        }
    }
    render_tree(e, used, buf, len, NULL);
    pool_free(&p);
    return buf;
}

bool bs_deriv_is_const(const bs_ctx *c, bs_id node, int i)
{
    subst_ctx sc;
    if (!subst_init(&sc, c, node, i, false)) return false;
    fx_pool p = {0};
    bool r = fx_is_const(subst(&p, tpl(sc.n->op, i), &sc));
    pool_free(&p);
    return r;
}

char *bs_deriv_render_generic(bs_op op, int i, char *buf, size_t len)
{
    fx *t = tpl(op, i);
    if (!t) {
        snprintf(buf, len, (int)op >= 0 && op < BS_OP_COUNT && i >= 0 && i < bs_ops[op].arity &&
                                   !bs_ops[op].deriv[i] ? "(not differentiable)" : "?");
        return buf;
    }
    render_tree(t, 6, buf, len, NULL);
    return buf;
}
