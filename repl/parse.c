/* repl/parse.c: the parser: tokens to an AST of statements and expressions (ast.h), plus the arena,
 * incomplete-input detection, label text and S-expression dumps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

/* ==== Arena ==== */

struct bs_arena_block {
    bs_arena_block *next;
    size_t cap, used;           /* bytes of data[] */
    max_align_t data[];
};

#define ARENA_ALIGN (alignof(max_align_t))
#define ARENA_MIN_BLOCK ((size_t)8192)

void *bs_arena_alloc(bs_arena *a, size_t n)
{
    void *p = bs_arena_alloc_raw(a, n);
    if (p) memset(p, 0, n);
    return p;
}

void *bs_arena_alloc_raw(bs_arena *a, size_t n)
{
    if (n > ((size_t)-1) / 4) return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    if (n == 0) n = ARENA_ALIGN;
    bs_arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = b ? b->cap * 2 : a->first ? a->first : ARENA_MIN_BLOCK;
        if (cap > ((size_t)1 << 20)) cap = (size_t)1 << 20;
        if (cap < n) cap = n;
        if (a->spare && a->spare->cap >= n) { /* what a release kept: a statement's arena is */
            b = a->spare;                     /* emptied after every statement */
            a->spare = NULL;
        } else {
            b = malloc(sizeof *b + cap);
            if (!b) return NULL;
            b->cap = cap;
        }
        b->next = a->head;
        b->used = 0;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->total += n;
    return p;
}

char *bs_arena_strndup(bs_arena *a, const char *s, size_t n)
{
    char *d = bs_arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

bs_arena_mark bs_arena_save(const bs_arena *a)
{
    bs_arena_mark m = {a->head, a->head ? a->head->used : 0, a->total};
    return m;
}

void bs_arena_release(bs_arena *a, bs_arena_mark m)
{
    while (a->head && a->head != m.head) {
        bs_arena_block *next = a->head->next;
        if (!a->spare) a->spare = a->head; /* kept for the next allocation */
        else free(a->head);
        a->head = next;
    }
    if (a->head) a->head->used = m.used;
    a->total = m.total;
}

void bs_arena_free(bs_arena *a)
{
    bs_arena_block *b = a->head;
    while (b) {
        bs_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a->spare);
    a->head = a->spare = NULL;
    a->total = 0;
}

/* ==== Parser state and errors ==== */

#define MAX_NESTING 200         /* parentheses, brackets and unary operators, nested */
#define MAX_OPEN 256

typedef struct {
    bs_lexer lx;
    bs_token tok;               /* the lookahead */
    bs_token prev;              /* the token consumed last */
    const char *src;
    bs_arena *a;
    bs_parse_error *e;
    jmp_buf fail;
    int nesting;
    int nopen;
    bs_block top;               /* top-level statements completed so far */
    int topcap;
    bool dedented;              /* a block just ended: a deeper line now is a bad unindent */
    bs_token open[MAX_OPEN];    /* brackets consumed and not yet closed, innermost last (last:
                                   parser_init clears the fields before it, 15 KB a statement less) */
} parser;

/* Record the error at a position and unwind to the entry point. */
static _Noreturn void fail_pos(parser *p, int line, int col, int offset, const char *fmt, ...)
{
    if (p->e) {
        p->e->status = BS_PARSE_ERROR;
        p->e->line = line;
        p->e->col = col;
        p->e->offset = offset;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->e->msg, sizeof p->e->msg, fmt, ap);
        va_end(ap);
    }
    longjmp(p->fail, 1);
}
#define fail_tok(p, t, ...) fail_pos((p), (t).line, (t).col, (t).start, __VA_ARGS__)

static _Noreturn void fail_nomem(parser *p)
{
    if (p->e) {
        p->e->status = BS_PARSE_NOMEM;
        p->e->line = p->tok.line;
        p->e->col = p->tok.col;
        p->e->offset = p->tok.start;
        snprintf(p->e->msg, sizeof p->e->msg, "out of memory while parsing");
    }
    longjmp(p->fail, 1);
}

static void *alloc(parser *p, size_t n)
{
    void *m = bs_arena_alloc(p->a, n);
    if (!m) fail_nomem(p);
    return m;
}

static char *dup_text(parser *p, int start, int end)
{
    char *s = bs_arena_strndup(p->a, p->src + start, (size_t)(end - start));
    if (!s) fail_nomem(p);
    return s;
}

/* Grow an arena array of `elem`-sized items holding n so that one more fits. */
static void *grow(parser *p, void *old, int n, int *cap, size_t elem)
{
    if (n < *cap) return old;
    int ncap = *cap ? *cap * 2 : 4;
    void *m = alloc(p, (size_t)ncap * elem);
    if (n) memcpy(m, old, (size_t)n * elem);
    *cap = ncap;
    return m;
}

static bool is_opener(bs_tok_kind k) { return k == BS_TOK_LPAREN || k == BS_TOK_LBRACKET || k == BS_TOK_LBRACE; }
static bool is_closer(bs_tok_kind k) { return k == BS_TOK_RPAREN || k == BS_TOK_RBRACKET || k == BS_TOK_RBRACE; }

static bs_tok_kind closer_of(bs_tok_kind opener)
{
    return opener == BS_TOK_LPAREN ? BS_TOK_RPAREN : opener == BS_TOK_LBRACKET ? BS_TOK_RBRACKET : BS_TOK_RBRACE;
}

/* Read the next lookahead; lexical errors and end of input inside brackets stop here. */
static void lex_into_lookahead(parser *p)
{
    bs_lex_scan(&p->lx, &p->tok);
    if (p->tok.kind == BS_TOK_ERROR) fail_tok(p, p->tok, "%s", p->lx.err);
    if (p->tok.kind == BS_TOK_EOF && p->nopen > 0) {
        bs_token o = p->open[(p->nopen < MAX_OPEN ? p->nopen : MAX_OPEN) - 1];
        fail_tok(p, o, "'%c' was never closed", p->src[o.start]);
    }
}

/* Consume the lookahead. */
static void advance(parser *p)
{
    bs_tok_kind k = p->tok.kind;
    if (is_opener(k)) {
        if (p->nopen < MAX_OPEN) p->open[p->nopen] = p->tok;
        p->nopen++;
    } else if (is_closer(k) && p->nopen > 0) {
        p->nopen--;
    }
    p->prev = p->tok;
    lex_into_lookahead(p);
}

/* always inlined: name is a literal, its strlen a constant */
static inline __attribute__((always_inline)) bool tok_is_name(const parser *p, const bs_token *t,
                                                              const char *name)
{
    if (t->kind != BS_TOK_NAME) return false;
    size_t n = strlen(name);
    return (size_t)(t->end - t->start) == n && memcmp(p->src + t->start, name, n) == 0;
}

/* Python's keywords; those up to "yield" are not backstep's. */
static const char *const py_keywords[] = {
    "async", "await", "global", "nonlocal", "yield",
    "and", "as", "assert", "break", "class", "continue", "def", "del", "elif", "else", "except",
    "finally", "for", "from", "if", "import", "in", "is", "lambda", "not", "or", "pass", "raise",
    "return", "try", "while", "with",
};
#define N_UNSUPPORTED_KW 5

static const char *keyword_of(const parser *p, const bs_token *t)
{
    if (t->kind != BS_TOK_NAME) return NULL;
    const char *c = p->src + t->start;
    size_t n = (size_t)(t->end - t->start);
    if (n < 2 || n > 8 || c[0] < 'a' || c[0] > 'z') return NULL; /* "as" ... "continue" */
    /* the keywords by first letter, one bit each (a NAME is checked at every atom) */
    _Static_assert(sizeof py_keywords / sizeof py_keywords[0] <= 64, "a bit per keyword");
    static uint64_t by_letter[26];
    static size_t kw_len[sizeof py_keywords / sizeof py_keywords[0]];
    static bool ready;
    if (!ready) {
        for (size_t i = 0; i < sizeof py_keywords / sizeof py_keywords[0]; i++) {
            by_letter[py_keywords[i][0] - 'a'] |= 1ull << i;
            kw_len[i] = strlen(py_keywords[i]);
        }
        ready = true;
    }
    for (uint64_t m = by_letter[c[0] - 'a']; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        const char *kw = py_keywords[i];
        if (kw_len[i] == n && !memcmp(kw, c, n)) return kw;
    }
    return NULL;
}

/* An error for token t where it cannot go; `hint` (or NULL) is appended after "; ". */
static _Noreturn void unexpected(parser *p, bs_token t, const char *hint)
{
    int n = t.end - t.start;
    const char *s = p->src + t.start;
    const char *kw = keyword_of(p, &t);
    if (kw) {
        if (!strcmp(kw, "import") || !strcmp(kw, "from"))
            fail_tok(p, t, "'%s' must start a statement (import torch.nn.functional as F)", kw);
        if (!strcmp(kw, "with"))
            fail_tok(p, t, "'with' must start a statement: with torch.no_grad():");
        for (int i = 0; i < N_UNSUPPORTED_KW; i++)
            if (!strcmp(kw, py_keywords[i]))
                fail_tok(p, t, "'%s' is a Python keyword that backstep does not support", kw);
        fail_tok(p, t, "invalid syntax: unexpected keyword '%s'%s%s", kw, hint ? "; " : "", hint ? hint : "");
    }
    switch (t.kind) {
    case BS_TOK_BADOP:
        fail_tok(p, t, "operator '%.*s' is not supported", n, s);
    case BS_TOK_NEWLINE:
        fail_tok(p, t, "unexpected end of line%s%s", hint ? "; " : "", hint ? hint : "");
    case BS_TOK_EOF:
        fail_tok(p, t, "unexpected end of input%s%s", hint ? "; " : "", hint ? hint : "");
    case BS_TOK_NAME:
        fail_tok(p, t, "unexpected name '%.*s'%s%s", n, s, hint ? "; " : "", hint ? hint : "");
    case BS_TOK_NUMBER:
        fail_tok(p, t, "unexpected number '%.*s'%s%s", n, s, hint ? "; " : "", hint ? hint : "");
    case BS_TOK_STRING:
        fail_tok(p, t, "unexpected string %.*s%s%s", n > 40 ? 40 : n, s, hint ? "; " : "", hint ? hint : "");
    default:
        fail_tok(p, t, "unexpected '%.*s'%s%s", n, s, hint ? "; " : "", hint ? hint : "");
    }
}

/* Consume the closer that matches `opener`, or explain what is wrong. */
static void expect_close(parser *p, bs_token opener, const char *what)
{
    bs_tok_kind want = closer_of(opener.kind);
    char oc = p->src[opener.start];
    char cc = want == BS_TOK_RPAREN ? ')' : want == BS_TOK_RBRACKET ? ']' : '}';
    if (p->tok.kind == want) { advance(p); return; }
    if (is_closer(p->tok.kind))
        fail_tok(p, p->tok, "closing '%c' does not match opening '%c' at %d:%d",
                 p->src[p->tok.start], oc, opener.line, opener.col);
    if (p->tok.line > p->prev.line && p->tok.kind != BS_TOK_CMP && p->tok.kind != BS_TOK_BADOP &&
        p->tok.kind != BS_TOK_AUGASSIGN)
        fail_tok(p, opener, "'%c' was never closed", oc);
    char hint[64];
    snprintf(hint, sizeof hint, "expected ',' or '%c' after %s", cc, what);
    unexpected(p, p->tok, hint);
}

/* ==== Expressions ==== */

static bs_expr *parse_expr(parser *p);
static bs_expr *parse_factor(parser *p);
static bs_expr *parse_or(parser *p);
static bs_expr *parse_sum(parser *p);
static bool at_bitop(const parser *p, char c);

static bs_expr *new_expr(parser *p, bs_expr_kind k, const bs_token *first)
{
    bs_expr *e = alloc(p, sizeof *e);
    e->kind = k;
    e->line = e->op_line = first->line;
    e->col = e->op_col = first->col;
    e->start = first->start;
    e->end = first->end;
    e->src = p->src;
    return e;
}

