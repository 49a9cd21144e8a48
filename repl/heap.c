/* repl/heap.c: values that outlive a statement (lists, strings, functions, classes, instances),
 * the names' and frames' dictionaries, and the collector that frees what nothing reaches. */
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

/* ==== Objects ==== */

void *bs_heap_new(bs_session *s, bs_hkind k, size_t size)
{
    bs_heap *h = calloc(1, size);
    if (!h) return NULL;
    h->kind = k;
    h->next = s->heap;
    s->heap = h;
    s->nheap++;
    return h;
}

bs_hlist *bs_heap_list(bs_session *s, int n)
{
    bs_hlist *l = bs_heap_new(s, BS_H_LIST, sizeof *l);
    if (!l) return NULL;
    if (n > 0) {
        l->items = calloc((size_t)n, sizeof *l->items);
        if (!l->items) return NULL; /* the empty object stays on the chain; the collector frees it */
        for (int i = 0; i < n; i++) l->items[i].k = BS_V_NONE;
        l->n = l->cap = n;
    }
    return l;
}

bool bs_list_push(bs_hlist *l, const bs_value *v)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 8;
        bs_value *ni = realloc(l->items, (size_t)nc * sizeof *ni);
        if (!ni) return false;
        l->items = ni;
        l->cap = nc;
    }
    l->items[l->n++] = *v;
    return true;
}

const char *bs_heap_str(bs_session *s, const char *text, bs_value *out)
{
    bs_hstr *h = bs_heap_new(s, BS_H_STR, sizeof *h);
    if (!h || !(h->s = strdup(text ? text : ""))) return NULL;
    memset(out, 0, sizeof *out);
    out->k = BS_V_STR;
    out->str = h->s;
    out->ref = h;
    out->sym = -1;
    return h->s;
}

bs_hobj *bs_heap_obj(bs_session *s, bs_hclass *cls)
{
    bs_hobj *o = bs_heap_new(s, BS_H_OBJ, sizeof *o);
    if (o) o->cls = cls;
    return o;
}

/* ==== Dictionaries ==== */

