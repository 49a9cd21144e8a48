/* tests/parse/test_parse.c: the language front end (repl/ast.h): trees and spans against Python's own
 * parser (python_ast.txt, made by gen_python_ast.py), then backstep's own statement forms, error
 * messages with their line:column, incomplete-input detection and label text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"

static const char *fixture_path = "python_ast.txt";
static bs_arena arena;

/* ==== Helpers ==== */

static int free_arena(void **state)
{
    (void)state;
    bs_arena_free(&arena);
    return 0;
}

static bs_ast *parse_ok(const char *src)
{
    bs_parse_error e;
    bs_ast *t = bs_parse(src, 1, &arena, &e);
    if (e.status != BS_PARSE_OK)
        fail_msg("parse of \"%s\" failed: %d:%d: error: %s", src, e.line, e.col, e.msg);
    assert_non_null(t);
    return t;
}

static const char *dump(const char *src)
{
    static char buf[16384];
    int n = bs_ast_dump(parse_ok(src), buf, sizeof buf);
    assert_true(n >= 0 && (size_t)n < sizeof buf);
    return buf;
}

#define ASSERT_DUMP(src, want) do { \
        const char *got_ = dump(src); \
        if (strcmp(got_, (want)) != 0) fail_msg("%s\n  got:  %s\n  want: %s", (src), got_, (want)); \
    } while (0)

/* 1-based line and byte column of offset `off` in src (the oracle for positions). */
static void pos_of(const char *src, int line0, int off, int *line, int *col)
{
    int l = line0, ls = 0;
    for (int i = 0; i < off; i++)
        if (src[i] == '\n') { l++; ls = i + 1; }
    *line = l;
    *col = off - ls + 1;
}

/* Offset of 1-based (line, col) in src. */
static int off_of(const char *src, int line0, int line, int col)
{
    int l = line0, i = 0;
    while (l < line && src[i]) {
        if (src[i] == '\n') l++;
        i++;
    }
    return i + col - 1;
}

/* ==== Span dumps in gen_python_ast.py's format, with position checks on the way ==== */

typedef struct {
    char buf[16384];
    size_t n;
    const char *src;
} sb;

static void sb_put(sb *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->buf + o->n, sizeof o->buf - o->n, fmt, ap);
    va_end(ap);
    assert_true(w >= 0 && o->n + (size_t)w < sizeof o->buf);
    o->n += (size_t)w;
}

static void sb_span(sb *o, int start, int end)
{
    int l0, c0, l1, c1;
    pos_of(o->src, 1, start, &l0, &c0);
    pos_of(o->src, 1, end, &l1, &c1);
    sb_put(o, "%d:%d-%d:%d", l0, c0, l1, c1);
}

static void sb_qstr(sb *o, const char *s, size_t n)
{
    sb_put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') sb_put(o, "\\%c", c);
        else if (c == '\n') sb_put(o, "\\n");
        else if (c == '\t') sb_put(o, "\\t");
        else if (c < 0x20) sb_put(o, "\\x%02x", c);
        else sb_put(o, "%c", c);
    }
    sb_put(o, "\"");
}

/* The source text at (line, col) starts with `want`. */
static void assert_text_at(const char *src, int line, int col, const char *want)
{
    int off = off_of(src, 1, line, col);
    if (strncmp(src + off, want, strlen(want)) != 0)
        fail_msg("in \"%s\": expected \"%s\" at %d:%d, found \"%.8s\"", src, want, line, col, src + off);
}