/* e's depth from its children, refused past BS_MAX_DEPTH (at e's operator) */
static bs_expr *deepen(parser *p, bs_expr *e)
{
    int d = 0;
#define KID(x) do { if ((x) && (x)->depth > d) d = (x)->depth; } while (0)
    switch (e->kind) {
    case BS_EX_BINARY: case BS_EX_BOOLOP: KID(e->bin.lhs); KID(e->bin.rhs); break;
    case BS_EX_UNARY: KID(e->unary.operand); break;
    case BS_EX_ATTR: KID(e->attr.obj); break;
    case BS_EX_CALL:
        KID(e->call.fn);
        for (int i = 0; i < e->call.nargs; i++) KID(e->call.args[i].value);
        break;
    case BS_EX_LIST: case BS_EX_TUPLE: case BS_EX_SET:
        for (int i = 0; i < e->list.n; i++) KID(e->list.items[i]);
        break;
    case BS_EX_COMPARE:
        for (int i = 0; i < e->cmp.n; i++) KID(e->cmp.items[i]);
        break;
    case BS_EX_IFEXP: KID(e->ifexp.cond); KID(e->ifexp.then); KID(e->ifexp.orelse); break;
    case BS_EX_SUBSCRIPT: KID(e->sub.obj); KID(e->sub.index); break;
    case BS_EX_SLICE: KID(e->slice.lo); KID(e->slice.hi); KID(e->slice.step); break;
    case BS_EX_FSTRING:
        for (int i = 0; i < e->fstr.n; i++) KID(e->fstr.parts[i].expr);
        break;
    case BS_EX_LISTCOMP: case BS_EX_DICTCOMP: case BS_EX_SETCOMP:
        KID(e->comp.elt); KID(e->comp.iter); KID(e->comp.cond); KID(e->comp.key);
        break;
    case BS_EX_DICT:
        for (int i = 0; i < e->dict.n; i++) { KID(e->dict.keys[i]); KID(e->dict.vals[i]); }
        break;
    case BS_EX_LAMBDA: {
        const bs_stmt *ld = e->lam.def;
        KID(ld->def.body.stmts[0]->ret.value);
        for (int i = 0; i < ld->def.nparams; i++) KID(ld->def.params[i].def);
        break;
    }
    default: break;
    }
#undef KID
    e->depth = d + 1;
    if (e->depth > BS_MAX_DEPTH) {
        bs_token t = p->prev;
        t.line = e->op_line;
        t.col = e->op_col;
        fail_tok(p, t, "expression too deep (more than %d levels of operators and calls); "
                 "split it over several statements", BS_MAX_DEPTH);
    }
    return e;
}

static bs_expr *new_binary(parser *p, const bs_token *first, const bs_token *op, bs_binop bop,
                           bs_expr *lhs, bs_expr *rhs)
{
    bs_expr *e = new_expr(p, bop == BS_BIN_AND || bop == BS_BIN_OR ? BS_EX_BOOLOP : BS_EX_BINARY, first);
    e->op_line = op->line;
    e->op_col = op->col;
    e->bin.op = bop;
    e->bin.lhs = lhs;
    e->bin.rhs = rhs;
    e->end = p->prev.end;
    return deepen(p, e);
}

/* Decode n bytes of string text: \\ \' \" \n \t \r \0; any other '\x' stays as typed (raw: all) */
static char *decode_string(parser *p, const char *s, int n, bool raw, size_t *len)
{
    char *d = alloc(p, (size_t)n + 1);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (!raw && s[i] == '\\' && i + 1 < n) {
            char c = s[i + 1], r;
            switch (c) {
            case '\\': r = '\\'; break;
            case '\'': r = '\''; break;
            case '"': r = '"'; break;
            case 'n': r = '\n'; break;
            case 't': r = '\t'; break;
            case 'r': r = '\r'; break;
            case '0': r = '\0'; break;
            default: r = 0; break;
            }
            if (r || c == '0') { d[k++] = r; i++; continue; }
        }
        d[k++] = s[i];
    }
    d[k] = '\0';
    *len = k;
    return d;
}

static bs_expr *string_atom(parser *p, const bs_token *t)
{
    bs_expr *e = new_expr(p, BS_EX_STR, t);
    e->str.s = decode_string(p, p->src + t->start + t->pre + 1, t->end - t->start - t->pre - 2, t->raw,
                             &e->str.len);
    return e;
}

/* Adjacent string literals join, as in Python: "a" "b" is "ab" (not f-strings) */
static bs_expr *string_concat(parser *p, bs_expr *e)
{
    while (p->tok.kind == BS_TOK_STRING) {
        bs_token t = p->tok;
        advance(p);
        bs_expr *b = string_atom(p, &t);
        char *d = alloc(p, e->str.len + b->str.len + 1);
        memcpy(d, e->str.s, e->str.len);
        memcpy(d + e->str.len, b->str.s, b->str.len + 1);
        e->str.s = d;
        e->str.len += b->str.len;
        e->end = t.end;
    }
    return e;
}

/* f'...': literal runs ({{ and }} are braces) and fields {expr[=][!c][:spec]}; each field's
   expression is parsed in place, so its positions are those of the source */
static bs_expr *fstring_atom(parser *p, const bs_token *t)
{
    bs_expr *e = new_expr(p, BS_EX_FSTRING, t);
    const char *src = p->src;
    int qs = t->start + t->pre, body = qs + 1, stop = t->end - 1;
    int cap = 0;
    char *lit = alloc(p, (size_t)(stop - body) + 1);
    int nl = 0;
    bs_lexer saved_lx = p->lx;
    bs_token saved_tok = p->tok, saved_prev = p->prev;
    int saved_nopen = p->nopen;
    int nsave = saved_nopen < MAX_OPEN ? saved_nopen : MAX_OPEN;
    bs_token *saved_open = nsave ? alloc(p, (size_t)nsave * sizeof(bs_token)) : NULL;
    if (nsave) memcpy(saved_open, p->open, (size_t)nsave * sizeof(bs_token));
    for (int i = body; i <= stop;) {
        if (i < stop && src[i] == '{' && src[i + 1] == '{') { lit[nl++] = '{'; i += 2; continue; }
        if (i < stop && src[i] == '}' && src[i + 1] == '}') { lit[nl++] = '}'; i += 2; continue; }
        if (i < stop && src[i] == '}')
            fail_pos(p, t->line, t->col + (i - t->start), i, "f-string: single '}' is not allowed");
        if (i == stop || src[i] == '{') {
            if (nl) {
                size_t len;
                bs_fpart part = {0};
                part.lit = decode_string(p, lit, nl, t->raw, &len);
                e->fstr.parts = grow(p, e->fstr.parts, e->fstr.n, &cap, sizeof(bs_fpart));
                e->fstr.parts[e->fstr.n++] = part;
                nl = 0;
            }
            if (i == stop) break;
            /* a field: lex from just after the '{', up to its '}' */
            {
                int depth = 0, j = i + 1;
                for (; j < stop; j++) {
                    if (strchr("([{", src[j])) depth++;
                    else if (strchr(")]", src[j]) || (src[j] == '}' && depth > 0)) depth--;
                    else if (src[j] == '}') break;
                }
                if (j >= stop) fail_pos(p, t->line, t->col, t->start, "f-string: expecting '}'");
            }
            bs_fpart part = {0};
            p->lx.pos = i + 1;
            p->lx.line = t->line;
            p->lx.line_start = t->start - (t->col - 1);
            p->lx.depth = 1;            /* as inside brackets: no NEWLINE */
            p->lx.at_bol = false;
            p->nopen = 0;
            lex_into_lookahead(p);
            if (p->tok.kind == BS_TOK_RBRACE)
                fail_tok(p, p->tok, "f-string: empty expression not allowed");
            int fs = p->tok.start;
            part.expr = parse_expr(p);
            if (p->tok.kind == BS_TOK_ASSIGN) { /* f"{x=}" */
                part.self_doc = true;
                part.text = dup_text(p, fs, p->tok.start);
                advance(p);
            }
            int j = p->tok.start;
            if (p->tok.kind == BS_TOK_BADOP && src[j] == '!') {
                char c = src[j + 1];
                if (c != 'r' && c != 's' && c != 'a')
                    fail_pos(p, p->tok.line, p->tok.col, j, "f-string: invalid conversion character: expected 's', 'r', or 'a'");
                part.conv = c;
                j += 2;
            } else if (p->tok.kind != BS_TOK_COLON && p->tok.kind != BS_TOK_RBRACE) {
                if (j >= stop) fail_pos(p, t->line, t->col + (i - t->start), i, "f-string: expecting '}'");
                unexpected(p, p->tok, "expected '}' in the f-string");
            }
            int spec_s = j, spec_e;
            if (src[j] == ':') spec_s = ++j;
            else if (src[j] != '}')
                fail_pos(p, t->line, t->col + (j - t->start), j, "f-string: expecting '}'");
            while (j < stop && src[j] != '}') {
                if (src[j] == '{')
                    fail_pos(p, t->line, t->col + (j - t->start), j,
                             "f-string: nested fields in a format spec are not supported");
                j++;
            }
            if (j >= stop) fail_pos(p, t->line, t->col + (i - t->start), i, "f-string: expecting '}'");
            spec_e = j;
            part.spec = src[spec_s - 1] == ':' ? dup_text(p, spec_s, spec_e) : "";
            e->fstr.parts = grow(p, e->fstr.parts, e->fstr.n, &cap, sizeof(bs_fpart));
            e->fstr.parts[e->fstr.n++] = part;
            i = j + 1;
            continue;
        }
        lit[nl++] = src[i++];
    }
    p->lx = saved_lx;
    p->tok = saved_tok;
    p->prev = saved_prev;
    p->nopen = saved_nopen;
    if (nsave) memcpy(p->open, saved_open, (size_t)nsave * sizeof(bs_token));
    return deepen(p, e);
}

/* items := [expr (',' expr)* [',']] closer    (after the opener; for lists and tuples) */
static void parse_items(parser *p, bs_token opener, bs_expr *e, bs_expr *first_item)
{
    int cap = 0;
    if (first_item) {
        e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
        e->list.items[e->list.n++] = first_item;
        /* the caller has seen the ',' after first_item */
        advance(p);
    }
    bs_tok_kind want = closer_of(opener.kind);
    while (p->tok.kind != want) {
        bs_expr *it = parse_expr(p);
        e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
        e->list.items[e->list.n++] = it;
        if (p->tok.kind != BS_TOK_COMMA) break;
        advance(p);
    }
    expect_close(p, opener, "an element");
}

/* A target list: NAME, x.a, x[i], or several of them with commas (for loops, assignments) */
static bs_expr *parse_target(parser *p)
{
    bs_token first = p->tok;
    bs_expr *t = parse_sum(p);
    if (p->tok.kind != BS_TOK_COMMA) return t;
    bs_expr *e = new_expr(p, BS_EX_TUPLE, &first);
    int cap = 0;
    e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
    e->list.items[e->list.n++] = t;
    while (p->tok.kind == BS_TOK_COMMA) {
        advance(p);
        if (tok_is_name(p, &p->tok, "in") || p->tok.kind == BS_TOK_ASSIGN) break;
        bs_expr *it = parse_sum(p);
        e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
        e->list.items[e->list.n++] = it;
    }
    e->end = p->prev.end;
    return deepen(p, e);
}

/* [elt for target in iter [if cond]] after elt (the lookahead is 'for'); also (elt for ...),
   f(elt for ...) and {key: elt for ...}: the closer is the opener's */
static bs_expr *parse_comp(parser *p, const bs_token *first, bs_token opener, bs_expr *elt)
{
    bs_expr *e = new_expr(p, BS_EX_LISTCOMP, first);
    e->comp.gen = opener.kind == BS_TOK_LPAREN;
    advance(p);
    e->comp.elt = elt;
    e->comp.target = parse_target(p);
    if (!tok_is_name(p, &p->tok, "in")) unexpected(p, p->tok, "expected 'in'");
    advance(p);
    e->comp.iter = parse_or(p);
    if (tok_is_name(p, &p->tok, "if")) {
        advance(p);
        e->comp.cond = parse_or(p);
    }
    if (tok_is_name(p, &p->tok, "for"))
        fail_tok(p, p->tok, "a comprehension with several 'for' clauses is not supported");
    expect_close(p, opener, "the comprehension");
    e->end = p->prev.end;
    return deepen(p, e);
}

