/* repl/pydict.c: more of Python as a PyTorch tutorial writes it: dicts ({'params': p, 'lr': 0.1},
 * history = {'loss': []}, d.items()), lambdas, del, and exceptions (try/except/else/finally, raise,
 * ValueError('bad') as a value). exec.c runs the other statements and Python's builtins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

#define MAX_ARGS 16

/* ==== Exceptions ====
 * An error is a message in the session's bs_error. One that a 'raise' made starts with its type
 * ("ValueError: bad"); backstep's own errors are given the type Python would raise for them
 * (exc_classify), so that 'except IndexError:' catches what Python's would. */

static const struct { const char *name, *base; } exc_types[] = {
    {"BaseException", NULL},
    {"Exception", "BaseException"},
    {"ArithmeticError", "Exception"},
    {"ZeroDivisionError", "ArithmeticError"},
    {"OverflowError", "ArithmeticError"},
    {"AssertionError", "Exception"},
    {"AttributeError", "Exception"},
    {"LookupError", "Exception"},
    {"IndexError", "LookupError"},
    {"KeyError", "LookupError"},
    {"NameError", "Exception"},
    {"RuntimeError", "Exception"},
    {"NotImplementedError", "RuntimeError"},
    {"RecursionError", "RuntimeError"},
    {"StopIteration", "Exception"},
    {"TypeError", "Exception"},
    {"ValueError", "Exception"},
};
#define N_EXC (int)(sizeof exc_types / sizeof exc_types[0])

static int exc_index(const char *name, size_t n)
{
    static uint64_t first[4]; /* the names' first bytes, a bit each */
    static bool ready;
    if (!ready) {
        for (int i = 0; i < N_EXC; i++) {
            unsigned char c = (unsigned char)exc_types[i].name[0];
            first[c >> 6] |= 1ull << (c & 63);
        }
        ready = true;
    }
    unsigned char c = n ? (unsigned char)name[0] : 0;
    if (!(first[c >> 6] >> (c & 63) & 1)) return -1;
    for (int i = 0; i < N_EXC; i++)
        if (strlen(exc_types[i].name) == n && !strncmp(exc_types[i].name, name, n)) return i;
    return -1;
}

bool bs_is_exc_name(const char *name) { return exc_index(name, strlen(name)) >= 0; }

/* the user exception class called name[0..n), as an index into s->uexc (its name at 2i), or -1 */
static int uexc_index(bs_session *s, const char *name, size_t n)
{
    for (int i = 0; i < s->nuexc; i++)
        if (strlen(s->uexc[2 * i]) == n && !strncmp(s->uexc[2 * i], name, n)) return i;
    return -1;
}

const char *bs_exc_register(bs_session *s, const char *name, const char *base)
{
    int i = uexc_index(s, name, strlen(name));
    char *b = strdup(base);
    if (!b) return NULL;
    if (i >= 0) { /* defined again: the new base counts */
        free(s->uexc[2 * i + 1]);
        s->uexc[2 * i + 1] = b;
        return s->uexc[2 * i];
    }
    char **room = realloc(s->uexc, (size_t)(s->nuexc + 1) * 2 * sizeof *room);
    char *nm = strdup(name);
    if (!room || !nm) {
        if (room) s->uexc = room;
        free(b);
        free(nm);
        return NULL;
    }
    s->uexc = room;
    room[2 * s->nuexc] = nm;
    room[2 * s->nuexc + 1] = b;
    return room[2 * s->nuexc++];
}

void bs_exc_free(bs_session *s)
{
    for (int i = 0; i < 2 * s->nuexc; i++) free(s->uexc[i]);
    free(s->uexc);
    s->uexc = NULL;
    s->nuexc = 0;
}

/* the interned name of exception type name[0..n) (builtin or user), or NULL if it is none */
static const char *exc_name(bs_session *s, const char *name, size_t n)
{
    int i = exc_index(name, n);
    if (i >= 0) return exc_types[i].name;
    i = uexc_index(s, name, n);
    return i >= 0 ? s->uexc[2 * i] : NULL;
}

/* is the exception type `type` the class cls or derived from it? */
bool bs_exc_is(bs_session *s, const char *type, const char *cls)
{
    for (int guard = 0; type && guard < 64; guard++) {
        if (!strcmp(type, cls)) return true;
        int i = exc_index(type, strlen(type));
        if (i >= 0) {
            type = exc_types[i].base;
        } else {
            int u = uexc_index(s, type, strlen(type));
            type = u >= 0 ? s->uexc[2 * u + 1] : NULL;
        }
    }
    return false;
}