static void span_expr(sb *o, const bs_expr *e)
{
    int l, c;
    pos_of(o->src, 1, e->start, &l, &c);
    if (l != e->line || c != e->col)
        fail_msg("in \"%s\": node at offset %d says %d:%d, is %d:%d", o->src, e->start, e->line, e->col, l, c);
    static const char *const bin_names[] = {"add", "sub", "mul", "div", "pow", "matmul"};
    switch (e->kind) {
    case BS_EX_NUM:
        sb_put(o, e->num.is_int ? "(int " : "(float ");
        sb_span(o, e->start, e->end);
        if (e->num.is_int) sb_put(o, " %lld)", (long long)e->num.ival);
        else sb_put(o, " %.17g)", e->num.value);
        break;
    case BS_EX_STR:
        sb_put(o, "(str ");
        sb_span(o, e->start, e->end);
        sb_put(o, " ");
        sb_qstr(o, e->str.s, e->str.len);
        sb_put(o, ")");
        break;
    case BS_EX_NAME:
        sb_put(o, "(name ");
        sb_span(o, e->start, e->end);
        sb_put(o, " %s)", e->name);
        break;
    case BS_EX_BOOL:
        sb_put(o, "(bool ");
        sb_span(o, e->start, e->end);
        sb_put(o, " %s)", e->boolean ? "True" : "False");
        break;
    case BS_EX_NONE:
        sb_put(o, "(none ");
        sb_span(o, e->start, e->end);
        sb_put(o, ")");
        break;
    case BS_EX_LIST:
    case BS_EX_TUPLE:
        sb_put(o, e->kind == BS_EX_LIST ? "(list " : "(tuple ");
        sb_span(o, e->start, e->end);
        for (int i = 0; i < e->list.n; i++) {
            sb_put(o, " ");
            span_expr(o, e->list.items[i]);
        }
        sb_put(o, ")");
        break;
    case BS_EX_CALL:
        assert_text_at(o->src, e->op_line, e->op_col, "(");
        sb_put(o, "(call ");
        sb_span(o, e->start, e->end);
        sb_put(o, " ");
        span_expr(o, e->call.fn);
        for (int i = 0; i < e->call.nargs; i++) {
            const bs_arg *a = &e->call.args[i];
            pos_of(o->src, 1, a->start, &l, &c);
            assert_int_equal(l, a->line);
            assert_int_equal(c, a->col);
            if (a->name) {
                assert_text_at(o->src, a->line, a->col, a->name);
                sb_put(o, " (kw ");
                sb_span(o, a->start, a->end);
                sb_put(o, " %s ", a->name);
                span_expr(o, a->value);
                sb_put(o, ")");
            } else {
                sb_put(o, " ");
                span_expr(o, a->value);
            }
        }
        sb_put(o, ")");
        break;
    case BS_EX_ATTR:
        assert_text_at(o->src, e->op_line, e->op_col, ".");
        assert_text_at(o->src, e->attr.name_line, e->attr.name_col, e->attr.name);
        sb_put(o, "(attr ");
        sb_span(o, e->start, e->end);
        sb_put(o, " %s ", e->attr.name);
        span_expr(o, e->attr.obj);
        sb_put(o, ")");
        break;
    case BS_EX_UNARY:
        assert_text_at(o->src, e->op_line, e->op_col, e->unary.op == BS_UN_NEG ? "-" : "+");
        sb_put(o, e->unary.op == BS_UN_NEG ? "(neg " : "(pos ");
        sb_span(o, e->start, e->end);
        sb_put(o, " ");
        span_expr(o, e->unary.operand);
        sb_put(o, ")");
        break;
    case BS_EX_BINARY: {
        /* the operator position points at the operator, and not at a '**' when it is '*' */
        const char *sym = bs_binop_symbol(e->bin.op);
        assert_text_at(o->src, e->op_line, e->op_col, sym);
        if (e->bin.op == BS_BIN_MUL) {
            int off = off_of(o->src, 1, e->op_line, e->op_col);
            assert_int_not_equal(o->src[off + 1], '*');
        }
        sb_put(o, "(%s ", bin_names[e->bin.op]);
        sb_span(o, e->start, e->end);
        sb_put(o, " ");
        span_expr(o, e->bin.lhs);
        sb_put(o, " ");
        span_expr(o, e->bin.rhs);
        sb_put(o, ")");
        break;
    }
    }
}

static void span_stmt(sb *o, const bs_stmt *s)
{
    int l, c;
    pos_of(o->src, 1, s->start, &l, &c);
    assert_int_equal(l, s->line);
    assert_int_equal(c, s->col);
    switch (s->kind) {
    case BS_ST_ASSIGN:
        assert_text_at(o->src, s->assign.op_line, s->assign.op_col, "=");
        sb_put(o, "(assign ");
        sb_span(o, s->start, s->end);
        sb_put(o, " %s ", s->assign.name);
        span_expr(o, s->assign.value);
        sb_put(o, ")");
        break;
    case BS_ST_EXPR:
        sb_put(o, "(expr ");
        sb_span(o, s->start, s->end);
        sb_put(o, " ");
        span_expr(o, s->expr);
        sb_put(o, ")");
        break;
    default:
        fail_msg("unexpected statement kind %d in \"%s\"", s->kind, o->src);
    }
}

/* ==== Against Python's parser ==== */

static char *unescape(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    assert_non_null(d);
    size_t k = 0;
    for (; *s && *s != '\n'; s++) {
        if (*s == '\\' && s[1] == 'n') { d[k++] = '\n'; s++; }
        else if (*s == '\\' && s[1] == '\\') { d[k++] = '\\'; s++; }
        else d[k++] = *s;
    }
    d[k] = '\0';
    return d;
}

static void test_python_oracle(void **state)
{
    (void)state;
    FILE *f = fopen(fixture_path, "r");
    if (!f) fail_msg("cannot open the fixture %s", fixture_path);
    static char line[8192];
    char *src = NULL;
    int cases = 0, failures = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "src ", 4)) {
            free(src);
            src = unescape(line + 4);
            continue;
        }
        if (strncmp(line, "ast ", 4) != 0 || !src) continue;
        char *want = line + 4;
        want[strcspn(want, "\n")] = '\0';
        static sb o;
        memset(&o, 0, sizeof o);
        o.src = src;
        bs_ast *t = parse_ok(src);
        for (int i = 0; i < t->n; i++) {
            if (i) sb_put(&o, " | ");
            span_stmt(&o, t->stmts[i]);
        }
        cases++;
        if (strcmp(o.buf, want) != 0) {
            failures++;
            print_error("python oracle mismatch for \"%s\"\n  got:  %s\n  want: %s\n", src, o.buf, want);
        }
    }
    free(src);
    fclose(f);
    assert_int_equal(failures, 0);
    assert_true(cases >= 80);
}

/* ==== Expressions ==== */

static void test_precedence(void **state)
{
    (void)state;
    ASSERT_DUMP("-2**2", "(- (** 2 2))");
    ASSERT_DUMP("2**-1", "(** 2 (- 1))");
    ASSERT_DUMP("a - b - c", "(- (- a b) c)");
    ASSERT_DUMP("a @ b * c", "(* (@ a b) c)");
    ASSERT_DUMP("a * b @ c / d", "(/ (@ (* a b) c) d)");
    ASSERT_DUMP("2 ** 3 ** 2", "(** 2 (** 3 2))");
    ASSERT_DUMP("-x ** -y ** z", "(- (** x (- (** y z))))");
    ASSERT_DUMP("a + b * c ** d", "(+ a (* b (** c d)))");
    ASSERT_DUMP("(a + b) * c", "(* (+ a b) c)");
    ASSERT_DUMP("- - +x", "(- (- (+ x)))");
    ASSERT_DUMP("-x.T", "(- (. x T))");
    ASSERT_DUMP("x.T @ W.T", "(@ (. x T) (. W T))");
}