/* atom := NUMBER | STRING+ | FSTRING | NAME | True | False | None | '(' ... ')' | '[' ... ']' */
static bs_expr *parse_atom(parser *p)
{
    bs_token t = p->tok;
    bs_expr *e;
    switch (t.kind) {
    case BS_TOK_NUMBER:
        advance(p);
        e = new_expr(p, BS_EX_NUM, &t);
        e->num.value = t.num;
        e->num.ival = t.inum;
        e->num.is_int = t.is_int;
        return e;
    case BS_TOK_STRING:
        advance(p);
        return string_concat(p, string_atom(p, &t));
    case BS_TOK_FSTRING:
        advance(p);
        return fstring_atom(p, &t);
    case BS_TOK_NAME:
        if (keyword_of(p, &t)) unexpected(p, t, NULL);
        advance(p);
        if (tok_is_name(p, &t, "True") || tok_is_name(p, &t, "False")) {
            e = new_expr(p, BS_EX_BOOL, &t);
            e->boolean = p->src[t.start] == 'T';
        } else if (tok_is_name(p, &t, "None")) {
            e = new_expr(p, BS_EX_NONE, &t);
        } else {
            e = new_expr(p, BS_EX_NAME, &t);
            e->name = dup_text(p, t.start, t.end);
        }
        return e;
    case BS_TOK_LPAREN: {
        /* '(' ')' | '(' expr ')' | '(' expr ',' [items] ')' */
        advance(p);
        if (p->tok.kind == BS_TOK_RPAREN) {
            advance(p);
            e = new_expr(p, BS_EX_TUPLE, &t);
            e->end = p->prev.end;
            return e;
        }
        bs_expr *inner = parse_expr(p);
        if (p->tok.kind == BS_TOK_COMMA) {
            e = new_expr(p, BS_EX_TUPLE, &t);
            parse_items(p, t, e, inner);
            e->end = p->prev.end;
            return deepen(p, e);
        }
        if (tok_is_name(p, &p->tok, "for")) return parse_comp(p, &t, t, inner);
        expect_close(p, t, "the expression");
        inner->paren = true;
        return inner;
    }
    case BS_TOK_LBRACKET:
        advance(p);
        e = new_expr(p, BS_EX_LIST, &t);
        if (p->tok.kind != BS_TOK_RBRACKET) {
            bs_expr *first = parse_expr(p);
            if (tok_is_name(p, &p->tok, "for")) return parse_comp(p, &t, t, first);
            int cap = 0;
            e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
            e->list.items[e->list.n++] = first;
            if (p->tok.kind == BS_TOK_COMMA) {
                advance(p);
                while (p->tok.kind != BS_TOK_RBRACKET) {
                    bs_expr *it = parse_expr(p);
                    e->list.items = grow(p, e->list.items, e->list.n, &cap, sizeof(bs_expr *));
                    e->list.items[e->list.n++] = it;
                    if (p->tok.kind != BS_TOK_COMMA) break;
                    advance(p);
                }
            }
        }
        expect_close(p, t, "an element");
        e->end = p->prev.end;
        return deepen(p, e);
    case BS_TOK_LBRACE: {
        /* '{' [key ':' value (',' key ':' value)* [',']] '}' | '{' key ':' value 'for' ... '}' */
        advance(p);
        e = new_expr(p, BS_EX_DICT, &t);
        int cap = 0;
        while (p->tok.kind != BS_TOK_RBRACE) {
            if (p->tok.kind == BS_TOK_POW) fail_tok(p, p->tok, "'**' unpacking is not supported");
            bs_expr *k = parse_expr(p);
            if (p->tok.kind != BS_TOK_COLON) {
                if (e->dict.n == 0 && tok_is_name(p, &p->tok, "for")) { /* {x for x in xs} */
                    bs_expr *c = parse_comp(p, &t, t, k);
                    c->kind = BS_EX_SETCOMP;
                    return deepen(p, c);
                }
                if (e->dict.n == 0 && (p->tok.kind == BS_TOK_COMMA || p->tok.kind == BS_TOK_RBRACE)) {
                    /* {a, b, ...}: a set */
                    e->kind = BS_EX_SET;
                    int scap = 0;
                    e->list.items = NULL;
                    e->list.n = 0;
                    for (;;) {
                        e->list.items = grow(p, e->list.items, e->list.n, &scap, sizeof(bs_expr *));
                        e->list.items[e->list.n++] = k;
                        if (p->tok.kind != BS_TOK_COMMA) break;
                        advance(p);
                        if (p->tok.kind == BS_TOK_RBRACE) break;
                        k = parse_expr(p);
                    }
                    expect_close(p, t, "a set item");
                    e->end = p->prev.end;
                    return deepen(p, e);
                }
                unexpected(p, p->tok, "expected ':' after a dict key");
            }
            advance(p);
            bs_expr *v = parse_expr(p);
            if (e->dict.n == 0 && tok_is_name(p, &p->tok, "for")) {
                bs_expr *c = parse_comp(p, &t, t, v);
                c->kind = BS_EX_DICTCOMP;
                c->comp.key = k;
                return deepen(p, c);
            }
            int ocap = cap;
            e->dict.keys = grow(p, e->dict.keys, e->dict.n, &cap, sizeof(bs_expr *));
            cap = ocap;
            e->dict.vals = grow(p, e->dict.vals, e->dict.n, &cap, sizeof(bs_expr *));
            e->dict.keys[e->dict.n] = k;
            e->dict.vals[e->dict.n++] = v;
            if (p->tok.kind != BS_TOK_COMMA) break;
            advance(p);
        }
        expect_close(p, t, "a dict item");
        e->end = p->prev.end;
        return deepen(p, e);
    }
    default:
        break;
    }
    /* nothing that starts an expression: say what was expected after what */
    switch (p->prev.kind) {
    case BS_TOK_PLUS: case BS_TOK_MINUS: case BS_TOK_STAR: case BS_TOK_SLASH: case BS_TOK_POW:
    case BS_TOK_AT: case BS_TOK_ASSIGN: case BS_TOK_FLOORDIV: case BS_TOK_PERCENT: case BS_TOK_CMP:
    case BS_TOK_AUGASSIGN:
        if (t.kind == BS_TOK_CMP || t.kind == BS_TOK_BADOP || t.kind == BS_TOK_AUGASSIGN) unexpected(p, t, NULL);
        fail_tok(p, t, "expected an expression after '%.*s'", p->prev.end - p->prev.start,
                 p->src + p->prev.start);
    default:
        if (t.kind == BS_TOK_STAR || t.kind == BS_TOK_POW)
            fail_tok(p, t, "'%.*s' unpacking is not supported", t.end - t.start, p->src + t.start);
        unexpected(p, t, (t.kind == BS_TOK_NEWLINE || t.kind == BS_TOK_EOF) ? "expected an expression" : NULL);
    }
}

/* args := [arg (',' arg)* [',']] ')'    arg := expr | NAME '=' expr   (after the '(') */
static void parse_args(parser *p, bs_token opener, bs_expr *call)
{
    int cap = 0;
    bool seen_kw = false, seen_dstar = false;
    while (p->tok.kind != BS_TOK_RPAREN) {
        bs_token first = p->tok;
        if (first.kind == BS_TOK_STAR || first.kind == BS_TOK_POW) { /* f(*xs), f(**d) */
            advance(p);
            bs_arg arg = {NULL, parse_expr(p), first.line, first.col, first.start, 0,
                          first.kind == BS_TOK_STAR ? 1 : 2};
            if (arg.star == 1 && seen_dstar)
                fail_tok(p, first, "iterable argument unpacking follows keyword argument unpacking");
            if (arg.star == 2) seen_dstar = true;
            arg.end = p->prev.end;
            call->call.args = grow(p, call->call.args, call->call.nargs, &cap, sizeof(bs_arg));
            call->call.args[call->call.nargs++] = arg;
            if (p->tok.kind != BS_TOK_COMMA) break;
            advance(p);
            continue;
        }
        bs_expr *v = parse_expr(p);
        bs_arg arg = {NULL, v, first.line, first.col, first.start, 0, 0};
        if (p->tok.kind == BS_TOK_ASSIGN) {
            if (v->kind != BS_EX_NAME || v->paren)
                fail_tok(p, p->tok, "a keyword argument needs a plain name before '=' (name=value)");
            advance(p);
            arg.name = v->name;
            arg.value = parse_expr(p);
            for (int i = 0; i < call->call.nargs; i++)
                if (call->call.args[i].name && !strcmp(call->call.args[i].name, arg.name))
                    fail_tok(p, first, "keyword argument repeated: '%s'", arg.name);
            seen_kw = true;
        } else if (seen_dstar) {
            fail_tok(p, first, "positional argument follows keyword argument unpacking");
        } else if (seen_kw) {
            fail_tok(p, first, "positional argument follows keyword argument");
        } else if (tok_is_name(p, &p->tok, "for")) {
            /* f(x for x in xs): a generator expression as the only argument */
            if (call->call.nargs) fail_tok(p, p->tok, "Generator expression must be parenthesized");
            arg.value = parse_comp(p, &first, opener, v); /* it consumed the call's ')' */
            arg.end = p->prev.end;
            call->call.args = grow(p, call->call.args, call->call.nargs, &cap, sizeof(bs_arg));
            call->call.args[call->call.nargs++] = arg;
            return;
        }
        arg.end = p->prev.end;
        call->call.args = grow(p, call->call.args, call->call.nargs, &cap, sizeof(bs_arg));
        call->call.args[call->call.nargs++] = arg;
        if (p->tok.kind != BS_TOK_COMMA) break;
        advance(p);
    }
    expect_close(p, opener, "an argument");
}

/* one index of a subscript: expr | [expr] ':' [expr] [':' [expr]] */
static bs_expr *parse_index_item(parser *p)
{
    bs_token first = p->tok;
    bs_expr *lo = NULL;
    if (p->tok.kind != BS_TOK_COLON) {
        lo = parse_expr(p);
        if (p->tok.kind != BS_TOK_COLON) return lo;
    }
    bs_expr *e = new_expr(p, BS_EX_SLICE, &first);
    e->slice.lo = lo;
    advance(p); /* ':' */
    bool end_of_item = p->tok.kind == BS_TOK_COMMA || p->tok.kind == BS_TOK_RBRACKET;
    if (!end_of_item && p->tok.kind != BS_TOK_COLON) e->slice.hi = parse_expr(p);
    if (p->tok.kind == BS_TOK_COLON) {
        advance(p);
        if (p->tok.kind != BS_TOK_COMMA && p->tok.kind != BS_TOK_RBRACKET) e->slice.step = parse_expr(p);
    }
    e->end = p->prev.end;
    return deepen(p, e);
}

/* primary := atom ('.' NAME | '(' args ')' | '[' index (',' index)* ']')* */
static bs_expr *parse_primary(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_atom(p);
    for (;;) {
        bs_token op = p->tok;
        if (op.kind == BS_TOK_DOT) {
            advance(p);
            bs_token nt = p->tok;
            if (nt.kind != BS_TOK_NAME)
                fail_tok(p, nt, "expected an attribute name after '.'");
            advance(p);
            bs_expr *a = new_expr(p, BS_EX_ATTR, &first);
            a->op_line = op.line;
            a->op_col = op.col;
            a->attr.obj = e;
            a->attr.name = dup_text(p, nt.start, nt.end);
            a->attr.name_line = nt.line;
            a->attr.name_col = nt.col;
            a->end = p->prev.end;
            e = deepen(p, a);
        } else if (op.kind == BS_TOK_LPAREN) {
            if (e->kind == BS_EX_NUM || e->kind == BS_EX_STR || e->kind == BS_EX_BOOL ||
                e->kind == BS_EX_NONE || (e->paren && e->kind == BS_EX_BINARY))
                fail_tok(p, op, "only functions and methods can be called (is a '*' missing?)");
            advance(p);
            bs_expr *c = new_expr(p, BS_EX_CALL, &first);
            c->op_line = op.line;
            c->op_col = op.col;
            c->call.fn = e;
            parse_args(p, op, c);
            c->end = p->prev.end;
            e = deepen(p, c);
        } else if (op.kind == BS_TOK_LBRACKET) {
            advance(p);
            bs_expr *c = new_expr(p, BS_EX_SUBSCRIPT, &first);
            c->op_line = op.line;
            c->op_col = op.col;
            c->sub.obj = e;
            if (p->tok.kind == BS_TOK_RBRACKET) fail_tok(p, p->tok, "expected an index inside '[]'");
            bs_token ifirst = p->tok;
            bs_expr *ix = parse_index_item(p);
            if (p->tok.kind == BS_TOK_COMMA) {
                bs_expr *tu = new_expr(p, BS_EX_TUPLE, &ifirst);
                int cap = 0;
                tu->list.items = grow(p, tu->list.items, tu->list.n, &cap, sizeof(bs_expr *));
                tu->list.items[tu->list.n++] = ix;
                while (p->tok.kind == BS_TOK_COMMA) {
                    advance(p);
                    if (p->tok.kind == BS_TOK_RBRACKET) break;
                    bs_expr *it = parse_index_item(p);
                    tu->list.items = grow(p, tu->list.items, tu->list.n, &cap, sizeof(bs_expr *));
                    tu->list.items[tu->list.n++] = it;
                }
                tu->end = p->prev.end;
                ix = deepen(p, tu);
            }
            c->sub.index = ix;
            expect_close(p, op, "an index");
            c->end = p->prev.end;
            e = deepen(p, c);
        } else {
            return e;
        }
    }
}

/* power := primary ['**' factor] */
static bs_expr *parse_power(parser *p)
{
    bs_token first = p->tok;
    bs_expr *base = parse_primary(p);
    if (p->tok.kind != BS_TOK_POW) return base;
    bs_token op = p->tok;
    advance(p);
    bs_expr *ex = parse_factor(p);
    return new_binary(p, &first, &op, BS_BIN_POW, base, ex);
}

/* factor := ('-' | '+') factor | power */
static bs_expr *parse_factor(parser *p)
{
    if (++p->nesting > MAX_NESTING) fail_tok(p, p->tok, "expression nested too deeply");
    bs_expr *e;
    bs_token op = p->tok;
    if (op.kind == BS_TOK_MINUS || op.kind == BS_TOK_PLUS || at_bitop(p, '~')) {
        advance(p);
        bs_expr *operand = parse_factor(p);
        e = new_expr(p, BS_EX_UNARY, &op);
        e->unary.op = op.kind == BS_TOK_MINUS ? BS_UN_NEG : op.kind == BS_TOK_PLUS ? BS_UN_POS : BS_UN_INVERT;
        e->unary.operand = operand;
        e->end = p->prev.end;
        deepen(p, e);
    } else {
        e = parse_power(p);
    }
    p->nesting--;
    return e;
}

/* term := factor (('*' | '/' | '@' | '//' | '%') factor)* */
static bs_expr *parse_term(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_factor(p);
    for (;;) {
        bs_token op = p->tok;
        bs_binop b;
        if (op.kind == BS_TOK_STAR) b = BS_BIN_MUL;
        else if (op.kind == BS_TOK_SLASH) b = BS_BIN_DIV;
        else if (op.kind == BS_TOK_AT) b = BS_BIN_MATMUL;
        else if (op.kind == BS_TOK_FLOORDIV) b = BS_BIN_FLOORDIV;
        else if (op.kind == BS_TOK_PERCENT) b = BS_BIN_MOD;
        else return e;
        advance(p);
        bs_expr *rhs = parse_factor(p);
        e = new_binary(p, &first, &op, b, e, rhs);
    }
}

