/* core/module.h: the program's optional parts that live in shared modules and are loaded the first
 * time they are used (OpenBLAS's calls, Graphviz's layout and exports, the SDL2 window), so that a
 * start maps none of their libraries. Shared by core/ and viz/; not part of backstep.h. */
#ifndef BS_MODULE_H
#define BS_MODULE_H

#include <stddef.h>

/* What a module's entry function returns: a table whose first two fields are these. */
typedef struct {
    unsigned abi;   /* the table's version, BS_*_ABI of the header that declares it */
    unsigned size;  /* sizeof the table */
} bs_module_head;

typedef struct {
    const char *file;    /* "libbsblas.so" */
    const char *subdir;  /* its folder in the build tree, "core" */
    const char *env;     /* a variable naming the file to load instead, tried first */
    const char *entry;   /* the function returning its table, "bs_blas_module" */
    unsigned abi, size;  /* what the table's head must say */
    const char *what;    /* for messages: "OpenBLAS", "the graph window" */
} bs_module_spec;

/* Load the module and return its table, or NULL with the reason in err (len bytes). Tried in
 * order: $env; beside the program in a build tree (its folder's ../subdir/file); where it is
 * installed, relative to the program (bindir/../libdir/backstep); the build tree and the install
 * folder this program was built for. A file that loads but whose table does not match (another
 * build's) is skipped. Never prints; a module once loaded stays loaded. */
const void *bs_module_load(const bs_module_spec *m, char *err, size_t len);

#endif