static void test_literals(void **state)
{
    (void)state;
    ASSERT_DUMP("2; 2.0; 1e-3; .5; 2.; 1E3", "2\n2.0\n0.001\n0.5\n2.0\n1000.0");
    ASSERT_DUMP("True; False; None", "True\nFalse\nNone");
    ASSERT_DUMP("[1, [2, 3]]", "[1 [2 3]]");
    ASSERT_DUMP("[[1.0, 0.5], [-0.2, 0.5],]", "[[1.0 0.5] [(- 0.2) 0.5]]");
    ASSERT_DUMP("[]", "[]");
    ASSERT_DUMP("(0.9, 0.999); (1,); ()", "(tuple 0.9 0.999)\n(tuple 1)\n(tuple)");
    ASSERT_DUMP("'a\\'b'; \"x\\ny\"; 'C:\\dir'", "\"a'b\"\n\"x\\ny\"\n\"C:\\\\dir\"");

    bs_parse_error e;
    bs_expr *x = bs_parse_expr("2", 1, &arena, &e);
    assert_non_null(x);
    assert_int_equal(x->kind, BS_EX_NUM);
    assert_true(x->num.is_int);
    assert_int_equal(x->num.ival, 2);
    x = bs_parse_expr("2.0", 1, &arena, &e);
    assert_false(x->num.is_int);
    assert_true(x->num.value == 2.0);
    x = bs_parse_expr("1e-3", 1, &arena, &e);
    assert_false(x->num.is_int);
    assert_true(x->num.value == 1e-3);
    /* integers are exact up to 2**53 (they are held as doubles); past it, an error */
    x = bs_parse_expr("9007199254740992", 1, &arena, &e);
    assert_true(x->num.is_int);
    assert_true(x->num.ival == 9007199254740992LL);
    x = bs_parse_expr("9007199254740993", 1, &arena, &e);
    assert_null(x);
    assert_int_equal(e.status, BS_PARSE_ERROR);
    x = bs_parse_expr("'a\\\"b'", 1, &arena, &e);
    assert_int_equal(x->kind, BS_EX_STR);
    assert_int_equal(x->str.len, 3);
    assert_string_equal(x->str.s, "a\"b");
}

static void test_calls(void **state)
{
    (void)state;
    ASSERT_DUMP("f(a, b, dim=-1, keepdim=True)", "(call f a b dim=(- 1) keepdim=True)");
    ASSERT_DUMP("L.backward(retain_graph=True)", "(call (. L backward) retain_graph=True)");
    ASSERT_DUMP("adam(lr=1e-3, betas=(0.9, 0.999))", "(call adam lr=0.001 betas=(tuple 0.9 0.999))");
    ASSERT_DUMP("sum(x, dim=0).item()", "(call (. (call sum x dim=0) item))");
    ASSERT_DUMP("zero_grad()", "(call zero_grad)");
    ASSERT_DUMP("f(a,)", "(call f a)");

    bs_parse_error e;
    bs_expr *c = bs_parse_expr("softmax(x, 1, dim=-1, keepdim=True)", 1, &arena, &e);
    assert_non_null(c);
    assert_int_equal(bs_call_npos(c), 2);
    const bs_arg *d = bs_call_kwarg(c, "dim");
    assert_non_null(d);
    assert_int_equal(d->col, 15);
    assert_int_equal(d->end - d->start, 6);        /* "dim=-1" */
    assert_null(bs_call_kwarg(c, "axis"));
    assert_non_null(bs_call_kwarg(c, "keepdim"));
    assert_int_equal(bs_call_npos(c->call.args[0].value), 0);   /* not a call */
}

/* ==== Statements ==== */