/* sum := term (('+' | '-') term)* */
static bs_expr *parse_sum(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_term(p);
    for (;;) {
        bs_token op = p->tok;
        bs_binop b;
        if (op.kind == BS_TOK_PLUS) b = BS_BIN_ADD;
        else if (op.kind == BS_TOK_MINUS) b = BS_BIN_SUB;
        else return e;
        advance(p);
        bs_expr *rhs = parse_term(p);
        e = new_binary(p, &first, &op, b, e, rhs);
    }
}

/* the comparison operator at the lookahead (consumed), or -1 */
static int cmp_op(parser *p)
{
    bs_token t = p->tok;
    if (t.kind == BS_TOK_CMP) {
        const char *s = p->src + t.start;
        int r = s[0] == '=' ? BS_CMP_EQ : s[0] == '!' ? BS_CMP_NE
              : s[0] == '<' ? (s[1] == '=' ? BS_CMP_LE : BS_CMP_LT) : (s[1] == '=' ? BS_CMP_GE : BS_CMP_GT);
        advance(p);
        return r;
    }
    if (tok_is_name(p, &t, "in")) { advance(p); return BS_CMP_IN; }
    if (tok_is_name(p, &t, "is")) {
        advance(p);
        if (tok_is_name(p, &p->tok, "not")) { advance(p); return BS_CMP_ISNOT; }
        return BS_CMP_IS;
    }
    if (tok_is_name(p, &t, "not")) {
        advance(p);
        if (!tok_is_name(p, &p->tok, "in")) unexpected(p, p->tok, "expected 'in' after 'not'");
        advance(p);
        return BS_CMP_NOTIN;
    }
    return -1;
}

/* is the lookahead the one-character operator c (& | ^ ~, which the lexer leaves to the parser)? */
static bool at_bitop(const parser *p, char c)
{
    return p->tok.kind == BS_TOK_BADOP && p->tok.end - p->tok.start == 1 && p->src[p->tok.start] == c;
}

/* bitand := sum ('&' sum)*    bitxor := bitand ('^' bitand)*    bitor := bitxor ('|' bitxor)* */
static bs_expr *parse_bitlevel(parser *p, int level)
{
    static const char ops[3] = {'&', '^', '|'};
    static const bs_binop bops[3] = {BS_BIN_BITAND, BS_BIN_BITXOR, BS_BIN_BITOR};
    bs_token first = p->tok;
    bs_expr *e = level == 0 ? parse_sum(p) : parse_bitlevel(p, level - 1);
    while (at_bitop(p, ops[level])) {
        bs_token op = p->tok;
        advance(p);
        bs_expr *r = level == 0 ? parse_sum(p) : parse_bitlevel(p, level - 1);
        e = new_binary(p, &first, &op, bops[level], e, r);
    }
    return e;
}

/* comparison := bitor (cmpop bitor)*      chained: a < b < c is (a < b) and (b < c) */
static bs_expr *parse_comparison(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_bitlevel(p, 2);
    bs_token op = p->tok;
    int o = cmp_op(p);
    if (o < 0) return e;
    bs_expr *c = new_expr(p, BS_EX_COMPARE, &first);
    c->op_line = op.line;
    c->op_col = op.col;
    int cap = 0, ocap = 0;
    c->cmp.items = grow(p, c->cmp.items, c->cmp.n, &cap, sizeof(bs_expr *));
    c->cmp.items[c->cmp.n++] = e;
    while (o >= 0) {
        c->cmp.ops = grow(p, c->cmp.ops, c->cmp.n - 1, &ocap, sizeof(bs_cmpop));
        c->cmp.ops[c->cmp.n - 1] = (bs_cmpop)o;
        bs_expr *r = parse_bitlevel(p, 2);
        c->cmp.items = grow(p, c->cmp.items, c->cmp.n, &cap, sizeof(bs_expr *));
        c->cmp.items[c->cmp.n++] = r;
        o = cmp_op(p);
    }
    c->end = p->prev.end;
    return deepen(p, c);
}

/* not_test := 'not' not_test | comparison */
static bs_expr *parse_not(parser *p)
{
    bs_token op = p->tok;
    if (!tok_is_name(p, &op, "not")) return parse_comparison(p);
    if (++p->nesting > MAX_NESTING) fail_tok(p, p->tok, "expression nested too deeply");
    advance(p);
    bs_expr *operand = parse_not(p);
    bs_expr *e = new_expr(p, BS_EX_UNARY, &op);
    e->unary.op = BS_UN_NOT;
    e->unary.operand = operand;
    e->end = p->prev.end;
    p->nesting--;
    return deepen(p, e);
}

/* and_test := not_test ('and' not_test)*     or_test := and_test ('or' and_test)* */
static bs_expr *parse_and(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_not(p);
    while (tok_is_name(p, &p->tok, "and")) {
        bs_token op = p->tok;
        advance(p);
        bs_expr *r = parse_not(p);
        e = new_binary(p, &first, &op, BS_BIN_AND, e, r);
    }
    return e;
}

static bs_expr *parse_or(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_and(p);
    while (tok_is_name(p, &p->tok, "or")) {
        bs_token op = p->tok;
        advance(p);
        bs_expr *r = parse_and(p);
        e = new_binary(p, &first, &op, BS_BIN_OR, e, r);
    }
    return e;
}

static bs_stmt *new_stmt(parser *p, bs_stmt_kind k, const bs_token *first);

/* lambda := 'lambda' [NAME ['=' expr] (',' NAME ['=' expr])*] ':' expr
   a DEF named "<lambda>" whose body is one RETURN of the expression */
static bs_expr *parse_lambda(parser *p)
{
    bs_token first = p->tok;
    advance(p);
    bs_expr *e = new_expr(p, BS_EX_LAMBDA, &first);
    bs_stmt *d = new_stmt(p, BS_ST_DEF, &first);
    d->def.name = "<lambda>";
    int cap = 0;
    bool seen_default = false;
    while (p->tok.kind != BS_TOK_COLON) {
        bs_token t = p->tok;
        if (t.kind == BS_TOK_STAR || t.kind == BS_TOK_POW) fail_tok(p, t, "*args and **kwargs are not supported");
        if (t.kind != BS_TOK_NAME || keyword_of(p, &t)) unexpected(p, t, "expected a parameter name or ':'");
        bs_param pa = {dup_text(p, t.start, t.end), NULL, t.line, t.col};
        for (int i = 0; i < d->def.nparams; i++)
            if (!strcmp(d->def.params[i].name, pa.name))
                fail_tok(p, t, "duplicate argument '%s' in function definition", pa.name);
        advance(p);
        if (p->tok.kind == BS_TOK_ASSIGN) {
            advance(p);
            pa.def = parse_expr(p);
            seen_default = true;
        } else if (seen_default) {
            fail_tok(p, t, "parameter without a default follows parameter with a default");
        }
        d->def.params = grow(p, d->def.params, d->def.nparams, &cap, sizeof(bs_param));
        d->def.params[d->def.nparams++] = pa;
        if (p->tok.kind != BS_TOK_COMMA) break;
        advance(p);
    }
    if (p->tok.kind != BS_TOK_COLON) unexpected(p, p->tok, "expected ':' after the lambda's parameters");
    advance(p);
    bs_token bt = p->tok;
    bs_stmt *r = new_stmt(p, BS_ST_RETURN, &bt);
    r->ret.value = parse_expr(p);
    r->end = p->prev.end;
    int bcap = 0;
    d->def.body.stmts = grow(p, d->def.body.stmts, 0, &bcap, sizeof(bs_stmt *));
    d->def.body.stmts[0] = r;
    d->def.body.n = 1;
    d->end = e->end = p->prev.end;
    e->lam.def = d;
    return deepen(p, e);
}

/* expr := or_test ['if' or_test 'else' expr] | lambda */
static bs_expr *parse_expr(parser *p)
{
    bs_token first = p->tok;
    if (tok_is_name(p, &first, "lambda")) return parse_lambda(p);
    bs_expr *e = parse_or(p);
    if (p->tok.kind == BS_TOK_BADOP) unexpected(p, p->tok, NULL);
    if (!tok_is_name(p, &p->tok, "if")) return e;
    bs_token op = p->tok;
    advance(p);
    bs_expr *c = new_expr(p, BS_EX_IFEXP, &first);
    c->op_line = op.line;
    c->op_col = op.col;
    c->ifexp.then = e;
    c->ifexp.cond = parse_or(p);
    if (!tok_is_name(p, &p->tok, "else")) unexpected(p, p->tok, "expected 'else' in 'a if cond else b'");
    advance(p);
    c->ifexp.orelse = parse_expr(p);
    c->end = p->prev.end;
    return deepen(p, c);
}

/* exprlist := expr (',' expr)* [',']    a tuple when there is a comma (return a, b) */
static bs_expr *parse_exprlist(parser *p)
{
    bs_token first = p->tok;
    bs_expr *e = parse_expr(p);
    if (p->tok.kind != BS_TOK_COMMA) return e;
    bs_expr *t = new_expr(p, BS_EX_TUPLE, &first);
    int cap = 0;
    t->list.items = grow(p, t->list.items, t->list.n, &cap, sizeof(bs_expr *));
    t->list.items[t->list.n++] = e;
    while (p->tok.kind == BS_TOK_COMMA) {
        advance(p);
        if (p->tok.kind == BS_TOK_NEWLINE || p->tok.kind == BS_TOK_EOF || p->tok.kind == BS_TOK_SEMI ||
            p->tok.kind == BS_TOK_ASSIGN)
            break;
        bs_expr *it = parse_expr(p);
        t->list.items = grow(p, t->list.items, t->list.n, &cap, sizeof(bs_expr *));
        t->list.items[t->list.n++] = it;
    }
    t->end = p->prev.end;
    return deepen(p, t);
}

/* ==== Statements ==== */

static bool at_stmt_end(const parser *p)
{
    return p->tok.kind == BS_TOK_NEWLINE || p->tok.kind == BS_TOK_SEMI || p->tok.kind == BS_TOK_EOF;
}

static bs_stmt *new_stmt(parser *p, bs_stmt_kind k, const bs_token *first)
{
    bs_stmt *s = alloc(p, sizeof *s);
    s->kind = k;
    s->line = first->line;
    s->col = first->col;
    s->start = first->start;
    s->end = first->end;
    return s;
}

/* Can e be assigned to? NAME, x.attr, x[i], or a tuple/list of those. NULL if so, else what it is. */
static const char *not_target(const bs_expr *e)
{
    if (e->kind == BS_EX_NAME || e->kind == BS_EX_ATTR || e->kind == BS_EX_SUBSCRIPT) return NULL;
    if ((e->kind == BS_EX_TUPLE || e->kind == BS_EX_LIST) && e->list.n > 0) {
        for (int i = 0; i < e->list.n; i++) {
            const char *w = not_target(e->list.items[i]);
            if (w) return w;
        }
        return NULL;
    }
    return e->kind == BS_EX_CALL ? "a function call"
         : e->kind == BS_EX_BOOL ? (e->boolean ? "True" : "False")
         : e->kind == BS_EX_NONE ? "None"
         : e->kind == BS_EX_NUM ? "a number"
         : e->kind == BS_EX_STR || e->kind == BS_EX_FSTRING ? "a string"
         : e->kind == BS_EX_COMPARE ? "a comparison"
         : "an expression (only names, attributes and items can be assigned)";
}

static void check_target(parser *p, const bs_expr *e)
{
    const char *what = not_target(e);
    if (what) fail_pos(p, e->line, e->col, e->start, "cannot assign to %s", what);
}

static bs_stmt *parse_stmt(parser *p, int ind);
static bs_stmt *parse_import(parser *p);
static bs_stmt *parse_command(parser *p);

/* simple := exprlist ['=' exprlist] | target augop expr | pass | break | continue | return [exprlist]
 *         | assert expr [',' expr] | import | command */
