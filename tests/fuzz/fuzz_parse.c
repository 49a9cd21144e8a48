/* tests/fuzz/fuzz_parse.c: libFuzzer target for the language front end (repl/lex.c, repl/parse.c).
 *
 * Each input is a whole script: it is lexed token by token, parsed as a program and as a single
 * expression, asked whether it is incomplete, and its AST is dumped and walked. Besides the
 * sanitizers, the walk checks what repl/ast.h promises: spans inside the source and ordered,
 * positions 1-based, an error with a message and a position inside the source. Every parse's
 * arena is freed (LeakSanitizer checks that nothing else was allocated). */
#include "fuzz_util.h"

#include "ast.h"

#define MAX_LEN 16384 /* bytes: longer inputs are not run (the evaluator's cap is lower) */

static size_t g_len;

static void check_span(int start, int end)
{
    FUZZ_CHECK(start >= 0 && start <= end && (size_t)end <= g_len);
}

static void check_pos(int line, int col)
{
    FUZZ_CHECK(line >= 1 && col >= 1);
}

static void walk_stmt(bs_arena *a, const char *src, const bs_stmt *st);
static bs_arena *g_arena; /* the parse being walked: a lambda's DEF is walked as a statement */
static const char *g_src;

static void walk_expr(const bs_expr *e)
{
    FUZZ_CHECK(e != NULL);
    check_span(e->start, e->end);
    check_pos(e->line, e->col);
    switch (e->kind) {
    case BS_EX_STR:
        FUZZ_CHECK(e->str.s != NULL && e->str.s[e->str.len] == '\0');
        break;
    case BS_EX_NAME:
        FUZZ_CHECK(e->name != NULL && e->name[0] != '\0');
        break;
    case BS_EX_LIST:
    case BS_EX_TUPLE:
        FUZZ_CHECK(e->list.n >= 0);
        for (int i = 0; i < e->list.n; i++)
            walk_expr(e->list.items[i]);
        break;
    case BS_EX_CALL: {
        walk_expr(e->call.fn);
        bool kw = false;
        for (int i = 0; i < e->call.nargs; i++) {
            const bs_arg *a = &e->call.args[i];
            /* no positional after a keyword (f(x, dim=1, *xs) is Python: its star is one) */
            FUZZ_CHECK(!(kw && !a->name && !a->star));
            kw = kw || a->name;
            check_span(a->start, a->end);
            walk_expr(a->value);
        }
        FUZZ_CHECK(bs_call_npos(e) >= 0 && bs_call_npos(e) <= e->call.nargs);
        break;
    }
    case BS_EX_ATTR:
        walk_expr(e->attr.obj);
        FUZZ_CHECK(e->attr.name != NULL);
        break;
    case BS_EX_UNARY:
        walk_expr(e->unary.operand);
        break;
    case BS_EX_BINARY:
    case BS_EX_BOOLOP:
        walk_expr(e->bin.lhs);
        walk_expr(e->bin.rhs);
        FUZZ_CHECK(bs_binop_symbol(e->bin.op) != NULL);
        FUZZ_CHECK((e->kind == BS_EX_BOOLOP) == (e->bin.op == BS_BIN_AND || e->bin.op == BS_BIN_OR));
        break;
    case BS_EX_COMPARE:
        FUZZ_CHECK(e->cmp.n >= 2);
        for (int i = 0; i < e->cmp.n; i++) walk_expr(e->cmp.items[i]);
        for (int i = 0; i + 1 < e->cmp.n; i++) FUZZ_CHECK(strcmp(bs_cmpop_symbol(e->cmp.ops[i]), "?"));
        break;
    case BS_EX_IFEXP:
        walk_expr(e->ifexp.cond);
        walk_expr(e->ifexp.then);
        walk_expr(e->ifexp.orelse);
        break;
    case BS_EX_SUBSCRIPT:
        walk_expr(e->sub.obj);
        walk_expr(e->sub.index);
        break;
    case BS_EX_SLICE:
        if (e->slice.lo) walk_expr(e->slice.lo);
        if (e->slice.hi) walk_expr(e->slice.hi);
        if (e->slice.step) walk_expr(e->slice.step);
        break;
    case BS_EX_FSTRING:
        for (int i = 0; i < e->fstr.n; i++) {
            const bs_fpart *p = &e->fstr.parts[i];
            FUZZ_CHECK((p->lit != NULL) != (p->expr != NULL));
            if (p->expr) {
                walk_expr(p->expr);
                FUZZ_CHECK(p->spec != NULL);
            }
        }
        break;
    case BS_EX_LISTCOMP:
    case BS_EX_DICTCOMP:
        FUZZ_CHECK((e->kind == BS_EX_DICTCOMP) == (e->comp.key != NULL));
        FUZZ_CHECK(!(e->kind == BS_EX_DICTCOMP && e->comp.gen));
        if (e->comp.key) walk_expr(e->comp.key);
        walk_expr(e->comp.elt);
        walk_expr(e->comp.target);
        walk_expr(e->comp.iter);
        if (e->comp.cond) walk_expr(e->comp.cond);
        break;
    case BS_EX_DICT:
        FUZZ_CHECK(e->dict.n >= 0);
        for (int i = 0; i < e->dict.n; i++) {
            walk_expr(e->dict.keys[i]);
            walk_expr(e->dict.vals[i]);
        }
        break;
    case BS_EX_LAMBDA: {
        /* a DEF named <lambda> whose body is one return of the expression, inside the lambda */
        const bs_stmt *d = e->lam.def;
        FUZZ_CHECK(d != NULL && d->kind == BS_ST_DEF && !strcmp(d->def.name, "<lambda>"));
        FUZZ_CHECK(d->def.body.n == 1 && d->def.body.stmts[0]->kind == BS_ST_RETURN &&
                   d->def.body.stmts[0]->ret.value != NULL);
        FUZZ_CHECK(d->start >= e->start && d->end <= e->end);
        walk_stmt(g_arena, g_src, d);
        break;
    }
    default:
        break;
    }
}