static void test_statements(void **state)
{
    (void)state;
    ASSERT_DUMP("x = 1", "(= x 1)");
    ASSERT_DUMP("x", "x");
    ASSERT_DUMP("x1 = 1.0; x2 = 0.5; y = 1.0", "(= x1 1.0)\n(= x2 0.5)\n(= y 1.0)");
    ASSERT_DUMP("a = 1;", "(= a 1)");
    ASSERT_DUMP("a = 1;; b = 2", "(= a 1)\n(= b 2)");
    ASSERT_DUMP("# a comment\n\n  x = 2   # trailing\n\n", "(= x 2)");
    ASSERT_DUMP("\tx = 1\n  y", "(= x 1)\ny");
    ASSERT_DUMP("", "");
    ASSERT_DUMP("   \n# nothing\n", "");
    ASSERT_DUMP("a = 1\r\nb = 2\r\n", "(= a 1)\n(= b 2)");
    /* a statement spans lines inside brackets, and after a '\' */
    ASSERT_DUMP("w = param([[0.3, 0.7],\n           [-0.2, 0.5]])  # W\nz = w @ x",
                "(= w (call param [[0.3 0.7] [(- 0.2) 0.5]]))\n(= z (@ w x))");
    ASSERT_DUMP("y = f(a,   # first\n      # between\n      b)", "(= y (call f a b))");
    ASSERT_DUMP("x = 1 + \\\n    2", "(= x (+ 1 2))");
    /* dicts, comprehensions, generator expressions, lambdas */
    ASSERT_DUMP("d = {'a': 1, 2: [x]}", "(= d (dict \"a\":1 2:[x]))");
    ASSERT_DUMP("d = {}", "(= d (dict))");
    ASSERT_DUMP("d = {\n  'lr': 0.1,\n}", "(= d (dict \"lr\":0.1))");
    ASSERT_DUMP("{k: v * 2 for k, v in d.items() if v}",
                "(dictcomp k:(* v 2) (tuple k v) (call (. d items)) if v)");
    ASSERT_DUMP("sum(p.numel() for p in ps)", "(call sum (genexp (call (. p numel)) p ps))");
    ASSERT_DUMP("(x for x in y)", "(genexp x x y)");
    ASSERT_DUMP("f = lambda x, k=2: x * k", "(= f (lambda (x k=2) (* x k)))");
    ASSERT_DUMP("f = lambda: 0", "(= f (lambda () 0))");
    ASSERT_DUMP("sorted(a, key=lambda t: t[1])", "(call sorted a key=(lambda (t) ([] t 1)))");
    ASSERT_DUMP("g = lambda x: x if x > 0 else -x", "(= g (lambda (x) (if (cmp x > 0) x (- x))))");
    /* try, raise, del */
    ASSERT_DUMP("try:\n    x = 1\nexcept ValueError as e:\n    print(e)\nexcept (A, B):\n    pass\n"
                "except:\n    raise\nelse:\n    y\nfinally:\n    z",
                "(try (body (= x 1)) (except ValueError as e (do (call print e))) (except (tuple A B) (do pass))"
                " (except _ (do (raise))) (else y) (finally z))");
    ASSERT_DUMP("try: x\nfinally: y", "(try (body x) (finally y))");
    ASSERT_DUMP("raise ValueError('bad')", "(raise (call ValueError \"bad\"))");
    ASSERT_DUMP("del d['k']", "(del ([] d \"k\"))");
    /* & | ^ ~ bind as Python's: below comparisons' operands, above 'not' */
    ASSERT_DUMP("(x > 0) & (x < 1) | ~m ^ n", "(| (& (cmp x > 0) (cmp x < 1)) (^ (~ m) n))");
    ASSERT_DUMP("a | b == c & d", "(cmp (| a b) == (& c d))");
    ASSERT_DUMP("not a & b + 1", "(not (& a (+ b 1)))");

    /* statement spans and positions */
    const char *src = "a = 1 ;  b = f(2)  # c\n  c";
    bs_ast *t = parse_ok(src);
    assert_int_equal(t->n, 3);
    assert_ptr_equal(t->src, src);
    assert_int_equal(t->stmts[0]->kind, BS_ST_ASSIGN);
    assert_int_equal(t->stmts[0]->start, 0);
    assert_int_equal(t->stmts[0]->end, 5);
    assert_int_equal(t->stmts[1]->col, 10);
    assert_string_equal(bs_ast_text(&arena, src, t->stmts[1]->start, t->stmts[1]->end), "b = f(2)");
    assert_int_equal(t->stmts[1]->assign.op_col, 12);
    assert_int_equal(t->stmts[2]->kind, BS_ST_EXPR);
    assert_int_equal(t->stmts[2]->line, 2);
    assert_int_equal(t->stmts[2]->col, 3);
}

static void test_with(void **state)
{
    (void)state;
    ASSERT_DUMP("with no_grad: w = w - 0.1 * g", "(with no_grad (= w (- w (* 0.1 g))))");
    ASSERT_DUMP("with no_grad: a = 1; b = a * 2", "(with no_grad (= a 1) (= b (* a 2)))");
    ASSERT_DUMP("with no_grad(): x", "(with no_grad x)");
    ASSERT_DUMP("with torch.no_grad(): x", "(with no_grad x)");
    ASSERT_DUMP("import torch", "(import torch)");
    ASSERT_DUMP("w.grad = None", "(= w.grad None)");
    ASSERT_DUMP("import torch.nn.functional as F, torch . nn", "(import torch.nn.functional as F torch.nn)");
    ASSERT_DUMP("from torch import nn, optim as o", "(import torch:nn torch:optim as o)");
    ASSERT_DUMP("from torch.nn import (functional as F,)\nx", "(import torch.nn:functional as F)\nx");
    ASSERT_DUMP("with no_grad: a = 1;\nb = 2", "(with no_grad (= a 1))\n(= b 2)");
    ASSERT_DUMP("x = 1; with no_grad: y = 2  # c\nz = 3", "(= x 1)\n(with no_grad (= y 2))\n(= z 3)");
    const char *src = "with no_grad: a = 1; b = 2 # c";
    bs_ast *t = parse_ok(src);
    assert_int_equal(t->n, 1);
    bs_stmt *w = t->stmts[0];
    assert_int_equal(w->kind, BS_ST_WITH);
    assert_string_equal(w->with.ctx, "no_grad");
    assert_int_equal(w->with.n, 2);
    assert_int_equal(w->with.body[1]->col, 22);
    assert_string_equal(bs_ast_text(&arena, src, w->start, w->end), "with no_grad: a = 1; b = 2");
}