static bs_stmt *parse_simple(parser *p)
{
    bs_token first = p->tok;
    if (first.kind == BS_TOK_COLON) return parse_command(p);
    if (tok_is_name(p, &first, "import") || tok_is_name(p, &first, "from")) return parse_import(p);
    static const struct { const char *kw; bs_stmt_kind k; } bare[] = {
        {"pass", BS_ST_PASS}, {"break", BS_ST_BREAK}, {"continue", BS_ST_CONTINUE}};
    for (int i = 0; i < 3; i++)
        if (tok_is_name(p, &first, bare[i].kw)) {
            advance(p);
            bs_stmt *s = new_stmt(p, bare[i].k, &first);
            if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
            return s;
        }
    if (tok_is_name(p, &first, "return")) {
        advance(p);
        bs_stmt *s = new_stmt(p, BS_ST_RETURN, &first);
        if (!at_stmt_end(p)) s->ret.value = parse_exprlist(p);
        s->end = p->prev.end;
        if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
        return s;
    }
    if (tok_is_name(p, &first, "raise")) {
        advance(p);
        bs_stmt *s = new_stmt(p, BS_ST_RAISE, &first);
        if (!at_stmt_end(p)) s->raise.exc = parse_expr(p);
        if (tok_is_name(p, &p->tok, "from")) fail_tok(p, p->tok, "'raise ... from ...' is not supported");
        s->end = p->prev.end;
        if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
        return s;
    }
    if (tok_is_name(p, &first, "del")) {
        advance(p);
        bs_stmt *s = new_stmt(p, BS_ST_DEL, &first);
        s->del.target = parse_exprlist(p);
        const bs_expr *t = s->del.target;
        if (t->kind != BS_EX_NAME && t->kind != BS_EX_SUBSCRIPT)
            fail_pos(p, t->line, t->col, t->start, "del takes a name or an item (del d[key])");
        s->end = p->prev.end;
        if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
        return s;
    }
    if (tok_is_name(p, &first, "assert")) {
        advance(p);
        bs_stmt *s = new_stmt(p, BS_ST_ASSERT, &first);
        s->ifs.cond = parse_expr(p);
        if (p->tok.kind == BS_TOK_COMMA) {
            advance(p);
            s->ifs.msg = parse_expr(p);
        }
        s->end = p->prev.end;
        if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
        return s;
    }
    bs_expr *e = parse_exprlist(p);
    bs_stmt *s;
    if (p->tok.kind == BS_TOK_ASSIGN) {
        bs_token eq = p->tok;
        check_target(p, e);
        advance(p);
        bs_expr *v = parse_exprlist(p);
        if (p->tok.kind == BS_TOK_ASSIGN)
            fail_tok(p, p->tok, "chained assignment (a = b = ...) is not supported");
        s = new_stmt(p, BS_ST_ASSIGN, &first);
        s->assign.target = e;
        if (e->kind == BS_EX_NAME) { /* (x) = 1 is x = 1, as in Python */
            s->assign.name = e->name;
        } else if (e->kind == BS_EX_ATTR && e->attr.obj->kind == BS_EX_NAME) {
            s->assign.name = e->attr.obj->name;
            s->assign.attr = e->attr.name;
        }
        s->assign.value = v;
        s->assign.op_line = eq.line;
        s->assign.op_col = eq.col;
    } else if (p->tok.kind == BS_TOK_AUGASSIGN) {
        bs_token op = p->tok;
        if (e->kind == BS_EX_TUPLE || e->kind == BS_EX_LIST)
            fail_pos(p, e->line, e->col, e->start, "'tuple' is an illegal expression for augmented assignment");
        check_target(p, e);
        advance(p);
        s = new_stmt(p, BS_ST_AUGASSIGN, &first);
        s->aug.target = e;
        const char *o = p->src + op.start;
        int n = op.end - op.start;
        s->aug.op = o[0] == '+' ? BS_BIN_ADD : o[0] == '-' ? BS_BIN_SUB : o[0] == '@' ? BS_BIN_MATMUL
                  : o[0] == '%' ? BS_BIN_MOD : o[0] == '/' ? (n == 3 ? BS_BIN_FLOORDIV : BS_BIN_DIV)
                  : n == 3 ? BS_BIN_POW : BS_BIN_MUL;
        s->aug.op_line = op.line;
        s->aug.op_col = op.col;
        s->aug.value = parse_exprlist(p);
    } else {
        s = new_stmt(p, BS_ST_EXPR, &first);
        s->expr = e;
    }
    s->end = p->prev.end;
    if (!at_stmt_end(p)) {
        if (p->tok.kind == BS_TOK_COLON)
            unexpected(p, p->tok, NULL);
        if (p->tok.kind == BS_TOK_NAME || p->tok.kind == BS_TOK_NUMBER || p->tok.kind == BS_TOK_STRING ||
            p->tok.kind == BS_TOK_LPAREN || p->tok.kind == BS_TOK_LBRACKET)
            unexpected(p, p->tok, "is an operator or a ';' missing?");
        unexpected(p, p->tok, NULL);
    }
    return s;
}

static void push_to(parser *p, bs_block *b, int *cap, bs_stmt *s)
{
    b->stmts = grow(p, b->stmts, b->n, cap, sizeof(bs_stmt *));
    b->stmts[b->n++] = s;
}

/* statements at indentation `ind` until a line indented less, or the end */
static void parse_suite(parser *p, int ind, bs_block *b, int *cap)
{
    for (;;) {
        while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
        if (p->tok.kind == BS_TOK_SEMI) unexpected(p, p->tok, NULL); /* a line cannot start with ';' */
        if (p->tok.kind == BS_TOK_EOF || (ind >= 0 && p->tok.indent < ind)) return;
        if (ind >= 0 && p->tok.indent > ind)
            fail_tok(p, p->tok, p->dedented ? "unindent does not match any outer indentation level"
                                            : "unexpected indent");
        p->dedented = false;
        /* one line: a compound statement, or simple ones separated by ';' */
        for (;;) {
            /* at top level (ind < 0) any indentation starts a statement; its block is deeper */
            bs_stmt *s = parse_stmt(p, ind >= 0 ? ind : p->tok.indent);
            push_to(p, b, cap, s);
            if (p->tok.kind != BS_TOK_SEMI) break;
            while (p->tok.kind == BS_TOK_SEMI) advance(p);
            if (p->tok.kind == BS_TOK_NEWLINE || p->tok.kind == BS_TOK_EOF) break;
        }
        if (p->tok.kind == BS_TOK_EOF) return;
        if (p->tok.kind == BS_TOK_NEWLINE) advance(p);
        else if (!p->tok.bol) unexpected(p, p->tok, NULL);
    }
}

/* ':' then the simple statements on the same line, or an indented block on the next lines.
   `what` names the statement for the message when the block is missing. */
static void parse_block(parser *p, int ind, bs_block *b, const char *what, int hline)
{
    if (p->tok.kind != BS_TOK_COLON) {
        char hint[48];
        snprintf(hint, sizeof hint, "expected ':' after the %s", what);
        unexpected(p, p->tok, hint);
    }
    advance(p);
    int cap = 0;
    if (p->tok.kind != BS_TOK_NEWLINE && p->tok.kind != BS_TOK_EOF) {
        for (;;) {
            if (p->tok.kind == BS_TOK_SEMI) unexpected(p, p->tok, NULL);
            bs_stmt *s = parse_simple(p);
            push_to(p, b, &cap, s);
            if (p->tok.kind != BS_TOK_SEMI) break;
            advance(p);
            if (p->tok.kind == BS_TOK_NEWLINE || p->tok.kind == BS_TOK_EOF) break;
        }
        return;
    }
    while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
    if (p->tok.kind == BS_TOK_EOF || p->tok.indent <= ind)
        fail_tok(p, p->tok, "expected an indented block after the %s on line %d", what, hline);
    parse_suite(p, p->tok.indent, b, &cap);
    if (p->tok.kind != BS_TOK_EOF && p->tok.indent > ind)
        fail_tok(p, p->tok, "unindent does not match any outer indentation level");
    p->dedented = true;
}

static int stmt_end_of(const bs_block *b, int dflt)
{
    return b->n ? b->stmts[b->n - 1]->end : dflt;
}

/* if cond: block (elif cond: block)* [else: block] */
static bs_stmt *parse_if(parser *p, int ind)
{
    bs_token first = p->tok;
    advance(p);
    bs_stmt *s = new_stmt(p, BS_ST_IF, &first);
    s->ifs.cond = parse_expr(p);
    parse_block(p, ind, &s->ifs.body, "'if' statement", first.line);
    s->end = stmt_end_of(&s->ifs.body, p->prev.end);
    /* elif / else at the same indentation, after blank lines */
    while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
    if (p->tok.kind == BS_TOK_NAME && p->tok.indent == ind && p->tok.bol) {
        if (tok_is_name(p, &p->tok, "elif")) {
            bs_stmt *e = parse_if(p, ind);
            e->kind = BS_ST_IF;
            int cap = 0;
            push_to(p, &s->ifs.orelse, &cap, e);
            s->end = e->end;
        } else if (tok_is_name(p, &p->tok, "else")) {
            bs_token et = p->tok;
            advance(p);
            parse_block(p, ind, &s->ifs.orelse, "'else' statement", et.line);
            s->end = stmt_end_of(&s->ifs.orelse, p->prev.end);
        }
    }
    return s;
}

/* def name(params): block     params := [NAME ['=' expr] (',' NAME ['=' expr])*] */
static bs_stmt *parse_def(parser *p, int ind)
{
    bs_token first = p->tok;
    advance(p);
    if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok)) unexpected(p, p->tok, "expected a function name");
    bs_stmt *s = new_stmt(p, BS_ST_DEF, &first);
    s->def.name = dup_text(p, p->tok.start, p->tok.end);
    advance(p);
    if (p->tok.kind != BS_TOK_LPAREN) unexpected(p, p->tok, "expected '(' after the function name");
    bs_token open = p->tok;
    advance(p);
    int cap = 0;
    bool seen_default = false;
    bool seen_star = false, seen_dstar = false;
    while (p->tok.kind != BS_TOK_RPAREN) {
        bs_token t = p->tok;
        char star = 0;
        if (seen_dstar) fail_tok(p, t, "arguments cannot follow var-keyword argument");
        if (t.kind == BS_TOK_STAR || t.kind == BS_TOK_POW) { /* *args, **kwargs */
            star = t.kind == BS_TOK_STAR ? 1 : 2;
            if (star == 1 && seen_star) fail_tok(p, t, "* argument may appear only once");
            advance(p);
            t = p->tok;
            if (star == 1 && t.kind != BS_TOK_NAME)
                fail_tok(p, t, "a bare '*' (keyword-only parameters without *args) is not supported");
            if (star == 1) seen_star = true; else seen_dstar = true;
        }
        if (t.kind != BS_TOK_NAME || keyword_of(p, &t)) unexpected(p, t, "expected a parameter name");
        bs_param pa = {dup_text(p, t.start, t.end), NULL, t.line, t.col, star};
        for (int i = 0; i < s->def.nparams; i++)
            if (!strcmp(s->def.params[i].name, pa.name))
                fail_tok(p, t, "duplicate argument '%s' in function definition", pa.name);
        advance(p);
        if (p->tok.kind == BS_TOK_COLON)
            fail_tok(p, p->tok, "type annotations are not supported");
        if (p->tok.kind == BS_TOK_ASSIGN) {
            if (star) fail_tok(p, p->tok, star == 1 ? "var-positional argument cannot have default value"
                                                    : "var-keyword argument cannot have default value");
            advance(p);
            pa.def = parse_expr(p);
            seen_default = true;
        } else if (seen_default && !star && !seen_star) {
            fail_tok(p, t, "parameter without a default follows parameter with a default");
        }
        s->def.params = grow(p, s->def.params, s->def.nparams, &cap, sizeof(bs_param));
        s->def.params[s->def.nparams++] = pa;
        if (p->tok.kind != BS_TOK_COMMA) break;
        advance(p);
    }
    expect_close(p, open, "a parameter");
    if (p->tok.kind == BS_TOK_BADOP) fail_tok(p, p->tok, "return annotations (-> type) are not supported");
    parse_block(p, ind, &s->def.body, "function definition", first.line);
    s->end = stmt_end_of(&s->def.body, p->prev.end);
    return s;
}

/* class Name[(bases)]: block */
static bs_stmt *parse_class(parser *p, int ind)
{
    bs_token first = p->tok;
    advance(p);
    if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok)) unexpected(p, p->tok, "expected a class name");
    bs_stmt *s = new_stmt(p, BS_ST_CLASS, &first);
    s->cls.name = dup_text(p, p->tok.start, p->tok.end);
    advance(p);
    if (p->tok.kind == BS_TOK_LPAREN) {
        bs_token open = p->tok;
        advance(p);
        int cap = 0;
        while (p->tok.kind != BS_TOK_RPAREN) {
            bs_expr *b = parse_expr(p);
            s->cls.bases = grow(p, s->cls.bases, s->cls.nbases, &cap, sizeof(bs_expr *));
            s->cls.bases[s->cls.nbases++] = b;
            if (p->tok.kind != BS_TOK_COMMA) break;
            advance(p);
        }
        expect_close(p, open, "a base class");
    }
    parse_block(p, ind, &s->cls.body, "class definition", first.line);
    s->end = stmt_end_of(&s->cls.body, p->prev.end);
    return s;
}

/* with ['torch' '.'] 'no_grad' ['(' ')'] ':' block */
static bs_stmt *parse_with(parser *p, int ind)
{
    bs_token first = p->tok;
    advance(p);
    if (tok_is_name(p, &p->tok, "torch")) { /* with torch.no_grad(): as PyTorch writes it */
        advance(p);
        if (p->tok.kind != BS_TOK_DOT) unexpected(p, p->tok, "expected 'torch.no_grad()'");
        advance(p);
    }
    bs_token ctx = p->tok;
    if (!tok_is_name(p, &ctx, "no_grad"))
        fail_tok(p, ctx, "only 'with torch.no_grad():' (or 'with no_grad:') is supported");
    advance(p);
    if (p->tok.kind == BS_TOK_LPAREN) {
        bs_token o = p->tok;
        advance(p);
        if (p->tok.kind != BS_TOK_RPAREN) fail_tok(p, p->tok, "no_grad() takes no arguments");
        expect_close(p, o, "no_grad(");
    }
    if (p->tok.kind != BS_TOK_COLON) unexpected(p, p->tok, "expected ':' after 'with no_grad'");
    bs_stmt *s = new_stmt(p, BS_ST_WITH, &first);
    s->with.ctx = "no_grad";
    bs_block b = {0};
    parse_block(p, ind, &b, "'with' statement", first.line);
    s->with.body = b.stmts;
    s->with.n = b.n;
    s->end = stmt_end_of(&b, p->prev.end);
    return s;
}