/* the type of an error message and where its own text starts */
static const char *exc_classify(bs_session *s, const char *msg, const char **text)
{
    const char *colon = strchr(msg, ':');
    size_t n = colon ? (size_t)(colon - msg) : strlen(msg);
    const char *t = exc_name(s, msg, n);
    if (t) {
        *text = colon ? colon + 1 + (colon[1] == ' ') : msg + n;
        return t;
    }
    *text = msg;
    static const struct { const char *has, *type; } rules[] = {
        {"is not defined", "NameError"},
        {"index out of range", "IndexError"},
        {"out of range", "IndexError"},
        {"out of bounds", "IndexError"},
        {"division by zero", "ZeroDivisionError"},
        {"modulo by zero", "ZeroDivisionError"},
        {"has no attribute", "AttributeError"},
        {"maximum recursion depth", "RecursionError"},
        {"invalid literal", "ValueError"},
        {"values to unpack", "ValueError"},
        {"is not in list", "ValueError"},
        {"empty sequence", "ValueError"},
        {"is not a valid value for", "ValueError"}, /* reduction='average' */
        {"unsupported operand", "TypeError"},
        {"not supported between", "TypeError"},
        {"unhashable type", "TypeError"},
        {"is not callable", "TypeError"},
        {"is not iterable", "TypeError"},
        {"argument", "TypeError"},
        {"must be", "TypeError"},
        {"takes", "TypeError"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strstr(msg, rules[i].has)) return rules[i].type;
    return "RuntimeError"; /* what torch raises for shapes, dtypes, backward */
}

/* type: an interned name (exc_types' or the session's registry's) */
static int exc_value(bs_session *s, const char *type, const char *text, int line, int col, bs_value *out)
{
    if (!bs_heap_str(s, text, out)) return bs_fail(s, line, col, "out of memory");
    out->k = BS_V_EXC;
    out->ref2 = (void *)type;
    return 0;
}

int bs_exc_new(bs_session *s, const bs_expr *call, const char *type, bs_value *pos, int npos, bs_value *out)
{
    const char *t = exc_name(s, type, strlen(type));
    if (!t) return bs_fail(s, call->line, call->col, "'%s' is not an exception class", type);
    const char *text = "";
    if (npos == 1) {
        /* KeyError('a') prints as 'a', as Python's str() of a KeyError does */
        text = !strcmp(t, "KeyError") ? bs_repr_value(s, &pos[0]) : bs_str_value(s, &pos[0]);
    } else if (npos > 1) {
        bs_value tu = bs_value_of(BS_V_TUPLE);
        tu.items = pos;
        tu.n = npos;
        text = bs_str_value(s, &tu);
    }
    return exc_value(s, t, text, call->line, call->col, out);
}

/* an exception's message as an error: "ValueError: bad", or "ValueError" */
static int fail_exc(bs_session *s, int line, int col, const char *type, const char *text)
{
    if (text && *text) return bs_fail(s, line, col, "%s: %s", type, text);
    return bs_fail(s, line, col, "%s", type);
}

int bs_exec_raise(bs_session *s, const bs_stmt *st)
{
    if (!st->raise.exc) {
        if (!s->cur_exc) return bs_fail(s, st->line, st->col, "RuntimeError: No active exception to reraise");
        return bs_fail(s, st->line, st->col, "%s", s->cur_exc);
    }
    bs_value v;
    if (bs_eval_expr(s, st->raise.exc, &v)) return -1;
    if (v.k == BS_V_BUILTIN && bs_is_exc_name(v.str)) return fail_exc(s, st->line, st->col, v.str, "");
    if (v.k == BS_V_CLASS && ((bs_hclass *)v.ref)->exc)
        return fail_exc(s, st->line, st->col, ((bs_hclass *)v.ref)->exc, "");
    if (v.k == BS_V_EXC) return fail_exc(s, st->line, st->col, v.ref2, v.str);
    return bs_fail(s, st->raise.exc->line, st->raise.exc->col, "TypeError: exceptions must derive from BaseException");
}

/* does the clause's type (a class, or a tuple of classes) catch an error of type t? */
static int handler_matches(bs_session *s, const bs_handler *h, const char *t, bool *yes)
{
    *yes = false;
    if (!h->type) {
        *yes = true;
        return 0;
    }
    bs_value v;
    if (bs_eval_expr(s, h->type, &v)) return -1;
    int n = 1;
    bs_value *items = &v;
    if (v.k == BS_V_TUPLE) items = bs_list_items(&v, &n);
    for (int i = 0; i < n; i++) {
        const char *cls = items[i].k == BS_V_BUILTIN && bs_is_exc_name(items[i].str) ? items[i].str
                          : items[i].k == BS_V_CLASS ? ((bs_hclass *)items[i].ref)->exc : NULL;
        if (!cls)
            return bs_fail(s, h->type->line, h->type->col,
                           "TypeError: catching classes that do not inherit from BaseException is not allowed");
        if (bs_exc_is(s, t, cls)) *yes = true;
    }
    return 0;
}

int bs_exec_try(bs_session *s, const bs_stmt *st)
{
    int r = bs_exec_block(s, &st->try_.body);
    bool failed_in_body = r != 0;
    if (r && strcmp(s->e->msg, "interrupted") && strcmp(s->e->msg, "out of memory")) {
        bs_error err = *s->e;
        err.msg[strcspn(err.msg, "\n")] = 0; /* the message without its traceback */
        const char *text;
        const char *t = exc_classify(s, err.msg, &text);
        for (int i = 0; i < st->try_.nh; i++) {
            const bs_handler *h = &st->try_.handlers[i];
            memset(s->e, 0, sizeof *s->e); /* the clause's type is evaluated as a new expression */
            bool yes;
            if (handler_matches(s, h, t, &yes)) break; /* its own error replaces the first */
            if (!yes) {
                *s->e = err;
                continue;
            }
            s->flow = BS_FLOW_NONE;
            s->child_name = NULL;
            bs_value ev;
            if (h->name && (exc_value(s, t, text, h->line, h->col, &ev) ||
                            bs_bind(s, h->name, &ev, NULL, false)))
                break;
            char *saved = strdup(err.msg);
            const char *outer = s->cur_exc;
            s->cur_exc = saved;
            r = bs_exec_block(s, &h->body);
            s->cur_exc = outer;
            free(saved);
            break;
        }
    } else if (!r && s->flow == BS_FLOW_NONE && st->try_.orelse.n) {
        r = bs_exec_block(s, &st->try_.orelse);
    }
    (void)failed_in_body;
    if (!st->try_.final.n) return r;
    /* finally: runs whatever happened; then what happened goes on, unless it fails or returns */
    bs_error err = *s->e;
    bs_flow flow = s->flow;
    bs_value ret = s->frame ? s->frame->ret : bs_value_of(BS_V_NONE);
    memset(s->e, 0, sizeof *s->e);
    s->flow = BS_FLOW_NONE;
    int fr = bs_exec_block(s, &st->try_.final);
    if (fr) return -1;
    if (s->flow != BS_FLOW_NONE) return 0;
    *s->e = err;
    s->flow = flow;
    if (s->frame) s->frame->ret = ret;
    return r;
}

/* ==== Dicts ==== */

bs_hdict *bs_heap_dict(bs_session *s) { return bs_heap_new(s, BS_H_DICT, sizeof(bs_hdict)); }

static bool hashable(const bs_value *v)
{
    switch (v->k) {
    case BS_V_LIST: case BS_V_DICT: case BS_V_VOID: return false;
    case BS_V_TUPLE: {
        int n;
        bs_value *it = bs_list_items(v, &n);
        for (int i = 0; i < n; i++)
            if (!hashable(&it[i])) return false;
        return true;
    }
    default: return true;
    }
}

int bs_hdict_find(bs_session *s, bs_hdict *d, const bs_value *key, const bs_expr *e)
{
    if (!hashable(key)) {
        if (e) bs_fail(s, e->line, e->col, "TypeError: unhashable type: '%s'", bs_type_name(key));
        return -2;
    }
    bool kt = key->k == BS_V_NODE || key->k == BS_V_TMP;
    for (int i = 0; i < d->n; i++) {
        const bs_value *k = &d->keys[i];
        if (kt || k->k == BS_V_NODE) { /* a tensor key is itself, as its hash is its id */
            if (kt && k->k == BS_V_NODE && key->k == BS_V_NODE && k->id == key->id) return i;
            continue;
        }
        bool eq;
        if (bs_values_eq(s, k, key, &eq) == 0 && eq) return i;
    }
    return -1;
}

int bs_hdict_set(bs_session *s, bs_hdict *d, const bs_value *key, const bs_value *v, const bs_expr *e)
{
    int i = bs_hdict_find(s, d, key, e);
    if (i < -1) return -1;
    bs_value kk, vv;
    if (bs_persist(s, v, e, &vv)) return -1;
    if (i >= 0) {
        d->vals[i] = vv;
        return 0;
    }
    if (bs_persist(s, key, e, &kk)) return -1;
    if (d->n == d->cap) {
        int nc = d->cap ? d->cap * 2 : 8;
        bs_value *nk = realloc(d->keys, (size_t)nc * sizeof *nk);
        if (!nk) return bs_fail(s, e ? e->line : 0, e ? e->col : 0, "out of memory");
        d->keys = nk;
        bs_value *nv = realloc(d->vals, (size_t)nc * sizeof *nv);
        if (!nv) return bs_fail(s, e ? e->line : 0, e ? e->col : 0, "out of memory");
        d->vals = nv;
        d->cap = nc;
    }
    d->keys[d->n] = kk;
    d->vals[d->n++] = vv;
    return 0;
}

static void dict_remove(bs_hdict *d, int i)
{
    memmove(d->keys + i, d->keys + i + 1, sizeof(bs_value) * (size_t)(d->n - i - 1));
    memmove(d->vals + i, d->vals + i + 1, sizeof(bs_value) * (size_t)(d->n - i - 1));
    d->n--;
}

static int dict_value(bs_session *s, const bs_expr *e, bs_hdict *d, bs_value *out)
{
    if (!d) return bs_fail(s, e->line, e->col, "out of memory");
    *out = bs_value_of(BS_V_DICT);
    out->ref = d;
    return 0;
}

int bs_eval_dict(bs_session *s, const bs_expr *e, bs_value *out)
{
    bs_hdict *d = bs_heap_dict(s);
    if (dict_value(s, e, d, out)) return -1;
    if (e->kind == BS_EX_DICT) {
        for (int i = 0; i < e->dict.n; i++) {
            bs_value k, v;
            if (bs_eval_expr(s, e->dict.keys[i], &k) || bs_eval_expr(s, e->dict.vals[i], &v) ||
                bs_hdict_set(s, d, &k, &v, e->dict.keys[i]))
                return -1;
        }
        return 0;
    }
    /* {key: elt for target in iter if cond} */
    bs_value it, all;
    if (bs_eval_expr(s, e->comp.iter, &it) || bs_collect(s, e->comp.iter, &it, &all)) return -1;
    for (int i = 0; i < all.n; i++) {
        if (bs_assign_target(s, e->comp.target, &all.items[i], e->comp.iter)) return -1;
        if (e->comp.cond) {
            bs_value c;
            int err;
            if (bs_eval_expr(s, e->comp.cond, &c)) return -1;
            bool keep = bs_truthy(s, &c, e->comp.cond, &err);
            if (err) return -1;
            if (!keep) continue;
        }
        bs_value k, v;
        if (bs_eval_expr(s, e->comp.key, &k) || bs_eval_expr(s, e->comp.elt, &v) ||
            bs_hdict_set(s, d, &k, &v, e->comp.key))
            return -1;
    }
    return 0;
}

static int fail_key(bs_session *s, const bs_expr *e, const bs_value *key);

/* ==== Sets ====
 * A set is a dict whose values are all None (is_set): membership, len, iteration, == and
 * hashability come from the dict. Iteration and printing follow insertion order (Python's follows
 * the hashes: sort a set to compare it with Python's output). */

bool bs_is_set(const bs_value *v) { return v->k == BS_V_DICT && ((bs_hdict *)v->ref)->is_set; }

static int set_value(bs_session *s, const bs_expr *e, bs_hdict **d, bs_value *out)
{
    *d = bs_heap_dict(s);
    if (dict_value(s, e, *d, out)) return -1;
    (*d)->is_set = true;
    return 0;
}

static int set_add(bs_session *s, bs_hdict *d, const bs_value *k, const bs_expr *e)
{
    bs_value none = bs_value_of(BS_V_NONE);
    int i = bs_hdict_find(s, d, k, e);
    if (i < -1) return -1;
    return i >= 0 ? 0 : bs_hdict_set(s, d, k, &none, e);
}

/* every item of an iterable into d */
static int set_add_all(bs_session *s, bs_hdict *d, const bs_expr *e, bs_value *it)
{
    bs_value all;
    if (bs_collect(s, e, it, &all)) return -1;
    for (int i = 0; i < all.n; i++)
        if (set_add(s, d, &all.items[i], e)) return -1;
    return 0;
}

int bs_set_new(bs_session *s, const bs_expr *call, bs_value *pos, int npos, bs_value *out)
{
    bs_hdict *d;
    if (npos > 1) return bs_fail(s, call->line, call->col, "TypeError: set expected at most 1 argument, got %d", npos);
    if (set_value(s, call, &d, out)) return -1;
    return npos ? set_add_all(s, d, call, &pos[0]) : 0;
}

int bs_eval_set(bs_session *s, const bs_expr *e, bs_value *out)
{
    bs_hdict *d;
    if (set_value(s, e, &d, out)) return -1;
    if (e->kind == BS_EX_SET) {
        for (int i = 0; i < e->list.n; i++) {
            bs_value k;
            if (bs_eval_expr(s, e->list.items[i], &k) || set_add(s, d, &k, e->list.items[i])) return -1;
        }
        return 0;
    }
    bs_value l; /* {elt for ...}: the list comprehension's items */
    if (bs_eval_listcomp(s, e, &l)) return -1;
    return set_add_all(s, d, e, &l);
}

/* a | b, a & b, a ^ b, a - b (op '|', '&', '^', '-'): a new set */
int bs_set_op(bs_session *s, const bs_expr *e, char op, const bs_value *a, const bs_value *b, bs_value *out)
{
    bs_hdict *r, *x = a->ref, *y = b->ref;
    if (set_value(s, e, &r, out)) return -1;
    for (int pass = 0; pass < 2; pass++) {
        bs_hdict *from = pass ? y : x, *other = pass ? x : y;
        if (pass && op != '|' && op != '^') break;
        for (int i = 0; i < from->n; i++) {
            int j = bs_hdict_find(s, other, &from->keys[i], e);
            if (j < -1) return -1;
            bool in_other = j >= 0;
            bool keep = op == '|' ? (!pass || !in_other) : op == '&' ? in_other : !in_other;
            if (keep && set_add(s, r, &from->keys[i], e)) return -1;
        }
    }
    return 0;
}

static int set_method(bs_session *s, const bs_expr *call, bs_hdict *d, const char *name, int line, int col,
                      const bs_expr *arg0, bs_value *pos, int npos, bs_value *out)
{
    bs_value self = bs_value_of(BS_V_DICT);
    self.ref = d;
    if (!strcmp(name, "add") || !strcmp(name, "remove") || !strcmp(name, "discard")) {
        if (npos != 1)
            return bs_fail(s, line, col, "TypeError: set.%s() takes exactly one argument (%d given)", name, npos);
        if (name[0] == 'a') return set_add(s, d, &pos[0], arg0);
        int i = bs_hdict_find(s, d, &pos[0], arg0);
        if (i < -1) return -1;
        if (i >= 0) dict_remove(d, i);
        else if (name[0] == 'r') return fail_key(s, arg0, &pos[0]);
        return 0;
    }
    if (!strcmp(name, "update")) {
        for (int i = 0; i < npos; i++)
            if (set_add_all(s, d, arg0, &pos[i])) return -1;
        return 0;
    }
    if (!strcmp(name, "clear")) {
        if (npos) return bs_fail(s, line, col, "TypeError: set.clear() takes no arguments (%d given)", npos);
        d->n = 0;
        return 0;
    }
    if (!strcmp(name, "pop")) {
        if (npos) return bs_fail(s, line, col, "TypeError: set.pop() takes no arguments (%d given)", npos);
        if (!d->n) return bs_fail(s, line, col, "KeyError: 'pop from an empty set'");
        *out = d->keys[0];
        dict_remove(d, 0);
        return 0;
    }
    if (!strcmp(name, "copy")) return bs_set_op(s, call, '|', &self, &self, out);
    static const struct { const char *name; char op; } ops[] = {
        {"union", '|'}, {"intersection", '&'}, {"difference", '-'}, {"symmetric_difference", '^'},
        {"issubset", '<'}, {"issuperset", '>'}, {"isdisjoint", '0'},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        if (strcmp(name, ops[k].name)) continue;
        bs_value other;
        bs_hdict *od;
        if (npos != 1) return bs_fail(s, line, col, "TypeError: set.%s() takes exactly one argument (%d given)", name, npos);
        if (bs_is_set(&pos[0])) {
            other = pos[0];
        } else {
            if (set_value(s, arg0, &od, &other) || set_add_all(s, od, arg0, &pos[0])) return -1;
        }
        char op = ops[k].op;
        if (op == '|' || op == '&' || op == '-' || op == '^') return bs_set_op(s, call, op, &self, &other, out);
        bs_value r;
        const bs_value *sub = op == '>' ? &other : &self, *sup = op == '>' ? &self : &other;
        if (bs_set_op(s, call, op == '0' ? '&' : '-', sub, sup, &r)) return -1;
        *out = bs_value_of(BS_V_BOOL);
        out->b = ((bs_hdict *)r.ref)->n == 0;
        return 0;
    }
    return bs_fail(s, line, col, "AttributeError: 'set' object has no attribute '%s'", name);
}

static int fail_key(bs_session *s, const bs_expr *e, const bs_value *key)
{
    return bs_fail(s, e->line, e->col, "KeyError: %s", bs_repr_value(s, key));
}

int bs_dict_subscript(bs_session *s, const bs_expr *e, bs_value *obj, bs_value *key, bs_value *out)
{
    const bs_expr *at = e->kind == BS_EX_SUBSCRIPT ? e->sub.index : e;
    if (((bs_hdict *)obj->ref)->is_set)
        return bs_fail(s, e->line, e->col, "TypeError: 'set' object is not subscriptable");
    int i = bs_hdict_find(s, obj->ref, key, at);
    if (i < -1) return -1;
    if (i < 0) return fail_key(s, at, key);
    *out = ((bs_hdict *)obj->ref)->vals[i];
    return 0;
}

/* d.keys(), d.values(), d.items(): lists that print as dict_keys([...]) (a copy, not a live view) */
static int dict_view(bs_session *s, const bs_expr *call, bs_hdict *d, int which, bs_value *out)
{
    bs_hlist *l = bs_heap_list(s, d->n);
    if (!l || (d->n && !l->items)) return bs_fail(s, call->line, call->col, "out of memory");
    for (int i = 0; i < d->n; i++) {
        if (which == 0) {
            l->items[i] = d->keys[i];
        } else if (which == 1) {
            l->items[i] = d->vals[i];
        } else {
            bs_hlist *pr = bs_heap_list(s, 2);
            if (!pr || !pr->items) return bs_fail(s, call->line, call->col, "out of memory");
            pr->items[0] = d->keys[i];
            pr->items[1] = d->vals[i];
            l->items[i] = bs_value_of(BS_V_TUPLE);
            l->items[i].ref = pr;
            l->items[i].items = pr->items;
            l->items[i].n = 2;
        }
    }
    *out = bs_value_of(BS_V_LIST);
    out->ref = l;
    out->items = l->items;
    out->n = l->n;
    out->str = which == 0 ? "dict_keys" : which == 1 ? "dict_values" : "dict_items";
    return 0;
}

int bs_dict_method(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *out)
{
    bs_value pos[MAX_ARGS], kv[MAX_ARGS];
    const char *kn[MAX_ARGS];
    int npos, nkw;
    if (bs_eval_args(s, call, pos, &npos, kn, kv, &nkw, MAX_ARGS)) return -1;
    return bs_dict_method_v(s, call, obj, name, pos, npos, kn, kv, nkw, out);
}

static const char *const dict_methods[] = {"keys", "values", "items", "get", "pop", "setdefault", "update",
                                           "copy", "clear", NULL};

/* the same with evaluated arguments (key=counts.get) */
int bs_dict_method_v(bs_session *s, const bs_expr *call, bs_value *obj, const char *name, bs_value *pos, int npos,
                     const char **kn, bs_value *kv, int nkw, bs_value *out)
{
    const bs_expr *fn = call->call.fn;
    bool own = fn->kind == BS_EX_ATTR && !strcmp(fn->attr.name, name);
    int line = own ? fn->attr.name_line : call->line, col = own ? fn->attr.name_col : call->col;
    const bs_expr *arg0 = own && call->call.nargs ? call->call.args[0].value : call;
    bs_hdict *d = obj->ref;
    *out = bs_value_of(BS_V_NONE);
    if (d->is_set) {
        if (nkw) return bs_fail(s, line, col, "TypeError: set.%s() takes no keyword arguments", name);
        return set_method(s, call, d, name, line, col, arg0, pos, npos, out);
    }
    if (nkw && strcmp(name, "update")) return bs_fail(s, line, col, "TypeError: %s() takes no keyword arguments", name);
    static const char *const views[] = {"keys", "values", "items"};
    for (int w = 0; w < 3; w++)
        if (!strcmp(name, views[w])) {
            if (npos) return bs_fail(s, line, col, "TypeError: dict.%s() takes no arguments (%d given)", name, npos);
            return dict_view(s, call, d, w, out);
        }
    if (!strcmp(name, "get") || !strcmp(name, "pop") || !strcmp(name, "setdefault")) {
        if (npos < 1 || npos > 2)
            return bs_fail(s, line, col, "TypeError: %s expected 1 or 2 arguments, got %d", name, npos);
        int i = bs_hdict_find(s, d, &pos[0], arg0);
        if (i < -1) return -1;
        if (i >= 0) {
            *out = d->vals[i];
            if (name[0] == 'p') dict_remove(d, i);
            return 0;
        }
        if (npos == 2) *out = pos[1];
        if (name[0] == 'p' && npos == 1) return fail_key(s, arg0, &pos[0]);
        if (name[0] == 's') return bs_hdict_set(s, d, &pos[0], out, call);
        return 0;
    }
    if (!strcmp(name, "update")) {
        if (npos > 1) return bs_fail(s, line, col, "TypeError: update expected at most 1 argument, got %d", npos);
        if (npos == 1) {
            if (pos[0].k != BS_V_DICT) return bs_fail(s, line, col, "TypeError: update() takes a dict here");
            bs_hdict *o = pos[0].ref;
            for (int i = 0; i < o->n; i++)
                if (bs_hdict_set(s, d, &o->keys[i], &o->vals[i], call)) return -1;
        }
        for (int i = 0; i < nkw; i++) {
            bs_value k;
            if (!bs_heap_str(s, kn[i], &k)) return bs_fail(s, line, col, "out of memory");
            if (bs_hdict_set(s, d, &k, &kv[i], call)) return -1;
        }
        return 0;
    }
    if (!strcmp(name, "copy")) {
        bs_hdict *c = bs_heap_dict(s);
        if (dict_value(s, call, c, out)) return -1;
        for (int i = 0; i < d->n; i++)
            if (bs_hdict_set(s, c, &d->keys[i], &d->vals[i], call)) return -1;
        return 0;
    }
    if (!strcmp(name, "clear")) {
        d->n = 0;
        return 0;
    }
    return bs_fail(s, line, col, "AttributeError: 'dict' object has no attribute '%s'", name);
}

const char *bs_dict_str(bs_session *s, const bs_value *v)
{
    if (v->k == BS_V_EXC) return v->str ? v->str : "";
    bs_hdict *d = v->ref;
    if (d->is_set && d->n == 0) return "set()";
    size_t cap = 64, n = 0;
    char *b = malloc(cap);
    if (!b) return "{...}";
    b[n++] = '{';
    for (int i = 0; i < d->n; i++) {
        const char *parts[4] = {i ? ", " : "", NULL, ": ", NULL};
        if (d->is_set) parts[2] = parts[3] = "";
        /* a dict that holds itself prints {...} there, as Python's */
        parts[1] = bs_repr_value(s, &d->keys[i]);
        if (!d->is_set)
            parts[3] = d->vals[i].k == BS_V_DICT && d->vals[i].ref == d ? "{...}" : bs_repr_value(s, &d->vals[i]);
        for (int k = 0; k < 4; k++) {
            size_t m = strlen(parts[k]);
            if (n + m + 2 > cap) {
                while (n + m + 2 > cap) cap *= 2;
                char *nb = realloc(b, cap);
                if (!nb) {
                    free(b);
                    return "{...}";
                }
                b = nb;
            }
            memcpy(b + n, parts[k], m);
            n += m;
        }
    }
    b[n++] = '}';
    char *r = bs_arena_strndup(&s->arena, b, n);
    free(b);
    return r ? r : "{...}";
}

/* e.args, d.NAME without a call */
int bs_pyobj_attr(bs_session *s, const bs_expr *e, bs_value *obj, const char *name, bs_value *out)
{
    int line = e->attr.name_line, col = e->attr.name_col;
    for (int i = 0; obj->k == BS_V_DICT && dict_methods[i]; i++)
        if (!strcmp(name, dict_methods[i])) { /* counts.get as a value: a builtin bound to the dict */
            *out = bs_value_of(BS_V_BUILTIN);
            out->str = dict_methods[i];
            out->ref = obj->ref;
            out->ref2 = (void *)dict_methods;
            return 0;
        }
    if (obj->k == BS_V_EXC && !strcmp(name, "args")) {
        *out = bs_value_of(BS_V_TUPLE);
        if (!obj->str || !*obj->str) return 0;
        out->items = bs_arena_alloc(&s->arena, sizeof(bs_value));
        if (!out->items) return bs_fail(s, line, col, "out of memory");
        out->items[0] = bs_value_of(BS_V_STR);
        out->items[0].str = obj->str;
        out->n = 1;
        return 0;
    }
    return bs_fail(s, line, col, "AttributeError: '%s' object has no attribute '%s'", bs_type_name(obj), name);
}

/* ==== lambda and del ==== */

int bs_eval_lambda(bs_session *s, const bs_expr *e, bs_value *out) { return bs_make_def(s, e->lam.def, out); }

int bs_exec_del(bs_session *s, const bs_stmt *st)
{
    const bs_expr *t = st->del.target;
    if (t->kind != BS_EX_SUBSCRIPT)
        return bs_fail(s, t->line, t->col, "del of a name is not supported; assign None to it instead");
    bs_value obj, idx;
    if (bs_eval_expr(s, t->sub.obj, &obj) || bs_eval_expr(s, t->sub.index, &idx)) return -1;
    if (obj.k == BS_V_DICT) {
        int i = bs_hdict_find(s, obj.ref, &idx, t->sub.index);
        if (i < -1) return -1;
        if (i < 0) return fail_key(s, t->sub.index, &idx);
        dict_remove(obj.ref, i);
        return 0;
    }
    if (obj.k == BS_V_LIST && obj.ref) {
        bs_hlist *l = obj.ref;
        double x;
        bool is_int;
        if (!bs_as_number(s, &idx, &x, &is_int) || !is_int)
            return bs_fail(s, t->sub.index->line, t->sub.index->col, "TypeError: list indices must be integers");
        int64_t i = (int64_t)x;
        if (i < 0) i += l->n;
        if (i < 0 || i >= l->n)
            return bs_fail(s, t->sub.index->line, t->sub.index->col, "IndexError: list assignment index out of range");
        memmove(l->items + i, l->items + i + 1, sizeof(bs_value) * (size_t)(l->n - i - 1));
        l->n--;
        return 0;
    }
    return bs_fail(s, t->op_line, t->op_col, "TypeError: '%s' object doesn't support item deletion", bs_type_name(&obj));
}

void *bs_bound_dict(const bs_value *fn)
{
    return fn->k == BS_V_BUILTIN && fn->ref2 == (void *)dict_methods ? fn->ref : NULL;
}

/* ==== & | ^ ~ ==== */

static int64_t bitop(bs_binop op, int64_t x, int64_t y)
{
    return op == BS_BIN_BITAND ? (x & y) : op == BS_BIN_BITOR ? (x | y) : (x ^ y);
}

/* an operand as an integer tensor: a Python int or bool (a 0-d one), or an int64 tensor */
static int int_operand(bs_session *s, const bs_expr *at, int line, int col, const char *sym, bs_value *v,
                       bs_tensor *t, bool *mask)
{
    *mask = v->k == BS_V_BOOL || bs_is_mask(s, v);
    if (v->k == BS_V_NUM && !v->is_int)
        return bs_fail(s, line, col, "TypeError: unsupported operand type(s) for %s: 'float'", sym);
    if (v->k != BS_V_NUM && v->k != BS_V_BOOL && v->k != BS_V_NODE && v->k != BS_V_TMP)
        return bs_fail(s, line, col, "TypeError: unsupported operand type(s) for %s: '%s'", sym, bs_type_name(v));
    if (v->k == BS_V_NUM || v->k == BS_V_BOOL) { /* a Python int or bool: a 0-d int64 operand */
        double *d = bs_arena_alloc(&s->arena, sizeof(double));
        if (!d) return bs_fail(s, line, col, "out of memory");
        *d = v->k == BS_V_BOOL ? v->b : v->num;
        *t = (bs_tensor){BS_I64, {0, {0}}, d};
        return 0;
    }
    bs_value c = *v;
    if (bs_to_tensor(s, &c, at, t)) return -1;
    if (t->dtype != BS_I64) {
        if (sym[0] == '~')
            return bs_fail(s, line, col, "\"bitwise not\" is not implemented for float tensors: "
                           "negate a comparison, as in ~(x > 0)");
        return bs_fail(s, line, col, "\"bitwise %s\" is not implemented for float tensors: compare first, "
                       "as in (x > 0) %s (x < 1)", sym[0] == '&' ? "and" : sym[0] == '|' ? "or" : "xor", sym);
    }
    return 0;
}

int bs_eval_bitwise(bs_session *s, const bs_expr *e, bs_value *a, bs_value *x, bs_value *b, bs_value *out)
{
    int line = e->op_line, col = e->op_col;
    if (!x && bs_is_set(a) && bs_is_set(b)) /* a | b, a & b, a ^ b on sets */
        return bs_set_op(s, e, e->bin.op == BS_BIN_BITOR ? '|' : e->bin.op == BS_BIN_BITAND ? '&' : '^', a, b, out);
    if (x) { /* ~x */
        if (x->k == BS_V_NUM && x->is_int) {
            *out = bs_num_value(-x->num - 1, true);
            return 0;
        }
        if (x->k == BS_V_BOOL) {
            *out = bs_num_value(x->b ? -2 : -1, true);
            return 0;
        }
        bs_tensor t;
        bool mask;
        if (int_operand(s, e->unary.operand, line, col, "~", x, &t, &mask)) return -1;
        int64_t n = bs_tensor_numel(&t);
        double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
        if (!d) return bs_fail(s, line, col, "out of memory");
        for (int64_t i = 0; i < n; i++) d[i] = mask ? (t.data[i] == 0) : (double)~(int64_t)t.data[i];
        *out = bs_value_of(BS_V_TMP);
        out->tmp = (bs_tensor){BS_I64, t.shape, d};
        out->mask = mask;
        return 0;
    }
    bs_binop op = e->bin.op;
    const char *sym = bs_binop_symbol(op);
    bool ta = a->k == BS_V_NODE || a->k == BS_V_TMP, tb = b->k == BS_V_NODE || b->k == BS_V_TMP;
    if (!ta && !tb) { /* Python ints and bools */
        if (!((a->k == BS_V_NUM && a->is_int) || a->k == BS_V_BOOL) || !((b->k == BS_V_NUM && b->is_int) || b->k == BS_V_BOOL))
            return bs_fail(s, line, col, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", sym,
                           bs_type_name(a), bs_type_name(b));
        int64_t p = a->k == BS_V_BOOL ? a->b : (int64_t)a->num, q = b->k == BS_V_BOOL ? b->b : (int64_t)b->num;
        int64_t r = bitop(op, p, q);
        if (a->k == BS_V_BOOL && b->k == BS_V_BOOL) {
            *out = bs_value_of(BS_V_BOOL);
            out->b = r != 0;
        } else {
            *out = bs_num_value((double)r, true);
        }
        return 0;
    }
    bs_tensor A, B;
    bool ma, mb;
    if (int_operand(s, e->bin.lhs, line, col, sym, a, &A, &ma) || int_operand(s, e->bin.rhs, line, col, sym, b, &B, &mb))
        return -1;
    bs_shape sh;
    if (!bs_shape_broadcast(&A.shape, &B.shape, &sh)) {
        char p[64], q[64];
        return bs_fail(s, line, col, "shapes %s and %s cannot be broadcast together", bs_shape_str(&A.shape, p, sizeof p),
                       bs_shape_str(&B.shape, q, sizeof q));
    }
    int64_t n = bs_shape_numel(&sh);
    double *d = bs_arena_alloc(&s->arena, sizeof(double) * (size_t)(n ? n : 1));
    if (!d) return bs_fail(s, line, col, "out of memory");
    for (int64_t f = 0; f < n; f++) {
        /* each operand's element for output element f (a dim of size 1, or missing, broadcasts) */
        int64_t rem = f, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int i = sh.ndim - 1; i >= 0; i--) {
            int64_t c = rem % sh.d[i];
            rem /= sh.d[i];
            int ja = i - (sh.ndim - A.shape.ndim), jb = i - (sh.ndim - B.shape.ndim);
            if (ja >= 0) {
                if (A.shape.d[ja] != 1) oa += c * sa;
                sa *= A.shape.d[ja];
            }
            if (jb >= 0) {
                if (B.shape.d[jb] != 1) ob += c * sb;
                sb *= B.shape.d[jb];
            }
        }
        d[f] = (double)bitop(op, (int64_t)A.data[oa], (int64_t)B.data[ob]);
    }
    *out = bs_value_of(BS_V_TMP);
    out->tmp = (bs_tensor){BS_I64, sh, d};
    out->mask = ma && mb;
    return 0;
}