static void test_commands(void **state)
{
    (void)state;
    ASSERT_DUMP(":vars", "(:vars)");
    ASSERT_DUMP(":step L", "(:step \"L\")");
    ASSERT_DUMP(":run gpu N=65536 dtype=f32 steps=3", "(:run \"gpu\" \"N=65536\" \"dtype=f32\" \"steps=3\")");
    ASSERT_DUMP(":step L; :next 3", "(:step \"L\")\n(:next \"3\")");
    ASSERT_DUMP("x = 1; :graph --ascii\ny = 2", "(= x 1)\n(:graph \"--ascii\")\n(= y 2)");
    ASSERT_DUMP(":export 'a;b.svg' x  # a comment", "(:export \"a;b.svg\" \"x\")");
    ASSERT_DUMP(":export a#b.svg", "(:export \"a#b.svg\")");
    ASSERT_DUMP(":save \"say \\\"hi\\\".bs\"", "(:save \"say \\\"hi\\\".bs\")");
    ASSERT_DUMP(":load FILE=\"my dir\"/x.bs", "(:load \"FILE=my dir/x.bs\")");

    const char *src = "  :export \"my file.svg\" x --grads   # hi\n:quit";
    bs_ast *t = parse_ok(src);
    assert_int_equal(t->n, 2);
    bs_stmt *s = t->stmts[0];
    assert_int_equal(s->kind, BS_ST_COMMAND);
    assert_int_equal(s->line, 1);
    assert_int_equal(s->col, 3);
    assert_string_equal(s->cmd.name, "export");
    assert_string_equal(s->cmd.args, "\"my file.svg\" x --grads");
    assert_int_equal(s->cmd.args_col, 11);
    assert_int_equal(s->cmd.argc, 3);
    assert_string_equal(s->cmd.argv[0].text, "my file.svg");
    assert_int_equal(s->cmd.argv[0].col, 11);
    assert_int_equal(s->cmd.argv[0].end - s->cmd.argv[0].start, 13);
    assert_string_equal(s->cmd.argv[1].text, "x");
    assert_int_equal(s->cmd.argv[1].col, 25);
    assert_string_equal(s->cmd.argv[2].text, "--grads");
    assert_int_equal(s->cmd.argv[2].line, 1);
    assert_int_equal(s->cmd.argv[2].col, 27);
    assert_string_equal(bs_ast_text(&arena, src, s->start, s->end), ":export \"my file.svg\" x --grads");
    s = t->stmts[1];
    assert_string_equal(s->cmd.name, "quit");
    assert_string_equal(s->cmd.args, "");
    assert_int_equal(s->cmd.argc, 0);
    assert_int_equal(s->line, 2);
    assert_int_equal(s->cmd.args_line, 2);
    assert_int_equal(s->cmd.args_col, 6);
}

/* ==== Positions and label text ==== */

static void test_positions(void **state)
{
    (void)state;
    const char *src = "z1 = w11 * x1 + w12 * x2 + b1";
    bs_ast *t = parse_ok(src);
    bs_stmt *s = t->stmts[0];
    assert_int_equal(s->assign.op_col, 4);
    bs_expr *v = s->assign.value;
    assert_int_equal(v->col, 6);
    assert_int_equal(v->op_col, 26);
    assert_int_equal(v->bin.lhs->op_col, 15);
    assert_int_equal(v->bin.lhs->bin.lhs->op_col, 10);
    assert_int_equal(v->bin.lhs->bin.rhs->op_col, 21);
    assert_string_equal(bs_ast_text(&arena, src, v->start, v->end), "w11 * x1 + w12 * x2 + b1");

    src = "x = (a + b) * c";
    v = parse_ok(src)->stmts[0]->assign.value;
    assert_int_equal(v->col, 5);
    assert_true(v->bin.lhs->paren);
    assert_int_equal(v->bin.lhs->col, 6);
    assert_string_equal(bs_ast_text(&arena, src, v->start, v->end), "(a + b) * c");
    assert_string_equal(bs_ast_text(&arena, src, v->bin.lhs->start, v->bin.lhs->end), "a + b");

    src = "L.backward(retain_graph=True)";
    v = parse_ok(src)->stmts[0]->expr;
    assert_int_equal(v->kind, BS_EX_CALL);
    assert_int_equal(v->op_col, 11);
    assert_int_equal(v->call.fn->op_col, 2);
    assert_int_equal(v->call.fn->attr.name_col, 3);
    assert_int_equal(v->call.args[0].col, 12);
    assert_int_equal(v->call.args[0].value->col, 25);

    /* lines count from line0 */
    bs_parse_error e;
    t = bs_parse("a = 1\n\nb =   a", 41, &arena, &e);
    assert_int_equal(e.status, BS_PARSE_OK);
    assert_int_equal(t->line0, 41);
    assert_int_equal(t->stmts[1]->line, 43);
    assert_int_equal(t->stmts[1]->assign.value->line, 43);
    assert_int_equal(t->stmts[1]->assign.value->col, 7);
}

static void test_label_text(void **state)
{
    (void)state;
    const char *src = "y = f(a,   # first\n      b) + \\\n  c";
    bs_expr *v = parse_ok(src)->stmts[0]->assign.value;
    assert_string_equal(bs_ast_text(&arena, src, v->start, v->end), "f(a, b) + c");
    src = "v = [\n  [1, 2],\n  [3, 4],\n]";
    v = parse_ok(src)->stmts[0]->assign.value;
    assert_string_equal(bs_ast_text(&arena, src, v->start, v->end), "[[1, 2], [3, 4],]");
    src = "s = 'a  #  b'  +  t";
    v = parse_ok(src)->stmts[0]->assign.value;
    assert_string_equal(bs_ast_text(&arena, src, v->start, v->end), "'a  #  b'  +  t");
}

/* ==== Errors ==== */

typedef struct {
    const char *src;
    int line, col;
    const char *msg;
} err_case;