/* decorator := '@' ('torch' '.')? 'no_grad' ['(' ')'] NEWLINE def    (the only decorator) */
static bs_stmt *parse_decorated(parser *p, int ind)
{
    bs_token at = p->tok;
    advance(p);
    if (tok_is_name(p, &p->tok, "torch")) {
        advance(p);
        if (p->tok.kind != BS_TOK_DOT) unexpected(p, p->tok, "expected @torch.no_grad()");
        advance(p);
    }
    if (!tok_is_name(p, &p->tok, "no_grad"))
        fail_tok(p, at, "decorators other than @torch.no_grad() are not supported");
    advance(p);
    if (p->tok.kind == BS_TOK_LPAREN) {
        bs_token o = p->tok;
        advance(p);
        expect_close(p, o, "no_grad(");
    }
    if (p->tok.kind != BS_TOK_NEWLINE) unexpected(p, p->tok, "a decorator stands on its own line");
    while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
    if (!tok_is_name(p, &p->tok, "def") || p->tok.indent != ind)
        fail_tok(p, p->tok, "expected a 'def' after @torch.no_grad()");
    bs_stmt *s = parse_def(p, ind);
    s->def.no_grad = true;
    s->start = at.start;
    s->line = at.line;
    s->col = at.col;
    return s;
}

/* try: block (except [expr ['as' NAME]]: block)* [else: block] [finally: block]
   (at least one except or a finally; else only after an except) */
static bs_stmt *parse_try(parser *p, int ind)
{
    bs_token first = p->tok;
    advance(p);
    bs_stmt *s = new_stmt(p, BS_ST_TRY, &first);
    parse_block(p, ind, &s->try_.body, "'try' statement", first.line);
    s->end = stmt_end_of(&s->try_.body, p->prev.end);
    int cap = 0;
    bool bare_seen = false;
    for (;;) {
        while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
        if (!(p->tok.kind == BS_TOK_NAME && p->tok.indent == ind && p->tok.bol)) break;
        bs_token kt = p->tok;
        if (tok_is_name(p, &kt, "except")) {
            if (s->try_.orelse.n || s->try_.final.n) unexpected(p, kt, NULL);
            if (bare_seen) fail_tok(p, kt, "default 'except:' must be last");
            advance(p);
            bs_handler h = {0};
            h.line = kt.line;
            h.col = kt.col;
            if (p->tok.kind != BS_TOK_COLON) {
                h.type = parse_expr(p);
                if (tok_is_name(p, &p->tok, "as")) {
                    advance(p);
                    if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok))
                        unexpected(p, p->tok, "expected a name after 'as'");
                    h.name = dup_text(p, p->tok.start, p->tok.end);
                    advance(p);
                } else if (p->tok.kind == BS_TOK_COMMA) {
                    fail_tok(p, p->tok, "multiple exception types must be parenthesized: except (A, B):");
                }
            } else {
                bare_seen = true;
            }
            parse_block(p, ind, &h.body, "'except' statement", kt.line);
            s->try_.handlers = grow(p, s->try_.handlers, s->try_.nh, &cap, sizeof(bs_handler));
            s->try_.handlers[s->try_.nh++] = h;
            s->end = stmt_end_of(&h.body, p->prev.end);
        } else if (tok_is_name(p, &kt, "else") && s->try_.nh && !s->try_.orelse.n && !s->try_.final.n) {
            advance(p);
            parse_block(p, ind, &s->try_.orelse, "'else' statement", kt.line);
            s->end = stmt_end_of(&s->try_.orelse, p->prev.end);
        } else if (tok_is_name(p, &kt, "finally") && !s->try_.final.n) {
            advance(p);
            parse_block(p, ind, &s->try_.final, "'finally' statement", kt.line);
            s->end = stmt_end_of(&s->try_.final, p->prev.end);
            break;
        } else {
            break;
        }
    }
    if (!s->try_.nh && !s->try_.final.n)
        fail_tok(p, p->tok, "expected 'except' or 'finally' block after the 'try' on line %d", first.line);
    return s;
}

/* stmt := if | for | while | def | class | with | try | decorated def | simple */
static bs_stmt *parse_stmt(parser *p, int ind)
{
    bs_token t = p->tok;
    if (t.kind == BS_TOK_AT && t.bol) return parse_decorated(p, ind);
    if (t.kind == BS_TOK_NAME) {
        if (tok_is_name(p, &t, "if")) return parse_if(p, ind);
        if (tok_is_name(p, &t, "while") || tok_is_name(p, &t, "for")) {
            bool is_for = p->src[t.start] == 'f';
            advance(p);
            bs_stmt *s = new_stmt(p, is_for ? BS_ST_FOR : BS_ST_WHILE, &t);
            if (is_for) {
                s->loop.target = parse_target(p);
                check_target(p, s->loop.target);
                if (!tok_is_name(p, &p->tok, "in")) unexpected(p, p->tok, "expected 'in' (for x in ...:)");
                advance(p);
                s->loop.cond = parse_exprlist(p);
            } else {
                s->loop.cond = parse_expr(p);
            }
            if (tok_is_name(p, &p->tok, "else") && p->tok.bol)
                fail_tok(p, p->tok, "'else' after a loop is not supported");
            parse_block(p, ind, &s->loop.body, is_for ? "'for' statement" : "'while' statement", t.line);
            s->end = stmt_end_of(&s->loop.body, p->prev.end);
            return s;
        }
        if (tok_is_name(p, &t, "def")) return parse_def(p, ind);
        if (tok_is_name(p, &t, "class")) return parse_class(p, ind);
        if (tok_is_name(p, &t, "with")) return parse_with(p, ind);
        if (tok_is_name(p, &t, "try")) return parse_try(p, ind);
        if (tok_is_name(p, &t, "except") || tok_is_name(p, &t, "finally"))
            fail_tok(p, t, "'%.*s' without a matching 'try' at the same indentation", t.end - t.start,
                     p->src + t.start);
        if (tok_is_name(p, &t, "elif") || tok_is_name(p, &t, "else"))
            fail_tok(p, t, "'%.*s' without a matching 'if' at the same indentation", t.end - t.start,
                     p->src + t.start);
    }
    return parse_simple(p);
}

/* Where a command's text ends: the first '\n', NUL, or ';' outside quotes, or a '#' that starts a
 * word outside quotes. Returns that offset, or -(offset of the quote)-1 for an unclosed quote. */
static int command_end(const char *src, int pos)
{
    char q = 0;
    int qpos = 0;
    for (int i = pos;; i++) {
        char c = src[i];
        if (c == '\0' || c == '\n') return q ? -qpos - 1 : i;
        if (q) {
            if (c == '\\' && q == '"' && (src[i + 1] == '"' || src[i + 1] == '\\')) i++;
            else if (c == q) q = 0;
            continue;
        }
        if (c == '\'' || c == '"') { q = c; qpos = i; continue; }
        if (c == ';') return i;
        if (c == '#' && (i == pos || src[i - 1] == ' ' || src[i - 1] == '\t')) return i;
    }
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Split src[start, end) into words (quotes group and are removed). */
static void split_words(parser *p, bs_stmt *s, int start, int end)
{
    const char *src = p->src;
    int cap = 0;
    char *buf = alloc(p, (size_t)(end - start) + 1);
    int i = start;
    for (;;) {
        while (i < end && is_blank(src[i])) i++;
        if (i >= end) break;
        int ws = i, k = 0;
        char q = 0;
        while (i < end && (q || !is_blank(src[i]))) {
            char c = src[i];
            if (q) {
                if (c == '\\' && q == '"' && i + 1 < end && (src[i + 1] == '"' || src[i + 1] == '\\')) {
                    buf[k++] = src[i + 1];
                    i += 2;
                    continue;
                }
                if (c == q) { q = 0; i++; continue; }
                buf[k++] = c;
                i++;
                continue;
            }
            if (c == '\'' || c == '"') { q = c; i++; continue; }
            buf[k++] = c;
            i++;
        }
        s->cmd.argv = grow(p, s->cmd.argv, s->cmd.argc, &cap, sizeof(bs_word));
        bs_word *w = &s->cmd.argv[s->cmd.argc++];
        w->text = bs_arena_strndup(p->a, buf, (size_t)k);
        if (!w->text) fail_nomem(p);
        w->start = ws;
        w->end = i;
        w->line = p->lx.line;
        w->col = ws - p->lx.line_start + 1;
    }
}

/* command := ':' NAME [blank rest]     (the lookahead is the ':' at the start of a statement) */
static bs_stmt *parse_command(parser *p)
{
    bs_token colon = p->tok;
    const char *src = p->src;
    int i = colon.end;
    int line_start = p->lx.line_start;
    if (!((src[i] >= 'a' && src[i] <= 'z') || (src[i] >= 'A' && src[i] <= 'Z') || src[i] == '_'))
        fail_pos(p, colon.line, i - line_start + 1, i, "expected a command name after ':' (try :help)");
    int ns = i;
    while ((src[i] >= 'a' && src[i] <= 'z') || (src[i] >= 'A' && src[i] <= 'Z') || src[i] == '_' ||
           (src[i] >= '0' && src[i] <= '9'))
        i++;
    int ne = i;
    int stop = command_end(src, i);
    if (stop < 0) {
        int q = -stop - 1;
        fail_pos(p, colon.line, q - line_start + 1, q, "unterminated string");
    }
    if (i < stop && !is_blank(src[i]) && src[i] != '\r')
        fail_pos(p, colon.line, i - line_start + 1, i, "expected a space after the command name ':%.*s'",
                 ne - ns, src + ns);
    while (i < stop && is_blank(src[i])) i++;
    int as = i, ae = stop;
    while (ae > as && is_blank(src[ae - 1])) ae--;

    bs_stmt *s = new_stmt(p, BS_ST_COMMAND, &colon);
    s->cmd.name = dup_text(p, ns, ne);
    s->cmd.args = dup_text(p, as, ae);
    s->cmd.args_start = as;
    s->cmd.args_end = ae;
    s->cmd.args_line = colon.line;
    s->cmd.args_col = as - line_start + 1;
    split_words(p, s, as, ae);
    s->end = ae > as ? ae : ne;

    /* go on lexing at the terminator (a ';', a newline, the end, or a comment) */
    p->lx.pos = stop;
    p->prev = colon;
    lex_into_lookahead(p);
    return s;
}

/* dotted := NAME ('.' NAME)*  as one arena string */
static const char *parse_dotted(parser *p)
{
    if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok)) unexpected(p, p->tok, "expected a module name");
    int start = p->tok.start;
    advance(p);
    while (p->tok.kind == BS_TOK_DOT) {
        advance(p);
        if (p->tok.kind != BS_TOK_NAME) unexpected(p, p->tok, "expected a name after '.'");
        advance(p);
    }
    /* the tokens are adjacent names and dots: copy them without blanks */
    const char *raw = dup_text(p, start, p->prev.end);
    char *d = (char *)raw;
    for (const char *c = raw; *c; c++)
        if (*c != ' ' && *c != '\t') *d++ = *c;
    *d = 0;
    return raw;
}

static const char *parse_alias(parser *p)
{
    if (!tok_is_name(p, &p->tok, "as")) return NULL;
    advance(p);
    if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok)) unexpected(p, p->tok, "expected a name after 'as'");
    const char *n = dup_text(p, p->tok.start, p->tok.end);
    advance(p);
    return n;
}

/* import := 'import' dotted ['as' NAME] (',' dotted ['as' NAME])*
 *         | 'from' dotted 'import' ('(' names ')' | names)   names := NAME ['as' NAME] (',' ...)* */
static bs_stmt *parse_import(parser *p)
{
    bs_token first = p->tok;
    bool from = tok_is_name(p, &first, "from");
    advance(p);
    bs_stmt *s = new_stmt(p, BS_ST_IMPORT, &first);
    int cap = 0;
    const char *module = NULL;
    bool paren = false;
    bs_token open = p->tok;
    if (from) {
        module = parse_dotted(p);
        if (!tok_is_name(p, &p->tok, "import")) unexpected(p, p->tok, "expected 'import'");
        advance(p);
        if (p->tok.kind == BS_TOK_LPAREN) {
            paren = true;
            open = p->tok;
            advance(p);
        }
    }
    for (;;) {
        bs_import it = {0};
        it.line = p->tok.line;
        it.col = p->tok.col;
        if (from) {
            if (p->tok.kind == BS_TOK_STAR) fail_tok(p, p->tok, "'from %s import *' is not supported: name what you import", module);
            if (p->tok.kind != BS_TOK_NAME || keyword_of(p, &p->tok)) unexpected(p, p->tok, "expected a name to import");
            it.module = module;
            it.name = dup_text(p, p->tok.start, p->tok.end);
            advance(p);
        } else {
            it.module = parse_dotted(p);
        }
        it.as = parse_alias(p);
        s->imp.items = grow(p, s->imp.items, s->imp.n, &cap, sizeof *s->imp.items);
        s->imp.items[s->imp.n++] = it;
        if (p->tok.kind != BS_TOK_COMMA) break;
        advance(p);
        if (paren && p->tok.kind == BS_TOK_RPAREN) break;
    }
    if (paren) expect_close(p, open, "(");
    s->end = p->prev.end;
    if (!at_stmt_end(p)) unexpected(p, p->tok, NULL);
    return s;
}

