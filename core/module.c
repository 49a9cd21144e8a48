/* core/module.c: finding and loading the program's shared modules (core/module.h). */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "module_paths.h"

/* the program's folder ("" when /proc/self/exe cannot be read) */
static void exe_dir(char *buf, size_t len)
{
    buf[0] = 0;
    if (len < 2) return;
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        buf[0] = 0;
        return;
    }
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash) *slash = 0;
    else buf[0] = 0;
}

const void *bs_module_load(const bs_module_spec *m, char *err, size_t len)
{
    char dir[PATH_MAX], paths[5][PATH_MAX + 256];
    int np = 0;
    const char *env = m->env ? getenv(m->env) : NULL;
    if (env && *env) snprintf(paths[np++], sizeof paths[0], "%s", env);
    exe_dir(dir, sizeof dir);
    if (dir[0]) {
        snprintf(paths[np++], sizeof paths[0], "%s/../%s/%s", dir, m->subdir, m->file);
        if (BS_MODULE_INSTALL_REL[0])
            snprintf(paths[np++], sizeof paths[0], "%s/%s/%s", dir, BS_MODULE_INSTALL_REL, m->file);
    }
    snprintf(paths[np++], sizeof paths[0], "%s/%s/%s", BS_MODULE_BUILD_ROOT, m->subdir, m->file);
    snprintf(paths[np++], sizeof paths[0], "%s/%s", BS_MODULE_INSTALL_DIR, m->file);

    char why[4200] = "";
    for (int i = 0; i < np; i++) {
        if (access(paths[i], F_OK)) { /* not there: the next place (the $env file must be) */
            if (i == 0 && env && *env && !why[0])
                snprintf(why, sizeof why, "%s=%s: no such file", m->env, env);
            continue;
        }
        void *h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            if (!why[0]) snprintf(why, sizeof why, "%.4000s", e ? e : paths[i]);
            continue;
        }
        const void *(*entry)(void) = (const void *(*)(void))dlsym(h, m->entry);
        const bs_module_head *t = entry ? entry() : NULL;
        if (t && t->abi == m->abi && t->size == m->size) return t;
        if (!why[0])
            snprintf(why, sizeof why, "%.4000s is from another build of backstep", paths[i]);
        dlclose(h);
    }
    if (!why[0])
        snprintf(why, sizeof why, "%s was not found (in %s/%s or %s)", m->file, BS_MODULE_BUILD_ROOT,
                 m->subdir, BS_MODULE_INSTALL_DIR);
    if (err && len) snprintf(err, len, "%s could not be loaded: %s", m->what, why);
    return NULL;
}
