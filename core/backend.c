/* core/backend.c: the registry of backends ("cpu" always, "gpu" when the program registers it). */
#include <string.h>

#include "core_int.h"

#define BS_MAX_BACKENDS 8
static bs_backend *registry[BS_MAX_BACKENDS];
static int nregistry;

void bs_backend_register(bs_backend *b)
{
    for (int i = 0; i < nregistry; i++)
        if (!strcmp(registry[i]->name, b->name)) {
            registry[i] = b;
            return;
        }
    if (nregistry < BS_MAX_BACKENDS) registry[nregistry++] = b;
}

bs_backend *bs_backend_find(const char *name)
{
    if (!strcmp(name, "cpu")) return bs_backend_cpu();
    for (int i = 0; i < nregistry; i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}