static void parser_init(parser *p, const char *src, int line0, bs_arena *a, bs_parse_error *e)
{
    memset(p, 0, offsetof(parser, open)); /* open[] is read only below nopen */
    p->src = src ? src : "";
    p->a = a;
    p->e = e;
    bs_lex_init(&p->lx, p->src, line0);
    if (e) {
        memset(e, 0, sizeof *e);
        e->status = BS_PARSE_OK;
    }
}

/* program := stmt ((NEWLINE | ';') stmt)* */
bs_ast *bs_parse(const char *src, int line0, bs_arena *a, bs_parse_error *e)
{
    bs_ast *ast = bs_arena_alloc(a, sizeof *ast);
    parser *volatile p = malloc(sizeof *p);
    if (!ast || !p) {
        free(p);
        if (e) {
            memset(e, 0, sizeof *e);
            e->status = BS_PARSE_NOMEM;
            e->line = line0;
            e->col = 1;
            snprintf(e->msg, sizeof e->msg, "out of memory while parsing");
        }
        return ast;
    }
    parser_init(p, src, line0, a, e);
    ast->src = p->src;
    ast->line0 = line0;
    if (setjmp(p->fail) == 0) {
        lex_into_lookahead(p);
        /* top level: a statement may start at any indentation, as the REPL always took it */
        parse_suite(p, -1, &p->top, &p->topcap);
        if (p->tok.kind != BS_TOK_EOF) unexpected(p, p->tok, NULL);
    }
    ast->stmts = p->top.stmts;
    ast->n = p->top.n;
    free(p);
    return ast;
}

bs_expr *bs_parse_expr(const char *src, int line0, bs_arena *a, bs_parse_error *e)
{
    parser *volatile p = malloc(sizeof *p);
    if (!p) {
        if (e) {
            memset(e, 0, sizeof *e);
            e->status = BS_PARSE_NOMEM;
            snprintf(e->msg, sizeof e->msg, "out of memory while parsing");
        }
        return NULL;
    }
    parser_init(p, src, line0, a, e);
    bs_expr *volatile result = NULL;
    if (setjmp(p->fail) == 0) {
        lex_into_lookahead(p);
        while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
        if (p->tok.kind == BS_TOK_EOF) fail_tok(p, p->tok, "expected an expression");
        bs_expr *x = parse_expr(p);
        while (p->tok.kind == BS_TOK_NEWLINE) advance(p);
        if (p->tok.kind == BS_TOK_ASSIGN) fail_tok(p, p->tok, "expected an expression, not an assignment");
        if (p->tok.kind != BS_TOK_EOF) unexpected(p, p->tok, NULL);
        result = x;
    }
    free(p);
    return result;
}

/* ==== AST helpers ==== */

const bs_arg *bs_call_kwarg(const bs_expr *call, const char *name)
{
    if (!call || call->kind != BS_EX_CALL) return NULL;
    for (int i = 0; i < call->call.nargs; i++)
        if (call->call.args[i].name && !strcmp(call->call.args[i].name, name)) return &call->call.args[i];
    return NULL;
}

int bs_call_npos(const bs_expr *call)
{
    if (!call || call->kind != BS_EX_CALL) return 0;
    int n = 0;
    while (n < call->call.nargs && !call->call.args[n].name) n++;
    return n;
}

const char *bs_binop_symbol(bs_binop op)
{
    switch (op) {
    case BS_BIN_ADD: return "+";
    case BS_BIN_SUB: return "-";
    case BS_BIN_MUL: return "*";
    case BS_BIN_DIV: return "/";
    case BS_BIN_POW: return "**";
    case BS_BIN_MATMUL: return "@";
    case BS_BIN_FLOORDIV: return "//";
    case BS_BIN_MOD: return "%";
    case BS_BIN_AND: return "and";
    case BS_BIN_OR: return "or";
    case BS_BIN_BITAND: return "&";
    case BS_BIN_BITOR: return "|";
    case BS_BIN_BITXOR: return "^";
    }
    return "?";
}

const char *bs_cmpop_symbol(bs_cmpop op)
{
    static const char *const sym[] = {"==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"};
    return (unsigned)op < sizeof sym / sizeof sym[0] ? sym[op] : "?";
}

/* ==== Incomplete input ==== */

/* unclosed's answer without the lexer for a line of names, numbers, operators and brackets only
   (no string, comment, '\\', ':' command, nor any byte the lexer might reject): as many closers as
   openers is complete (then either every bracket is closed, or a closer came with nothing open:
   the lexer says complete too); 1 when that holds, else 0 (ask the lexer) */
static int plain_complete(const char *src)
{
    /* per byte: 0 plain, +1 an opener, -1 a closer, STOP anything else (and the NUL) */
    enum { STOP = 64 };
    static signed char cls[256];
    static bool ready;
    if (!ready) {
        memset(cls, STOP, sizeof cls);
        for (int c = 'a'; c <= 'z'; c++) cls[c] = 0;
        for (int c = 'A'; c <= 'Z'; c++) cls[c] = 0;
        for (int c = '0'; c <= '9'; c++) cls[c] = 0;
        for (const char *o = " _.,=+-*/%<>;@!&|^~"; *o; o++) cls[(unsigned char)*o] = 0;
        cls['('] = cls['['] = cls['{'] = 1;
        cls[')'] = cls[']'] = cls['}'] = -1;
        ready = true;
    }
    int depth = 0;
    const unsigned char *c = (const unsigned char *)src;
    for (int k; (k = cls[*c]) != STOP; c++) depth += k;
    return !*c && depth == 0;
}

static bool unclosed(const char *src)
{
    if (!src) return false;
    if (plain_complete(src)) return false;
    size_t len = strlen(src);
    /* one final newline (the Enter that ended the line) does not count */
    if (len > 0 && src[len - 1] == '\n') len--;
    if (len > 0 && src[len - 1] == '\r') len--;

    bs_lexer lx;
    bs_lex_init(&lx, src, 1);
    int depth = 0;
    int last_end = 0;
    bool stmt_start = true;
    for (;;) {
        bs_token t = bs_lex_next(&lx);
        if (t.kind == BS_TOK_ERROR) return false;
        if (t.kind == BS_TOK_EOF || (size_t)t.start >= len) break;
        if (stmt_start && depth == 0 && t.kind == BS_TOK_COLON) {
            int stop = command_end(src, t.end);
            if (stop < 0) return false;
            lx.pos = stop;          /* a command is complete at its end */
            last_end = stop;
            stmt_start = false;
            continue;
        }
        stmt_start = t.kind == BS_TOK_NEWLINE || t.kind == BS_TOK_SEMI;
        if (is_opener(t.kind)) depth++;
        if (is_closer(t.kind)) {
            if (depth == 0) return false;
            depth--;
        }
        last_end = t.end;
    }
    /* as in Python, only an open bracket or a final '\' continue a line: a trailing operator
       is an error at once ("x = a **" then Enter), never a reason to swallow the next line */
    if (depth > 0) return true;
    /* a '\' at the end of the last line */
    for (size_t i = (size_t)last_end; i < len; i++) {
        char c = src[i];
        if (c == '#') {
            while (i < len && src[i] != '\n') i++;
            continue;
        }
        if (c == '\\') {
            size_t j = i + 1;
            while (j < len && is_blank(src[j])) j++;
            if (j >= len) return true;
        }
    }
    return false;
}

static bool first_word_is(const char *s, int n, const char *const *words)
{
    for (int i = 0; words[i]; i++) {
        size_t k = strlen(words[i]);
        if ((size_t)n == k && !memcmp(s, words[i], k)) return true;
    }
    return false;
}

bool bs_lang_block_open(const char *src)
{
    static const char *const heads[] = {"if", "for", "while", "def", "class", "elif", "else", NULL};
    if (!src) return false;
    /* most lines have no ':' and start with no compound keyword: no need to lex them */
    if (!strchr(src, ':') && !strchr(src, '@')) {
        bool head = false;
        for (const char *l = src; l && !head; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
            while (*l == ' ' || *l == '\t') l++;
            int n = 0;
            while (l[n] >= 'a' && l[n] <= 'z') n++;
            head = n && first_word_is(l, n, heads);
        }
        if (!head) return false;
    }
    bs_lexer lx;
    bs_lex_init(&lx, src, 1);
    bool line_start = true;
    bs_tok_kind last = BS_TOK_NEWLINE;
    for (;;) {
        bs_token t = bs_lex_next(&lx);
        if (t.kind == BS_TOK_ERROR) return false;
        if (t.kind == BS_TOK_EOF || t.kind == BS_TOK_NEWLINE) {
            if (last == BS_TOK_COLON) return true;
            if (t.kind == BS_TOK_EOF) return false;
            line_start = true;
            last = BS_TOK_NEWLINE;
            continue;
        }
        if (line_start && lx.depth == 0 && t.kind == BS_TOK_COLON) { /* a command: to its end */
            int stop = command_end(src, t.end);
            if (stop < 0) return false;
            lx.pos = stop;
            line_start = false;
            last = BS_TOK_NAME;
            continue;
        }
        if (line_start && t.kind == BS_TOK_NAME && first_word_is(src + t.start, t.end - t.start, heads))
            return true;
        if (line_start && t.kind == BS_TOK_AT) return true; /* a decorator: its def follows */
        line_start = false;
        last = lx.depth == 0 || t.kind == BS_TOK_RPAREN || t.kind == BS_TOK_RBRACKET ? t.kind : BS_TOK_COMMA;
    }
}

bool bs_lang_pending_decorator(const char *src)
{
    if (!src) return false;
    const char *end = src + strlen(src);
    while (end > src && (end[-1] == '\n' || is_blank(end[-1]) || end[-1] == '\r')) end--;
    const char *l = end;
    while (l > src && l[-1] != '\n') l--;
    while (l < end && is_blank(*l)) l++;
    return l < end && *l == '@';
}

bool bs_lang_continues_block(const char *line)
{
    static const char *const cont[] = {"elif", "else", "except", "finally", NULL};
    if (!line) return false;
    const char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (s != line) return false;
    int n = 0;
    while ((s[n] >= 'a' && s[n] <= 'z')) n++;
    return n && (s[n] == ':' || s[n] == ' ' || s[n] == '\t' || s[n] == '(') && first_word_is(s, n, cont);
}

/* the last line of src holds only blanks (the Enter on an empty line that ends a block at the
   prompt: lines are joined with '\n', so src then ends with "\n" and maybe blanks) */
static bool ends_with_blank_line(const char *src)
{
    size_t i = strlen(src);
    while (i > 0 && (is_blank(src[i - 1]) || src[i - 1] == '\r')) i--;
    return i > 0 && src[i - 1] == '\n';
}

bool bs_lang_unclosed(const char *src) { return unclosed(src); }

bool bs_lang_incomplete(const char *src)
{
    if (unclosed(src)) return true;
    return bs_lang_block_open(src) && !ends_with_blank_line(src);
}

/* ==== Label text ==== */

char *bs_ast_text(bs_arena *a, const char *src, int start, int end)
{
    if (!src || end < start) return bs_arena_strndup(a, "", 0);
    char *d = bs_arena_alloc(a, (size_t)(end - start) + 1);
    if (!d) return NULL;
    /* no quote, comment, join nor line break: the text is the span as typed */
    if (strcspn(src + start, "'\"#\\\n\r") >= (size_t)(end - start)) {
        memcpy(d, src + start, (size_t)(end - start));
        d[end - start] = '\0';
        return d;
    }
    size_t k = 0;
    char q = 0;
    for (int i = start; i < end; i++) {
        char c = src[i];
        if (q) {
            d[k++] = c;
            if (c == '\\' && i + 1 < end) d[k++] = src[++i];
            else if (c == q) q = 0;
            continue;
        }
        if (c == '\'' || c == '"') { q = c; d[k++] = c; continue; }
        bool comment = c == '#';
        if (comment || is_blank(c) || c == '\n' || c == '\\') {
            /* a run of blanks, comments, newlines and '\' joins */
            int j = i;
            bool nl = false;
            for (;;) {
                if (j >= end) break;
                char cj = src[j];
                if (cj == '#') { while (j < end && src[j] != '\n') j++; nl = true; continue; }
                if (cj == '\n') { nl = true; j++; continue; }
                if (cj == '\\' && j + 1 < end && (src[j + 1] == '\n' || src[j + 1] == '\r')) { nl = true; j++; continue; }
                if (is_blank(cj)) { j++; continue; }
                break;
            }
            if (j == i) { d[k++] = c; continue; }   /* a lone '\' (not a join) */
            if (!nl) {
                memcpy(d + k, src + i, (size_t)(j - i));
                k += (size_t)(j - i);
            } else if (k > 0 && j < end && d[k - 1] != '(' && d[k - 1] != '[' && src[j] != ')' && src[j] != ']') {
                d[k++] = ' ';
            }
            i = j - 1;
            continue;
        }
        d[k++] = c;
    }
    d[k] = '\0';
    return d;
}