static const err_case err_cases[] = {
    {"x = f(1))", 1, 9, "unexpected ')'"},
    {"x = 1 +", 1, 8, "expected an expression after '+'"},
    {"x = 2 * )", 1, 9, "expected an expression after '*'"},
    {"a = 1\nb = 2 **\nc = 3", 2, 9, "expected an expression after '**'"},
    {"x =", 1, 4, "expected an expression after '='"},
    {"-", 1, 2, "expected an expression after '-'"},
    {"x = \"abc", 1, 5, "unterminated string"},
    {"y = 'abc\n'", 1, 5, "unterminated string"},
    {"y = 2 $ 3", 1, 7, "unexpected character '$'"},
    {"x = 3 \xe2\x88\x92 1", 1, 7, "unexpected character '\xe2\x88\x92' (U+2212); did you mean '-'?"},
    {"s = '\xc3\xa9' + ?", 1, 12, "unexpected character '?'"},
    {"z = f(1,\n  2", 1, 6, "'(' was never closed"},
    {"z = [1, [2, 3]", 1, 5, "'[' was never closed"},
    {"z = f(1\nq = 2", 1, 6, "'(' was never closed"},
    {"x = a.b(", 1, 8, "'(' was never closed"},
    {"[1, 2)", 1, 6, "closing ')' does not match opening '[' at 1:1"},
    {"x[]", 1, 3, "expected an index inside '[]'"},
    {"y = x[0, 1", 1, 6, "'[' was never closed"},
    {"a ==", 1, 5, "expected an expression after '=='"},
    {"a < b > ", 1, 9, "expected an expression after '>'"},
    {"from torch import *", 1, 19, "'from torch import *' is not supported: name what you import"},
    {"import", 1, 7, "unexpected end of input; expected a module name"},
    {"from torch.nn import", 1, 21, "unexpected end of input; expected a name to import"},
    {"x = import", 1, 5, "'import' must start a statement (import torch.nn.functional as F)"},
    {"try: x", 1, 7, "expected 'except' or 'finally' block after the 'try' on line 1"},
    {"global x", 1, 1, "'global' is a Python keyword that backstep does not support"},
    {"try:\n    x\nelse:\n    y", 3, 1, "expected 'except' or 'finally' block after the 'try' on line 1"},
    {"try:\n    x\nexcept:\n    y\nexcept ValueError:\n    z", 5, 1, "default 'except:' must be last"},
    {"try:\n    x\nexcept A, B:\n    y", 3, 9, "multiple exception types must be parenthesized: except (A, B):"},
    {"except ValueError: x", 1, 1, "'except' without a matching 'try' at the same indentation"},
    {"finally: x", 1, 1, "'finally' without a matching 'try' at the same indentation"},
    {"raise ValueError('x') from e", 1, 23, "'raise ... from ...' is not supported"},
    {"del f(x)", 1, 5, "del takes a name or an item (del d[key])"},
    {"f = lambda x y: x", 1, 14, "unexpected name 'y'; expected ':' after the lambda's parameters"},
    {"f = lambda x, x: x", 1, 15, "duplicate argument 'x' in function definition"},
    {"f = lambda: ", 1, 13, "unexpected end of input; expected an expression"},
    {"x = {1, 2", 1, 5, "'{' was never closed"},
    {"x = {1, 2: 3}", 1, 10, "unexpected ':'; expected ',' or '}' after a set item"},
    {"x = {1: 2, 3}", 1, 13, "unexpected '}'; expected ':' after a dict key"},
    {"x = {'a': 1", 1, 5, "'{' was never closed"},
    {"f(a, x for x in y)", 1, 8, "Generator expression must be parenthesized"},
    {"a, b -= 1", 1, 1, "'tuple' is an illegal expression for augmented assignment"},
    {"for i x: y", 1, 7, "unexpected name 'x'; expected 'in' (for x in ...:)"},
    {"x + 1 = 2", 1, 1, "cannot assign to an expression (only names, attributes and items can be assigned)"},
    {"f(x) = 2", 1, 1, "cannot assign to a function call"},
    {"None = 2", 1, 1, "cannot assign to None"},
    {"x = y = 1", 1, 7, "chained assignment (a = b = ...) is not supported"},
    {"f(x=1, 2)", 1, 8, "positional argument follows keyword argument"},
    {"f(dim=1, dim=2)", 1, 10, "keyword argument repeated: 'dim'"},
    {"f(2=1)", 1, 4, "a keyword argument needs a plain name before '=' (name=value)"},
    {"f(a b)", 1, 5, "unexpected name 'b'; expected ',' or ')' after an argument"},
    {"x = 1 2", 1, 7, "unexpected number '2'; is an operator or a ';' missing?"},
    {"2x + 1", 1, 1, "invalid number literal '2x'"},
    {"x = 1e", 1, 5, "invalid number literal '1e'"},
    {"n = 99999999999999999999", 1, 5, "integer literal too large: past 2**53, where backstep's numbers stop being exact"},
    {"with torch.enable_grad(): x", 1, 12, "only 'with torch.no_grad():' (or 'with no_grad:') is supported"},
    {"with no_grad:", 1, 14, "expected an indented block after the 'with' statement on line 1"},
    {"if x:\n    y = 1\n  z = 2", 3, 3, "unindent does not match any outer indentation level"},
    {"with no_grad x = 1", 1, 14, "unexpected name 'x'; expected ':' after 'with no_grad'"},
    {"y = with", 1, 5, "'with' must start a statement: with torch.no_grad():"},
    {"if x:\n    y = 1\n      z = 2", 3, 7, "unexpected indent"},
    {"def f(x):\nreturn x", 2, 1, "expected an indented block after the function definition on line 1"},
    {"else: x = 1", 1, 1, "'else' without a matching 'if' at the same indentation"},
    {"@property\ndef f(): pass", 1, 1, "decorators other than @torch.no_grad() are not supported"},
    {"@torch.no_grad()\nx = 1", 2, 1, "expected a 'def' after @torch.no_grad()"},
    {": help", 1, 2, "expected a command name after ':' (try :help)"},
    {":help(x)", 1, 6, "expected a space after the command name ':help'"},
    {":export 'abc", 1, 9, "unterminated string"},
    {"x = {1 for y in z for w in v}", 1, 19, "a comprehension with several 'for' clauses is not supported"},
    {"a << b", 1, 3, "operator '<<' is not supported"},
    {"a &= b", 1, 3, "operator '&=' is not supported"},
    {"a & ", 1, 5, "unexpected end of input; expected an expression"},
    {"x.", 1, 3, "expected an attribute name after '.'"},
    {"f = lambda *a: a", 1, 12, "*args and **kwargs are not supported"},
    {"def f(*a, *b): pass", 1, 11, "* argument may appear only once"},
    {"def f(**k, x): pass", 1, 12, "arguments cannot follow var-keyword argument"},
    {"def f(*, a): pass", 1, 8, "a bare '*' (keyword-only parameters without *args) is not supported"},
    {"def f(*a=1): pass", 1, 9, "var-positional argument cannot have default value"},
    {"f(**d, *a)", 1, 8, "iterable argument unpacking follows keyword argument unpacking"},
    {"f(**d, a)", 1, 8, "positional argument follows keyword argument unpacking"},
    {"2(3)", 1, 2, "only functions and methods can be called (is a '*' missing?)"},
    {"b'x'", 1, 1, "bytes literals like b'...' are not supported"},
    {"f'x{y'", 1, 1, "f-string: expecting '}'"},
    {"f'x{}'", 1, 5, "f-string: empty expression not allowed"},
    {"x = a \\ b", 1, 7, "unexpected character '\\'"},
    {"x: int = 3", 1, 2, "unexpected ':'"},
    {"a = 1\nb = )", 2, 5, "expected an expression after '='"},
    {"x = (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
     "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
     "(((((((((((((((((((((((((((((1", 1, 205, "expression nested too deeply"},
};