/* names are short and NUL-terminated */
static bool key_eq(const char *a, const char *b)
{
    if (*a != *b) return false;
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

bs_value *bs_dict_get_at(bs_dict *d, const char *key, int *slot)
{
    int i = *slot;
    if (i >= 0 && i < d->n && key_eq(d->keys[i], key)) return &d->vals[i];
    for (i = 0; i < d->n; i++)
        if (key_eq(d->keys[i], key)) {
            *slot = i;
            return &d->vals[i];
        }
    return NULL;
}

bs_value *bs_dict_get(bs_dict *d, const char *key)
{
    /* names are short: compared inline (this is every local name a function reads) */
    for (int i = 0; i < d->n; i++) {
        const char *a = d->keys[i], *b = key;
        if (*a != *b) continue;
        while (*a && *a == *b) a++, b++;
        if (*a == *b) return &d->vals[i];
    }
    return NULL;
}

int bs_dict_set(bs_dict *d, const char *key, const bs_value *v)
{
    int slot = 0;
    return bs_dict_set_at(d, key, v, &slot);
}

int bs_dict_set_at(bs_dict *d, const char *key, const bs_value *v, int *slot)
{
    bs_value *have = bs_dict_get_at(d, key, slot);
    if (have) {
        *have = *v;
        return 0;
    }
    if (d->n == d->cap) {
        int nc = d->cap ? d->cap * 2 : 8;
        char **nk = realloc(d->keys, (size_t)nc * sizeof *nk);
        if (!nk) return -1;
        d->keys = nk;
        bs_value *nv = realloc(d->vals, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        d->vals = nv;
        d->cap = nc;
    }
    char *k = strdup(key);
    if (!k) return -1;
    *slot = d->n;
    d->keys[d->n] = k;
    d->vals[d->n++] = *v;
    return 0;
}

static void dict_free(bs_dict *d)
{
    for (int i = 0; i < d->n; i++) free(d->keys[i]);
    free(d->keys);
    free(d->vals);
    memset(d, 0, sizeof *d);
}

/* ==== Persistent copies ==== */

int bs_persist(bs_session *s, const bs_value *v, const bs_expr *e, bs_value *out)
{
    int line = e ? e->line : 0, col = e ? e->col : 0;
    switch (v->k) {
    case BS_V_STR:
        if (v->ref || !v->str) {
            *out = *v;
            return 0;
        }
        if (!bs_heap_str(s, v->str, out)) return bs_fail(s, line, col, "out of memory");
        return 0;
    case BS_V_LIST:
    case BS_V_TUPLE: {
        if (v->ref) {
            *out = *v;
            return 0;
        }
        bs_hlist *l = bs_heap_list(s, v->n);
        if (!l || (v->n && !l->items)) return bs_fail(s, line, col, "out of memory");
        for (int i = 0; i < v->n; i++)
            if (bs_persist(s, &v->items[i], e, &l->items[i])) return -1;
        *out = *v;
        out->ref = l;
        out->items = l->items;
        return 0;
    }
    case BS_V_TMP: { /* x.grad kept: a leaf of its own, as torch's grad tensor is one */
        bs_value t = *v;
        bs_id id;
        if (bs_to_node(s, &t, e, &id)) return -1;
        memset(out, 0, sizeof *out);
        out->k = BS_V_NODE;
        out->id = id;
        out->sym = -1;
        return 0;
    }
    case BS_V_EXC: {
        if (v->ref || !v->str) {
            *out = *v;
            return 0;
        }
        if (!bs_heap_str(s, v->str, out)) return bs_fail(s, line, col, "out of memory");
        out->k = BS_V_EXC;
        out->ref2 = v->ref2;
        return 0;
    }
    case BS_V_VOID:
        return bs_fail(s, line, col, "this call returns nothing to keep");
    default:
        *out = *v;
        return 0;
    }
}

/* ==== Walking what is reachable ==== */

typedef struct {
    bs_id **keep;         /* NULL: only marking (the collector) */
    int n, cap;
    bool nomem;
} walk;

static void walk_value(walk *w, bs_value *v);

static bool mark(void *p)
{
    bs_heap *h = p;
    if (!h || h->mark) return false;
    h->mark = true;
    return true;
}

static void walk_dict(walk *w, bs_dict *d)
{
    for (int i = 0; i < d->n; i++) walk_value(w, &d->vals[i]);
}

static void walk_func(walk *w, bs_hfunc *f);

static void walk_class(walk *w, bs_hclass *c)
{
    while (c && mark(c)) {
        walk_dict(w, &c->attrs);
        c = c->base;
    }
}

static void walk_func(walk *w, bs_hfunc *f)
{
    if (!mark(f)) return;
    mark(f->src);
    if (f->cls) walk_class(w, f->cls);
    if (f->defaults)
        for (int i = 0; i < f->def->def.nparams; i++) walk_value(w, &f->defaults[i]);
    if (f->closure) walk_dict(w, f->closure);
}

static void walk_obj(walk *w, bs_hobj *o)
{
    if (!mark(o)) return;
    if (o->cls) walk_class(w, o->cls);
    walk_dict(w, &o->attrs);
}

static void walk_value(walk *w, bs_value *v)
{
    switch (v->k) {
    case BS_V_NODE:
        if (!w->keep) break;
        if (w->n == w->cap) {
            int nc = w->cap * 2 + 64;
            bs_id **nk = realloc(w->keep, (size_t)nc * sizeof *nk);
            if (!nk) {
                w->nomem = true;
                break;
            }
            w->keep = nk;
            w->cap = nc;
        }
        w->keep[w->n++] = &v->id;
        break;
    case BS_V_STR: case BS_V_EXC: mark(v->ref); break;
    case BS_V_DICT: {
        bs_hdict *d = v->ref;
        if (!mark(d)) break;
        for (int i = 0; i < d->n; i++) {
            walk_value(w, &d->keys[i]);
            walk_value(w, &d->vals[i]);
        }
        break;
    }
    case BS_V_LIST:
    case BS_V_TUPLE:
        if (v->ref) {
            bs_hlist *l = v->ref;
            if (!mark(l)) break;
            for (int i = 0; i < l->n; i++) walk_value(w, &l->items[i]);
        } else {
            for (int i = 0; i < v->n; i++) walk_value(w, &v->items[i]);
        }
        break;
    case BS_V_OPT: /* param groups: a list of their dicts and optimizers */
        if (v->ref && mark(v->ref)) {
            bs_hlist *l = v->ref;
            for (int i = 0; i < l->n; i++) walk_value(w, &l->items[i]);
        }
        break;
    case BS_V_FUNC: walk_func(w, v->ref); break;
    case BS_V_CLASS: walk_class(w, v->ref); break;
    case BS_V_OBJ: walk_obj(w, v->ref); break;
    case BS_V_BUILTIN: /* d.get as a value holds d */
        if (bs_bound_dict(v)) {
            bs_value d = bs_value_of(BS_V_DICT);
            d.ref = v->ref;
            walk_value(w, &d);
        }
        break;
    case BS_V_BOUND:
    case BS_V_SUPER:
        walk_obj(w, v->ref);
        if (v->k == BS_V_BOUND) walk_func(w, v->ref2);
        else walk_class(w, v->ref2);
        break;
    default: break;
    }
}

static void walk_all(bs_session *s, walk *w)
{
    for (bs_heap *h = s->heap; h; h = h->next) h->mark = false;
    for (bs_heap *h = s->heap; h; h = h->next)
        if (h->pins && h->kind == BS_H_SRC) h->mark = true;
    for (int i = 0; i < s->cap; i++)
        if (s->names[i].name && s->names[i].kind == BS_NAME_VALUE) walk_value(w, &s->names[i].val);
    for (bs_frame *f = s->frame; f; f = f->up) {
        walk_dict(w, &f->locals);
        walk_value(w, &f->ret);
        if (f->fn) walk_func(w, f->fn);
    }
    for (int i = 0; i < s->nroots; i++) walk_value(w, s->roots[i]);
    mark(s->cur_src);
}

int bs_heap_ids(bs_session *s, bs_id ***keep, int n, int *cap)
{
    walk w = {*keep, n, *cap, false};
    walk_all(s, &w);
    *keep = w.keep;
    *cap = w.cap;
    return w.nomem ? -1 : w.n;
}

/* ==== Freeing ==== */

static void heap_free(bs_heap *h)
{
    switch (h->kind) {
    case BS_H_LIST: free(((bs_hlist *)h)->items); break;
    case BS_H_STR: free(((bs_hstr *)h)->s); break;
    case BS_H_SRC: {
        bs_hsrc *r = (bs_hsrc *)h;
        free(r->text);
        bs_arena_free(&r->arena);
        break;
    }
    case BS_H_FUNC:
        free(((bs_hfunc *)h)->defaults);
        if (((bs_hfunc *)h)->closure) {
            dict_free(((bs_hfunc *)h)->closure);
            free(((bs_hfunc *)h)->closure);
        }
        break;
    case BS_H_DICT:
        free(((bs_hdict *)h)->keys);
        free(((bs_hdict *)h)->vals);
        break;
    case BS_H_CLASS: {
        bs_hclass *c = (bs_hclass *)h;
        free(c->name);
        dict_free(&c->attrs);
        break;
    }
    case BS_H_OBJ: dict_free(&((bs_hobj *)h)->attrs); break;
    }
    free(h);
}

void bs_heap_gc(bs_session *s)
{
    walk w = {NULL, 0, 0, false};
    walk_all(s, &w);
    bs_heap **pp = &s->heap;
    while (*pp) {
        bs_heap *h = *pp;
        if (h->mark) {
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        heap_free(h);
        s->nheap--;
    }
}

void bs_heap_maybe_gc(bs_session *s)
{
    if (s->nheap <= s->gc_at) return;
    bs_heap_gc(s);
    s->gc_at = s->nheap * 2 > 256 ? s->nheap * 2 : 256;
}

void bs_heap_drop(bs_session *s, bs_heap *h)
{
    for (bs_heap **pp = &s->heap; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            heap_free(h);
            s->nheap--;
            return;
        }
}

void bs_heap_free_all(bs_session *s)
{
    while (s->heap) {
        bs_heap *h = s->heap;
        s->heap = h->next;
        heap_free(h);
    }
    s->nheap = 0;
}

/* ==== After a failed statement ====
 * The tape was cut back to len: a list or an instance it changed may hold a node that is gone.
 * Such an entry becomes None (the statement's other effects on the heap stay, as in Python). */
static void scrub(bs_value *v, int32_t len)
{
    if (v->k == BS_V_NODE && v->id >= len) {
        memset(v, 0, sizeof *v);
        v->k = BS_V_NONE;
        v->sym = -1;
    }
}

void bs_heap_scrub(bs_session *s, int32_t len)
{
    for (bs_heap *h = s->heap; h; h = h->next) {
        switch (h->kind) {
        case BS_H_LIST: {
            bs_hlist *l = (bs_hlist *)h;
            for (int i = 0; i < l->n; i++) scrub(&l->items[i], len);
            break;
        }
        case BS_H_OBJ: {
            bs_dict *d = &((bs_hobj *)h)->attrs;
            for (int i = 0; i < d->n; i++) scrub(&d->vals[i], len);
            break;
        }
        case BS_H_CLASS: {
            bs_dict *d = &((bs_hclass *)h)->attrs;
            for (int i = 0; i < d->n; i++) scrub(&d->vals[i], len);
            break;
        }
        case BS_H_FUNC: {
            bs_hfunc *f = (bs_hfunc *)h;
            if (f->defaults)
                for (int i = 0; i < f->def->def.nparams; i++) scrub(&f->defaults[i], len);
            for (int i = 0; f->closure && i < f->closure->n; i++) scrub(&f->closure->vals[i], len);
            break;
        }
        case BS_H_DICT: {
            bs_hdict *d = (bs_hdict *)h;
            for (int i = 0; i < d->n; i++) {
                scrub(&d->keys[i], len);
                scrub(&d->vals[i], len);
            }
            break;
        }
        default: break;
        }
    }
    for (bs_frame *f = s->frame; f; f = f->up)
        for (int i = 0; i < f->locals.n; i++) scrub(&f->locals.vals[i], len);
    for (int i = 0; i < s->cap; i++)
        if (s->names[i].name && s->names[i].kind == BS_NAME_VALUE) scrub(&s->names[i].val, len);
}