/* ==== Dumps ==== */

typedef struct {
    char *buf;
    size_t len;     /* capacity of buf */
    size_t n;       /* bytes the full text needs (without NUL) */
} out;

static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = o->n < o->len ? o->buf + o->n : NULL;
    size_t room = o->n < o->len ? o->len - o->n : 0;
    int w = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (w > 0) o->n += (size_t)w;
}

static void dump_double(out *o, double v)
{
    char b[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    if (!strpbrk(b, ".eEni")) strcat(b, ".0");
    put(o, "%s", b);
}

static void dump_string(out *o, const char *s, size_t n)
{
    put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') put(o, "\\%c", c);
        else if (c == '\n') put(o, "\\n");
        else if (c == '\t') put(o, "\\t");
        else if (c < 0x20) put(o, "\\x%02x", c);
        else put(o, "%c", c);
    }
    put(o, "\"");
}

static void dump_expr(out *o, const bs_expr *e)
{
    if (!e) { put(o, "<null>"); return; }
    switch (e->kind) {
    case BS_EX_NUM:
        if (e->num.is_int) put(o, "%lld", (long long)e->num.ival);
        else dump_double(o, e->num.value);
        break;
    case BS_EX_STR: dump_string(o, e->str.s, e->str.len); break;
    case BS_EX_NAME: put(o, "%s", e->name); break;
    case BS_EX_BOOL: put(o, e->boolean ? "True" : "False"); break;
    case BS_EX_NONE: put(o, "None"); break;
    case BS_EX_SET:
        put(o, "(set");
        for (int i = 0; i < e->list.n; i++) {
            put(o, " ");
            dump_expr(o, e->list.items[i]);
        }
        put(o, ")");
        break;
    case BS_EX_LIST:
    case BS_EX_TUPLE:
        put(o, e->kind == BS_EX_LIST ? "[" : "(tuple");
        for (int i = 0; i < e->list.n; i++) {
            if (i > 0 || e->kind == BS_EX_TUPLE) put(o, " ");
            dump_expr(o, e->list.items[i]);
        }
        put(o, e->kind == BS_EX_LIST ? "]" : ")");
        break;
    case BS_EX_CALL:
        put(o, "(call ");
        dump_expr(o, e->call.fn);
        for (int i = 0; i < e->call.nargs; i++) {
            put(o, " ");
            if (e->call.args[i].name) put(o, "%s=", e->call.args[i].name);
            if (e->call.args[i].star) put(o, "%s", e->call.args[i].star == 1 ? "*" : "**");
            dump_expr(o, e->call.args[i].value);
        }
        put(o, ")");
        break;
    case BS_EX_ATTR:
        put(o, "(. ");
        dump_expr(o, e->attr.obj);
        put(o, " %s)", e->attr.name);
        break;
    case BS_EX_UNARY:
        put(o, "(%s ", e->unary.op == BS_UN_NEG ? "-" : e->unary.op == BS_UN_NOT ? "not"
                     : e->unary.op == BS_UN_INVERT ? "~" : "+");
        dump_expr(o, e->unary.operand);
        put(o, ")");
        break;
    case BS_EX_COMPARE:
        put(o, "(cmp ");
        for (int i = 0; i < e->cmp.n; i++) {
            if (i) put(o, " %s ", bs_cmpop_symbol(e->cmp.ops[i - 1]));
            dump_expr(o, e->cmp.items[i]);
        }
        put(o, ")");
        break;
    case BS_EX_IFEXP:
        put(o, "(if ");
        dump_expr(o, e->ifexp.cond);
        put(o, " ");
        dump_expr(o, e->ifexp.then);
        put(o, " ");
        dump_expr(o, e->ifexp.orelse);
        put(o, ")");
        break;
    case BS_EX_SUBSCRIPT:
        put(o, "([] ");
        dump_expr(o, e->sub.obj);
        put(o, " ");
        dump_expr(o, e->sub.index);
        put(o, ")");
        break;
    case BS_EX_SLICE:
        put(o, "(slice ");
        if (e->slice.lo) dump_expr(o, e->slice.lo); else put(o, "_");
        put(o, " ");
        if (e->slice.hi) dump_expr(o, e->slice.hi); else put(o, "_");
        put(o, " ");
        if (e->slice.step) dump_expr(o, e->slice.step); else put(o, "_");
        put(o, ")");
        break;
    case BS_EX_FSTRING:
        put(o, "(f");
        for (int i = 0; i < e->fstr.n; i++) {
            const bs_fpart *pt = &e->fstr.parts[i];
            put(o, " ");
            if (pt->lit) { dump_string(o, pt->lit, strlen(pt->lit)); continue; }
            put(o, "{");
            dump_expr(o, pt->expr);
            if (pt->conv) put(o, "!%c", pt->conv);
            if (pt->spec && *pt->spec) put(o, ":%s", pt->spec);
            put(o, "}");
        }
        put(o, ")");
        break;
    case BS_EX_DICT:
        put(o, "(dict");
        for (int i = 0; i < e->dict.n; i++) {
            put(o, " ");
            dump_expr(o, e->dict.keys[i]);
            put(o, ":");
            dump_expr(o, e->dict.vals[i]);
        }
        put(o, ")");
        break;
    case BS_EX_LAMBDA: {
        const bs_stmt *d = e->lam.def;
        put(o, "(lambda (");
        for (int i = 0; i < d->def.nparams; i++) {
            if (i) put(o, " ");
            put(o, "%s", d->def.params[i].name);
            if (d->def.params[i].def) {
                put(o, "=");
                dump_expr(o, d->def.params[i].def);
            }
        }
        put(o, ") ");
        dump_expr(o, d->def.body.stmts[0]->ret.value);
        put(o, ")");
        break;
    }
    case BS_EX_DICTCOMP:
    case BS_EX_LISTCOMP:
    case BS_EX_SETCOMP:
        put(o, e->kind == BS_EX_DICTCOMP ? "(dictcomp " : e->kind == BS_EX_SETCOMP ? "(setcomp "
               : e->comp.gen ? "(genexp " : "(listcomp ");
        if (e->comp.key) {
            dump_expr(o, e->comp.key);
            put(o, ":");
        }
        dump_expr(o, e->comp.elt);
        put(o, " ");
        dump_expr(o, e->comp.target);
        put(o, " ");
        dump_expr(o, e->comp.iter);
        if (e->comp.cond) {
            put(o, " if ");
            dump_expr(o, e->comp.cond);
        }
        put(o, ")");
        break;
    case BS_EX_BOOLOP:
    case BS_EX_BINARY:
        put(o, "(%s ", bs_binop_symbol(e->bin.op));
        dump_expr(o, e->bin.lhs);
        put(o, " ");
        dump_expr(o, e->bin.rhs);
        put(o, ")");
        break;
    }
}

static void dump_stmt(out *o, const bs_stmt *s);

static void dump_block(out *o, const char *head, const bs_block *b)
{
    put(o, " (%s", head);
    for (int i = 0; i < b->n; i++) {
        put(o, " ");
        dump_stmt(o, b->stmts[i]);
    }
    put(o, ")");
}

static void dump_stmt(out *o, const bs_stmt *s)
{
    switch (s->kind) {
    case BS_ST_EXPR: dump_expr(o, s->expr); break;
    case BS_ST_ASSIGN:
        put(o, "(= ");
        if (s->assign.name)
            put(o, "%s%s%s", s->assign.name, s->assign.attr ? "." : "", s->assign.attr ? s->assign.attr : "");
        else
            dump_expr(o, s->assign.target);
        put(o, " ");
        dump_expr(o, s->assign.value);
        put(o, ")");
        break;
    case BS_ST_AUGASSIGN:
        put(o, "(%s= ", bs_binop_symbol(s->aug.op));
        dump_expr(o, s->aug.target);
        put(o, " ");
        dump_expr(o, s->aug.value);
        put(o, ")");
        break;
    case BS_ST_IF:
        put(o, "(if ");
        dump_expr(o, s->ifs.cond);
        dump_block(o, "then", &s->ifs.body);
        if (s->ifs.orelse.n) dump_block(o, "else", &s->ifs.orelse);
        put(o, ")");
        break;
    case BS_ST_ASSERT:
        put(o, "(assert ");
        dump_expr(o, s->ifs.cond);
        if (s->ifs.msg) {
            put(o, " ");
            dump_expr(o, s->ifs.msg);
        }
        put(o, ")");
        break;
    case BS_ST_WHILE:
    case BS_ST_FOR:
        put(o, "(%s ", s->kind == BS_ST_FOR ? "for" : "while");
        if (s->kind == BS_ST_FOR) {
            dump_expr(o, s->loop.target);
            put(o, " in ");
        }
        dump_expr(o, s->loop.cond);
        dump_block(o, "do", &s->loop.body);
        put(o, ")");
        break;
    case BS_ST_DEF:
        put(o, "(def %s (", s->def.name);
        for (int i = 0; i < s->def.nparams; i++) {
            if (i) put(o, " ");
            put(o, "%s%s", s->def.params[i].star == 1 ? "*" : s->def.params[i].star == 2 ? "**" : "",
                s->def.params[i].name);
            if (s->def.params[i].def) {
                put(o, "=");
                dump_expr(o, s->def.params[i].def);
            }
        }
        put(o, ")");
        dump_block(o, "body", &s->def.body);
        put(o, ")");
        break;
    case BS_ST_CLASS:
        put(o, "(class %s (", s->cls.name);
        for (int i = 0; i < s->cls.nbases; i++) {
            if (i) put(o, " ");
            dump_expr(o, s->cls.bases[i]);
        }
        put(o, ")");
        dump_block(o, "body", &s->cls.body);
        put(o, ")");
        break;
    case BS_ST_RETURN:
        put(o, "(return");
        if (s->ret.value) {
            put(o, " ");
            dump_expr(o, s->ret.value);
        }
        put(o, ")");
        break;
    case BS_ST_TRY:
        put(o, "(try");
        dump_block(o, "body", &s->try_.body);
        for (int i = 0; i < s->try_.nh; i++) {
            const bs_handler *h = &s->try_.handlers[i];
            put(o, " (except ");
            if (h->type) dump_expr(o, h->type); else put(o, "_");
            if (h->name) put(o, " as %s", h->name);
            dump_block(o, "do", &h->body);
            put(o, ")");
        }
        if (s->try_.orelse.n) dump_block(o, "else", &s->try_.orelse);
        if (s->try_.final.n) dump_block(o, "finally", &s->try_.final);
        put(o, ")");
        break;
    case BS_ST_RAISE:
        put(o, "(raise");
        if (s->raise.exc) {
            put(o, " ");
            dump_expr(o, s->raise.exc);
        }
        put(o, ")");
        break;
    case BS_ST_DEL:
        put(o, "(del ");
        dump_expr(o, s->del.target);
        put(o, ")");
        break;
    case BS_ST_PASS: put(o, "pass"); break;
    case BS_ST_BREAK: put(o, "break"); break;
    case BS_ST_CONTINUE: put(o, "continue"); break;
    case BS_ST_WITH:
        put(o, "(with %s", s->with.ctx);
        for (int i = 0; i < s->with.n; i++) {
            put(o, " ");
            dump_stmt(o, s->with.body[i]);
        }
        put(o, ")");
        break;
    case BS_ST_IMPORT:
        put(o, "(import");
        for (int i = 0; i < s->imp.n; i++) {
            const bs_import *it = &s->imp.items[i];
            put(o, " %s%s%s%s%s", it->module, it->name ? ":" : "", it->name ? it->name : "",
                it->as ? " as " : "", it->as ? it->as : "");
        }
        put(o, ")");
        break;
    case BS_ST_COMMAND:
        put(o, "(:%s", s->cmd.name);
        for (int i = 0; i < s->cmd.argc; i++) {
            put(o, " ");
            dump_string(o, s->cmd.argv[i].text, strlen(s->cmd.argv[i].text));
        }
        put(o, ")");
        break;
    }
}

static int finish(out *o)
{
    if (o->len > 0) o->buf[o->n < o->len ? o->n : o->len - 1] = '\0';
    return (int)o->n;
}

int bs_expr_dump(const bs_expr *e, char *buf, size_t len)
{
    out o = {buf, len, 0};
    dump_expr(&o, e);
    return finish(&o);
}

int bs_stmt_dump(const bs_stmt *s, char *buf, size_t len)
{
    out o = {buf, len, 0};
    dump_stmt(&o, s);
    return finish(&o);
}

int bs_ast_dump(const bs_ast *ast, char *buf, size_t len)
{
    out o = {buf, len, 0};
    for (int i = 0; ast && i < ast->n; i++) {
        if (i) put(&o, "\n");
        dump_stmt(&o, ast->stmts[i]);
    }
    return finish(&o);
}