static void test_errors(void **state)
{
    (void)state;
    size_t n = sizeof err_cases / sizeof err_cases[0];
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        const err_case *c = &err_cases[i];
        bs_parse_error e;
        memset(&e, 0x55, sizeof e);
        bs_ast *t = bs_parse(c->src, 1, &arena, &e);
        assert_non_null(t);
        if (e.status != BS_PARSE_ERROR || e.line != c->line || e.col != c->col || strcmp(e.msg, c->msg) != 0)
            fail_msg("for \"%s\"\n  got:  %d:%d: error: %s (status %d)\n  want: %d:%d: error: %s", c->src,
                     e.line, e.col, e.msg, e.status, c->line, c->col, c->msg);
        int l, col;
        pos_of(c->src, 1, e.offset, &l, &col);
        assert_int_equal(l, e.line);
        assert_int_equal(col, e.col);
    }
}

/* Statements before the error come back; the failing one does not. */
static void test_partial(void **state)
{
    (void)state;
    bs_parse_error e;
    bs_ast *t = bs_parse("a = 1; b = 2\nc = )\nd = 4", 1, &arena, &e);
    assert_int_equal(e.status, BS_PARSE_ERROR);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.col, 5);
    assert_int_equal(t->n, 2);
    char buf[256];
    bs_ast_dump(t, buf, sizeof buf);
    assert_string_equal(buf, "(= a 1)\n(= b 2)");

    /* e may be NULL */
    t = bs_parse("a = (", 1, &arena, NULL);
    assert_non_null(t);
    assert_int_equal(t->n, 0);
}

static void test_parse_expr(void **state)
{
    (void)state;
    bs_parse_error e;
    char buf[256];
    bs_expr *x = bs_parse_expr("\n  w.grad.item()  # c\n", 1, &arena, &e);
    assert_non_null(x);
    bs_expr_dump(x, buf, sizeof buf);
    assert_string_equal(buf, "(call (. (. w grad) item))");
    assert_int_equal(x->line, 2);
    assert_null(bs_parse_expr("x = 1", 1, &arena, &e));
    assert_string_equal(e.msg, "expected an expression, not an assignment");
    assert_null(bs_parse_expr("", 1, &arena, &e));
    assert_string_equal(e.msg, "expected an expression");
    assert_null(bs_parse_expr("a; b", 1, &arena, &e));
    assert_int_equal(e.col, 2);
    assert_string_equal(e.msg, "unexpected ';'");
}

/* ==== Incomplete input ==== */