static void walk_stmt(bs_arena *a, const char *src, const bs_stmt *st);

static void walk_block(bs_arena *a, const char *src, const bs_block *b, bool nonempty)
{
    FUZZ_CHECK(b->n >= (nonempty ? 1 : 0));
    for (int i = 0; i < b->n; i++) walk_stmt(a, src, b->stmts[i]);
}

static void walk_stmt(bs_arena *a, const char *src, const bs_stmt *st)
{
    FUZZ_CHECK(st != NULL);
    check_span(st->start, st->end);
    check_pos(st->line, st->col);
    FUZZ_CHECK(bs_ast_text(a, src, st->start, st->end) != NULL);
    switch (st->kind) {
    case BS_ST_EXPR:
        walk_expr(st->expr);
        break;
    case BS_ST_ASSIGN:
        walk_expr(st->assign.target);
        FUZZ_CHECK(st->assign.target->kind != BS_EX_NAME || st->assign.name != NULL);
        walk_expr(st->assign.value);
        FUZZ_CHECK(bs_ast_text(a, src, st->assign.value->start, st->assign.value->end) != NULL);
        break;
    case BS_ST_AUGASSIGN:
        walk_expr(st->aug.target);
        walk_expr(st->aug.value);
        break;
    case BS_ST_WITH: {
        bs_block b = {st->with.body, st->with.n};
        walk_block(a, src, &b, true);
        break;
    }
    case BS_ST_IF:
    case BS_ST_ASSERT:
        walk_expr(st->ifs.cond);
        if (st->kind == BS_ST_IF) {
            walk_block(a, src, &st->ifs.body, true);
            walk_block(a, src, &st->ifs.orelse, false);
        } else if (st->ifs.msg) {
            walk_expr(st->ifs.msg);
        }
        break;
    case BS_ST_FOR:
    case BS_ST_WHILE:
        if (st->kind == BS_ST_FOR) walk_expr(st->loop.target);
        walk_expr(st->loop.cond);
        walk_block(a, src, &st->loop.body, true);
        break;
    case BS_ST_DEF:
        FUZZ_CHECK(st->def.name != NULL && st->def.nparams >= 0);
        for (int i = 0; i < st->def.nparams; i++) {
            FUZZ_CHECK(st->def.params[i].name != NULL);
            if (st->def.params[i].def) walk_expr(st->def.params[i].def);
        }
        walk_block(a, src, &st->def.body, true);
        break;
    case BS_ST_CLASS:
        FUZZ_CHECK(st->cls.name != NULL);
        for (int i = 0; i < st->cls.nbases; i++) walk_expr(st->cls.bases[i]);
        walk_block(a, src, &st->cls.body, true);
        break;
    case BS_ST_RETURN:
        if (st->ret.value) walk_expr(st->ret.value);
        break;
    case BS_ST_TRY:
        /* a body, then at least one except or a finally; else only after an except; a bare
           except only last; 'as NAME' only with a type */
        walk_block(a, src, &st->try_.body, true);
        FUZZ_CHECK(st->try_.nh >= 0 && (st->try_.nh > 0 || st->try_.final.n > 0));
        FUZZ_CHECK(st->try_.orelse.n == 0 || st->try_.nh > 0);
        for (int i = 0; i < st->try_.nh; i++) {
            const bs_handler *h = &st->try_.handlers[i];
            FUZZ_CHECK(h->type || i == st->try_.nh - 1);
            FUZZ_CHECK(!h->name || h->type);
            check_pos(h->line, h->col);
            if (h->type) walk_expr(h->type);
            walk_block(a, src, &h->body, true);
        }
        walk_block(a, src, &st->try_.orelse, false);
        walk_block(a, src, &st->try_.final, false);
        break;
    case BS_ST_RAISE:
        if (st->raise.exc) walk_expr(st->raise.exc);
        break;
    case BS_ST_DEL:
        FUZZ_CHECK(st->del.target->kind == BS_EX_NAME || st->del.target->kind == BS_EX_SUBSCRIPT);
        walk_expr(st->del.target);
        break;
    default:
        break;
    case BS_ST_COMMAND:
        FUZZ_CHECK(st->cmd.name != NULL && st->cmd.args != NULL && st->cmd.argc >= 0);
        check_span(st->cmd.args_start, st->cmd.args_end);
        for (int i = 0; i < st->cmd.argc; i++) {
            FUZZ_CHECK(st->cmd.argv[i].text != NULL);
            check_span(st->cmd.argv[i].start, st->cmd.argv[i].end);
        }
        break;
    }
}

