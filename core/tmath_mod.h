/* core/tmath_mod.h: the SLEEF module's table (libbssleef.so, core/tmath_mod.c): the one-lane FMA
 * builds of SLEEF's 1-ulp float functions that core/tmath.c calls. */
#ifndef BS_TMATH_MOD_H
#define BS_TMATH_MOD_H

#define BS_SLEEF_ABI 1
typedef struct {
    unsigned abi, size;
    float (*exp)(float), (*log)(float), (*log1p)(float), (*expm1)(float), (*tanh)(float),
        (*sin)(float), (*cos)(float), (*erf)(float), (*pow)(float, float);
} bs_sleef_api;

#endif