static void test_incomplete(void **state)
{
    (void)state;
    static const struct { const char *src; bool incomplete; } cases[] = {
        {"x = f(1,", true}, {"x = f(1, 2", true}, {"w = param([[0.3, 0.7],", true},
        {"w = param([[0.3, 0.7],\n  [-0.2, 0.5]]", true}, {"w = param([[0.3, 0.7],\n  [-0.2, 0.5]])", false},
        /* a trailing operator does not continue (Python: SyntaxError); brackets and '\' do */
        {"x = 1 +", false}, {"x = 1 +  ", false}, {"x = 1 + # more below", false}, {"x = a @", false},
        {"x = a **", false}, {"x = a *", false}, {"x = a /", false}, {"x = a -", false},
        {"x = 1 +\n", false}, {"x = (1 +\n", true}, {"f(1,\n\n", true},
        {"x = 1,", false}, {"x = 1 \\", true}, {"x = 1 \\\n", true},
        {"x = 1", false}, {"", false}, {"# only a comment", false}, {"x = 'a", false},
        {"x = 1)", false}, {"]", false}, {"x = 1; y = (", true}, {"x = (1 +\n 2)", false},
        {"x = f(')'", true}, {"x = f('(')", false},
        {":export a,", false}, {":graph (", false}, {"x = 1; :help +", false}, {":step L\nx = (", true},
        {"with no_grad: w = w -", false}, {"x = 1 # +", false}, {"x = $", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (bs_lang_incomplete(cases[i].src) != cases[i].incomplete)
            fail_msg("bs_lang_incomplete(\"%s\") should be %s", cases[i].src, cases[i].incomplete ? "true" : "false");
    assert_false(bs_lang_incomplete(NULL));
}

/* ==== Lexer, limits, dumps ==== */

static void test_lexer(void **state)
{
    (void)state;
    bs_lexer lx;
    bs_lex_init(&lx, "x **= (1,\n 2) # c\n@ y", 1);
    bs_tok_kind want[] = {BS_TOK_NAME, BS_TOK_AUGASSIGN, BS_TOK_LPAREN, BS_TOK_NUMBER, BS_TOK_COMMA,
                          BS_TOK_NUMBER, BS_TOK_RPAREN, BS_TOK_NEWLINE, BS_TOK_AT, BS_TOK_NAME, BS_TOK_EOF};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        bs_token t = bs_lex_next(&lx);
        assert_int_equal(t.kind, want[i]);
        if (i == 5) {   /* the 2 on the second line */
            assert_int_equal(t.line, 2);
            assert_int_equal(t.col, 2);
            assert_true(t.is_int);
        }
    }
    bs_lex_init(&lx, "a # b", 1);
    bs_lex_next(&lx);
    assert_int_equal(bs_lex_next(&lx).kind, BS_TOK_EOF);
    bs_lex_init(&lx, "\x01", 1);
    assert_int_equal(bs_lex_next(&lx).kind, BS_TOK_ERROR);
    assert_string_equal(lx.err, "unexpected control character (byte 0x01)");
    assert_string_equal(bs_tok_kind_name(BS_TOK_RPAREN), "')'");
}

static void test_limits(void **state)
{
    (void)state;
    /* a long list grows its arrays; long unary chains and deep nesting fail cleanly */
    size_t n = 5000;
    char *src = malloc(n * 3 + 8);
    assert_non_null(src);
    size_t k = 0;
    src[k++] = '[';
    for (size_t i = 0; i < n; i++) { src[k++] = '1'; src[k++] = ','; src[k++] = ' '; }
    src[k++] = ']';
    src[k] = '\0';
    bs_ast *t = parse_ok(src);
    assert_int_equal(t->stmts[0]->expr->list.n, (int)n);
    memset(src, '-', n);
    strcpy(src + n, "1");
    bs_parse_error e;
    bs_parse(src, 1, &arena, &e);
    assert_int_equal(e.status, BS_PARSE_ERROR);
    assert_string_equal(e.msg, "expression nested too deeply");
    memset(src, '[', n);
    strcpy(src + n, "1");
    bs_parse(src, 1, &arena, &e);
    assert_int_equal(e.status, BS_PARSE_ERROR);
    assert_false(bs_lang_incomplete(src) == false);
    free(src);
    /* left-associative chains count too: BS_MAX_DEPTH operators parse, one more does not,
       and the error points at the operator that went past the limit */
    src = malloc(4 * BS_MAX_DEPTH + 16);
    assert_non_null(src);
    k = 0;
    src[k++] = '1';
    for (int i = 0; i < BS_MAX_DEPTH - 1; i++) { src[k++] = '+'; src[k++] = '1'; }
    src[k] = '\0';
    t = parse_ok(src);
    assert_int_equal(t->stmts[0]->expr->depth, BS_MAX_DEPTH - 1);
    strcpy(src + k, "+1+1");
    bs_parse(src, 1, &arena, &e);
    assert_int_equal(e.status, BS_PARSE_ERROR);
    assert_non_null(strstr(e.msg, "expression too deep"));
    assert_int_equal(e.col, 2 * (BS_MAX_DEPTH + 1));
    free(src);
    assert_true(arena.total > 0);
}

static void test_dump_truncation(void **state)
{
    (void)state;
    bs_ast *t = parse_ok("x = f(a, b) + 1");
    char small[8];
    int need = bs_ast_dump(t, small, sizeof small);
    assert_int_equal(need, (int)strlen("(= x (+ (call f a b) 1))"));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(bs_ast_dump(t, NULL, 0), need);
}

int main(int argc, char **argv)
{
    if (argc > 1) fixture_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_python_oracle, free_arena),
        cmocka_unit_test_teardown(test_precedence, free_arena),
        cmocka_unit_test_teardown(test_literals, free_arena),
        cmocka_unit_test_teardown(test_calls, free_arena),
        cmocka_unit_test_teardown(test_statements, free_arena),
        cmocka_unit_test_teardown(test_with, free_arena),
        cmocka_unit_test_teardown(test_commands, free_arena),
        cmocka_unit_test_teardown(test_positions, free_arena),
        cmocka_unit_test_teardown(test_label_text, free_arena),
        cmocka_unit_test_teardown(test_errors, free_arena),
        cmocka_unit_test_teardown(test_partial, free_arena),
        cmocka_unit_test_teardown(test_parse_expr, free_arena),
        cmocka_unit_test_teardown(test_incomplete, free_arena),
        cmocka_unit_test_teardown(test_lexer, free_arena),
        cmocka_unit_test_teardown(test_limits, free_arena),
        cmocka_unit_test_teardown(test_dump_truncation, free_arena),
    };
    return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
