/* core/ops.c */