static void check_error(const bs_parse_error *pe)
{
    if (pe->status == BS_PARSE_OK)
        return;
    FUZZ_CHECK(pe->status == BS_PARSE_ERROR || pe->status == BS_PARSE_NOMEM);
    FUZZ_CHECK(memchr(pe->msg, '\0', sizeof pe->msg) != NULL);
    if (pe->status == BS_PARSE_ERROR) {
        FUZZ_CHECK(pe->msg[0] != '\0');
        check_pos(pe->line, pe->col);
        FUZZ_CHECK(pe->offset >= 0 && (size_t)pe->offset <= g_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_LEN)
        return -1;
    char *src = fuzz_cstr(data, size);
    g_len = strlen(src);

    /* tokens: spans inside the source, in order; the lexer always gets to the end */
    bs_lexer lx;
    bs_lex_init(&lx, src, 1);
    int last = 0;
    for (size_t i = 0;; i++) {
        FUZZ_CHECK(i <= 2 * g_len + 2); /* every token but EOF consumes at least one byte */
        bs_token t = bs_lex_next(&lx);
        check_span(t.start, t.end);
        check_pos(t.line, t.col);
        FUZZ_CHECK(t.start >= last);
        FUZZ_CHECK(bs_tok_kind_name(t.kind) != NULL);
        if (t.kind == BS_TOK_ERROR)
            FUZZ_CHECK(lx.err[0] != '\0');
        last = t.end;
        if (t.kind == BS_TOK_EOF)
            break;
    }

    /* the program */
    bs_arena a = BS_ARENA_INIT;
    bs_parse_error pe;
    memset(&pe, 0, sizeof pe);
    g_arena = &a;
    g_src = src;
    bs_ast *ast = bs_parse(src, 1, &a, &pe);
    check_error(&pe);
    if (ast) {
        FUZZ_CHECK(ast->src == src && ast->n >= 0);
        int prev = 0;
        for (int i = 0; i < ast->n; i++) {
            walk_stmt(&a, src, ast->stmts[i]);
            FUZZ_CHECK(ast->stmts[i]->start >= prev);
            prev = ast->stmts[i]->end;
        }
        int need = bs_ast_dump(ast, NULL, 0);
        FUZZ_CHECK(need >= 0);
        char *buf = malloc((size_t)need + 1);
        FUZZ_CHECK(buf != NULL);
        FUZZ_CHECK(bs_ast_dump(ast, buf, (size_t)need + 1) == need);
        FUZZ_CHECK(strlen(buf) == (size_t)need);
        free(buf);
    }
    bs_arena_free(&a);

    /* the same text as one expression (lesson checks, bs_session_number) */
    memset(&pe, 0, sizeof pe);
    bs_expr *x = bs_parse_expr(src, 1, &a, &pe);
    if (x)
        walk_expr(x);
    else
        FUZZ_CHECK(pe.status != BS_PARSE_OK);
    bs_arena_free(&a);

    (void)bs_lang_incomplete(src);
    free(src);
    return 0;
}
